package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/credits/credits"
)

// members manages an account's members: set (create or change, with a cap
// per period or none), list (with what each spent in its current period),
// remove.
func (c *CLI) members(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "members")
	if err != nil {
		return err
	}
	cmd := c.newCommand("members "+name, true)
	account := cmd.fs.String("account", "", "the account (required)")
	switch name {
	case "set":
		return c.setMember(ctx, cmd, account, args)
	case "remove":
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			if err := svc.DeleteMember(ctx, *account, rest[0]); err != nil {
				return err
			}
			return c.print(cmd, map[string]any{"member_id": rest[0], "deleted": true}, "", func(w io.Writer) {
				fmt.Fprintf(w, "removed member %s of account %s\n", rest[0], *account)
			})
		})
	}
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		members, err := svc.ListMembers(ctx, *account)
		if err != nil {
			return err
		}
		return c.print(cmd, members, "MEMBER\tNAME\tCAP\tSPENT\tHELD\tREMAINING\tPERIOD ENDS", func(w io.Writer) {
			for _, m := range members {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.MemberID, dash(m.Name), capText(m.Cap), m.Spent, m.Held, remainingText(m.Remaining), when(m.PeriodEnd))
			}
		})
	})
}

func (c *CLI) setMember(ctx context.Context, cmd *command, account *string, args []string) error {
	memberName := cmd.fs.String("name", "", "the member's name")
	email := cmd.fs.String("email", "", "the member's email")
	capCredits := cmd.fs.String("cap", "", "credits the member may spend per period; \"none\" removes the cap")
	period := cmd.fs.String("period", credits.PeriodMonth, "the cap's period: day, week, month or total")
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	req := credits.MemberRequest{}
	cmd.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			req.Name = memberName
		case "email":
			req.Email = email
		}
	})
	switch *capCredits {
	case "":
	case "none":
		req.SetCap = true
	default:
		n, err := strconv.ParseInt(*capCredits, 10, 64)
		if err != nil {
			return usageError{"--cap must be a whole number of credits, or none"}
		}
		req.SetCap, req.Cap = true, &credits.MemberCap{Credits: n, Period: *period}
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		m, err := svc.PutMember(ctx, *account, rest[0], req)
		if err != nil {
			return err
		}
		return c.print(cmd, m, "", func(w io.Writer) {
			fmt.Fprintf(w, "member %s of account %s: cap %s, spent %d, remaining %s\n", m.MemberID, m.AccountID, capText(m.Cap), m.Spent, remainingText(m.Remaining))
		})
	})
}

func capText(c *credits.MemberCap) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%d/%s", c.Credits, c.Period)
}

func remainingText(r *int64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatInt(*r, 10)
}

// transfer moves credits between accounts, lot by lot.
func (c *CLI) transfer(ctx context.Context, args []string) error {
	cmd := c.newCommand("transfer", true)
	from := cmd.fs.String("from", "", "the account the credits leave (required)")
	to := cmd.fs.String("to", "", "the account they go to (required)")
	amount := cmd.fs.Int64("credits", 0, "how many credits (required)")
	description := cmd.fs.String("description", "", "why")
	granted := cmd.fs.Bool("include-granted", false, "move granted credits too, not only purchased ones")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		t, _, err := svc.Transfer(ctx, credits.TransferRequest{From: *from, To: *to, Credits: *amount, Description: *description, IncludeGranted: *granted}, nil)
		if err != nil {
			return err
		}
		return c.print(cmd, t, "", func(w io.Writer) {
			fmt.Fprintf(w, "transfer %s: %d credits from %s to %s in %d part(s)\n", t.ID, t.Credits, t.From, t.To, len(t.Parts))
		})
	})
}
