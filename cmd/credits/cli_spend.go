package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/credits/credits"
)

// spend runs accounts debit, grant and adjust. An --idempotency-key makes a
// retried command safe, as on the API.
func (c *CLI) spend(ctx context.Context, cmd *command, name string, args []string) error {
	amount := cmd.fs.Int64("amount", 0, "credits (adjust: signed)")
	text := cmd.fs.String("reason", "", "why (grant, adjust) or what for (debit)")
	key := cmd.fs.String("idempotency-key", "", "the key of an earlier try of this same operation, to retry it without applying it twice (default: a new key, printed to stderr)")
	var expiresAt string
	var priority int64
	if name == "grant" {
		cmd.fs.StringVar(&expiresAt, "expires-at", "", "when the credits expire (RFC 3339), never when empty")
		cmd.fs.Int64Var(&priority, "priority", 0, "lower is spent first among lots with the same expiry")
	}
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	accountID := rest[0]
	if *key == "" {
		// Every spend is idempotent: a command retried after a lost answer
		// (a timeout, a dropped connection) with this key applies once.
		*key = "cli_" + randomHex(16)
		fmt.Fprintf(c.stderr, "idempotency key: %s (to retry this %s safely, run it again with --idempotency-key %s)\n", *key, name, *key)
	}
	if err := credits.ValidateIdempotencyKey(*key); err != nil {
		return err
	}
	idem := &credits.Idempotency{Scope: "cli/" + accountID, Key: *key,
		RequestHash: credits.HashRequest(name, fmt.Sprint(*amount), *text, expiresAt, fmt.Sprint(priority))}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		var result any
		var replayed bool
		var err error
		switch name {
		case "debit":
			result, replayed, err = svc.Debit(ctx, accountID, credits.DebitRequest{Amount: *amount, Description: *text}, idem)
		case "adjust":
			result, replayed, err = svc.Adjust(ctx, accountID, credits.AdjustmentRequest{Amount: *amount, Reason: *text}, idem)
		default:
			req := credits.GrantRequest{Amount: *amount, Priority: priority, Reason: *text}
			if expiresAt != "" {
				t, perr := time.Parse(time.RFC3339, expiresAt)
				if perr != nil {
					return credits.Errorf(credits.EINVALID, "--expires-at must be an RFC 3339 time, like 2027-01-31T00:00:00Z")
				}
				t = t.UTC()
				req.ExpiresAt = &t
			}
			result, replayed, err = svc.Grant(ctx, accountID, req, idem)
		}
		if err != nil {
			return err
		}
		return c.print(cmd, result, "", func(w io.Writer) {
			account, _ := svc.GetAccount(ctx, accountID)
			note := ""
			if replayed {
				note = " (replayed: this key was used before)"
			}
			fmt.Fprintf(w, "%s %d on %s%s: balance %d, available %d\n", name, *amount, accountID, note, account.Balance, account.Available)
		})
	})
}

func (c *CLI) history(ctx context.Context, cmd *command, args []string) error {
	limit := cmd.fs.Int("limit", credits.DefaultPageSize, "entries per page")
	before := cmd.fs.Int64("before", 0, "entries older than this entry id")
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		page, err := svc.ListEntries(ctx, rest[0], *before, *limit)
		if err != nil {
			return err
		}
		return c.print(cmd, page, "ENTRY\tKIND\tAMOUNT\tBALANCE\tREFERENCE\tDESCRIPTION\tAT", func(w io.Writer) {
			for _, e := range page.Data {
				fmt.Fprintf(w, "%d\t%s\t%+d\t%d\t%s\t%s\t%s\n", e.ID, e.Kind, e.Amount, e.BalanceAfter, dash(e.Reference), dash(e.Description), e.CreatedAt.Format(time.RFC3339))
			}
		})
	})
}

func (c *CLI) holds(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "holds")
	if err != nil {
		return err
	}
	cmd := c.newCommand("holds "+name, true)
	if name == "list" {
		status := cmd.fs.String("status", "", "only holds with this status: held, captured, released, expired")
		limit := cmd.fs.Int("limit", credits.DefaultPageSize, "at most this many holds")
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			holds, err := svc.ListHolds(ctx, rest[0], *status, *limit)
			if err != nil {
				return err
			}
			return c.print(cmd, holds, "HOLD\tAMOUNT\tCAPTURED\tSTATUS\tEXPIRES\tDESCRIPTION", func(w io.Writer) {
				for _, h := range holds {
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", h.ID, h.Amount, h.Captured, h.Status, h.ExpiresAt.Format(time.RFC3339), dash(h.Description))
				}
			})
		})
	}
	amount := int64(0)
	if name == "capture" {
		cmd.fs.Int64Var(&amount, "amount", 0, "credits to capture (all when 0)")
	}
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		var hold credits.Hold
		var err error
		if name == "capture" {
			hold, err = svc.CaptureHold(ctx, rest[0], captureAmount(amount))
		} else {
			hold, err = svc.ReleaseHold(ctx, rest[0])
		}
		if err != nil {
			return err
		}
		return c.print(cmd, hold, "", func(w io.Writer) {
			fmt.Fprintf(w, "hold %s is %s (captured %d of %d)\n", hold.ID, hold.Status, hold.Captured, hold.Amount)
		})
	})
}

// captureAmount is the amount to capture: all of the hold when the flag is 0.
func captureAmount(flag int64) *int64 {
	if flag == 0 {
		return nil
	}
	return &flag
}
