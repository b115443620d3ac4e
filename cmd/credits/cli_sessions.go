package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/credits/credits"
)

// sessions lists the live operator sessions of /admin and revokes one, at
// once on every replica. A session is named by the hash of its secret, which
// opens nothing.
func (c *CLI) sessions(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "sessions")
	if err != nil {
		return err
	}
	cmd := c.newCommand("sessions "+name, true)
	if name == "revoke" {
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			if err := svc.RevokeWebSession(ctx, rest[0]); err != nil {
				return err
			}
			return c.print(cmd, map[string]any{"id": rest[0], "revoked": true}, "", func(w io.Writer) {
				fmt.Fprintf(w, "revoked session %s\n", rest[0])
			})
		})
	}
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		sessions, err := svc.OperatorSessions(ctx)
		if err != nil {
			return err
		}
		if sessions == nil {
			sessions = []credits.WebSession{}
		}
		return c.print(cmd, sessions, "ID\tAPI KEY\tSIGNED IN\tEXPIRES", func(w io.Writer) {
			for _, s := range sessions {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.ID, dash(s.KeyID), s.CreatedAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339))
			}
		})
	})
}
