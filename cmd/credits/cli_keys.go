package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/credits/credits"
)

// keys manages scoped API keys: create (the secret is printed once), list,
// revoke (at once, on every replica).
func (c *CLI) keys(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "keys")
	if err != nil {
		return err
	}
	cmd := c.newCommand("keys "+name, true)
	switch name {
	case "create":
		scope := cmd.fs.String("scope", "", "read, spend or admin (required)")
		account := cmd.fs.String("account", "", "the one account the key may reach (default: every account)")
		keyName := cmd.fs.String("name", "", "what the key is for")
		if _, err := cmd.parse(args, 0); err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			key, secret, err := svc.CreateAPIKey(ctx, *keyName, *scope, *account)
			if err != nil {
				return err
			}
			return c.print(cmd, map[string]any{"key": key, "secret": secret}, "", func(w io.Writer) {
				fmt.Fprintf(w, "created %s key %s: %s\nkeep the secret now: it is not shown again\n", key.Scope, key.ID, secret)
			})
		})
	case "revoke":
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			key, err := svc.RevokeAPIKey(ctx, rest[0])
			if err != nil {
				return err
			}
			return c.print(cmd, key, "", func(w io.Writer) { fmt.Fprintf(w, "revoked key %s\n", key.ID) })
		})
	}
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		keys, err := svc.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		return c.print(cmd, keys, "ID\tNAME\tSCOPE\tACCOUNT\tLAST USED\tREVOKED", func(w io.Writer) {
			for _, k := range keys {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, dash(k.Name), k.Scope, dash(k.AccountID), when(k.LastUsedAt), when(k.RevokedAt))
			}
		})
	})
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
