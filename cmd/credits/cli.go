package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/clock"
	"github.com/credits/credits/stripe"
)

// CLI runs the operator commands directly on the database that the server
// uses; every command is one or more service calls.
type CLI struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one CLI command's flags, with the configuration that every
// command shares (the same settings, defaults and checks as serve's).
type command struct {
	fs   *flag.FlagSet
	out  io.Writer // where -h writes the command's help
	cfg  Config
	json bool
	// readOnly opens a SQLite database for reading only (verify).
	readOnly bool
}

func (c *CLI) newCommand(name string, withJSON bool) *command {
	cmd := &command{fs: flag.NewFlagSet("credits "+name, flag.ContinueOnError), out: c.stdout}
	// parse reports a wrong flag once, and -h lists the command's own flags.
	cmd.fs.SetOutput(io.Discard)
	cmd.fs.Usage = func() {}
	cmd.cfg.register(cmd.fs, c.getenv, forCommands)
	if withJSON {
		cmd.fs.BoolVar(&cmd.json, "json", false, "print JSON")
	}
	return cmd
}

// parse parses args; it allows flags after positional arguments.
func (cmd *command) parse(args []string, positional int) ([]string, error) {
	var rest []string
	for {
		if err := cmd.fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			commandHelp(cmd.out, cmd.fs)
			return nil, errHelpShown
		} else if err != nil {
			return nil, usageError{fmt.Sprintf("%s (%s -h lists its flags)", err, cmd.fs.Name())}
		}
		if cmd.fs.NArg() == 0 {
			break
		}
		rest = append(rest, cmd.fs.Arg(0))
		args = cmd.fs.Args()[1:]
	}
	if len(rest) != positional {
		return nil, usageError{fmt.Sprintf("%s takes %d argument(s), got %d", strings.TrimPrefix(cmd.fs.Name(), "credits "), positional, len(rest))}
	}
	if err := cmd.cfg.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	return rest, nil
}

// service opens the store and returns a service on it, and a closer.
func (cmd *command) service(ctx context.Context) (*credits.Service, func(), error) {
	db, err := openExisting(ctx, cmd.cfg.DatabaseURL, cmd.readOnly)
	if err != nil {
		return nil, nil, err
	}
	svc := credits.NewService(db)
	svc.LowBalanceThreshold = cmd.cfg.lowBalance
	cmd.cfg.webhooks(svc)
	trial := cmd.cfg.Trial()
	svc.TrialCredits, svc.TrialDays = trial.Credits, trial.Days
	if err := cmd.cfg.useSecretBox(ctx, svc, cmd.readOnly); err != nil {
		db.Close()
		return nil, nil, err
	}
	if cmd.cfg.Env == envDevelopment {
		// The time a development server keeps: a command must not see
		// credits as unexpired that the server has expired.
		if err := svc.UseTestClock(ctx, clock.New(nil)); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("test clock: %w", err)
		}
	}
	return svc, func() { db.Close() }, nil
}

func (c *CLI) migrate(ctx context.Context, args []string) error {
	cmd := c.newCommand("migrate", false)
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	db, err := openStore(ctx, cmd.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(c.stdout, "database (%s) is at the latest schema\n", describeDatabase(cmd.cfg.DatabaseURL))
	return nil
}

func (c *CLI) packs(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "packs")
	if err != nil {
		return err
	}
	cmd := c.newCommand("packs "+name, true)
	if name == "list" {
		all := cmd.fs.Bool("all", false, "include inactive packs")
		if _, err := cmd.parse(args, 0); err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			packs, err := svc.ListPacks(ctx, !*all)
			if err != nil {
				return err
			}
			return c.print(cmd, packs, "ID\tNAME\tCREDITS\tPRICE\tSTRIPE PRICE\tACTIVE", func(w io.Writer) {
				for _, p := range packs {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%t\n", p.ID, p.Name, p.Credits, credits.FormatMoney(p.UnitAmount, p.Currency), dash(p.StripePriceID), p.Active)
				}
			})
		})
	}
	var p credits.Pack
	cmd.fs.StringVar(&p.ID, "id", "", "pack id (generated when empty)")
	cmd.fs.StringVar(&p.Name, "name", "", "name shown to customers (required)")
	cmd.fs.Int64Var(&p.Credits, "credits", 0, "credits in one pack (required)")
	cmd.fs.Int64Var(&p.UnitAmount, "unit-amount", 0, "price of one pack in minor units, e.g. 999 for $9.99 (required)")
	cmd.fs.StringVar(&p.Currency, "currency", "usd", "ISO 4217 currency code")
	cmd.fs.StringVar(&p.StripePriceID, "stripe-price-id", "", "the Stripe price (price_…) that sells this pack")
	inactive := cmd.fs.Bool("inactive", false, "create the pack inactive")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	p.Active = !*inactive
	return withService(ctx, cmd, func(svc *credits.Service) error {
		created, err := svc.CreatePack(ctx, p)
		if err != nil {
			return err
		}
		return c.print(cmd, created, "", func(w io.Writer) {
			fmt.Fprintf(w, "created pack %s: %d credits for %s\n", created.ID, created.Credits, credits.FormatMoney(created.UnitAmount, created.Currency))
		})
	})
}

func (c *CLI) accounts(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "accounts")
	if err != nil {
		return err
	}
	cmd := c.newCommand("accounts "+name, true)
	switch name {
	case "debit", "grant", "adjust":
		return c.spend(ctx, cmd, name, args)
	case "history":
		return c.history(ctx, cmd, args)
	case "logout":
		return c.logout(ctx, cmd, args)
	case "create":
		id := cmd.fs.String("id", "", "the application's id for the account (required)")
		email := cmd.fs.String("email", "", "the account's email (required)")
		if _, err := cmd.parse(args, 0); err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			a, err := svc.CreateAccount(ctx, *id, *email)
			if err != nil {
				return err
			}
			return c.print(cmd, a, "", func(w io.Writer) { fmt.Fprintf(w, "created account %s <%s>\n", a.ID, a.Email) })
		})
	case "show":
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error { return c.showAccount(ctx, cmd, svc, rest[0]) })
	default:
		limit := cmd.fs.Int("limit", credits.DefaultPageSize, "accounts per page")
		after := cmd.fs.String("after", "", "list accounts after this id")
		if _, err := cmd.parse(args, 0); err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			page, err := svc.ListAccounts(ctx, *after, *limit)
			if err != nil {
				return err
			}
			return c.print(cmd, page, "ID\tEMAIL\tBALANCE\tTRIAL\tCREATED", func(w io.Writer) {
				for _, a := range page.Data {
					fmt.Fprintf(w, "%s\t%s\t%d\t%t\t%s\n", a.ID, a.Email, a.Balance, a.Trial, a.CreatedAt.Format(time.RFC3339))
				}
			})
		})
	}
}

func (c *CLI) showAccount(ctx context.Context, cmd *command, svc *credits.Service, id string) error {
	account, err := svc.GetAccount(ctx, id)
	if err != nil {
		return err
	}
	purchases, err := svc.ListPurchases(ctx, id, credits.MaxPageSize)
	if err != nil {
		return err
	}
	entries, err := svc.ListEntries(ctx, id, 0, credits.DefaultPageSize)
	if err != nil {
		return err
	}
	recharge, err := svc.GetAutoRecharge(ctx, id)
	if err != nil {
		return err
	}
	view := struct {
		credits.Account
		Purchases    []credits.Purchase       `json:"purchases"`
		Entries      []credits.Entry          `json:"entries"`
		AutoRecharge credits.AutoRechargeView `json:"auto_recharge"`
		Recharges    []credits.Recharge       `json:"recharges"`
	}{account, purchases, entries.Data, recharge, recharge.Recharges}
	return c.print(cmd, view, "", func(w io.Writer) {
		fmt.Fprintf(w, "account\t%s\nemail\t%s\nbalance\t%d\navailable\t%d\nheld\t%d\ndebt\t%d\ntrial\t%t\ncreated\t%s\n\n",
			account.ID, account.Email, account.Balance, account.Available, account.Held, account.Debt, account.Trial, account.CreatedAt.Format(time.RFC3339))
		fmt.Fprintf(w, "PURCHASE\tPACK\tQTY\tCREDITS\tPAID\tSESSION\tAT\n")
		for _, p := range purchases {
			fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.PackID, p.Quantity, p.Credits, credits.FormatMoney(p.AmountPaid, p.Currency), p.SessionID, p.CreatedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "\nENTRY\tKIND\tAMOUNT\tBALANCE\tREFERENCE\tAT\n")
		for _, e := range entries.Data {
			fmt.Fprintf(w, "%d\t%s\t%+d\t%d\t%s\t%s\n", e.ID, e.Kind, e.Amount, e.BalanceAfter, e.Reference, e.CreatedAt.Format(time.RFC3339))
		}
		printAutoRecharge(w, recharge)
	})
}

func (c *CLI) events(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "events")
	if err != nil {
		return err
	}
	switch name {
	case "retry":
		return c.retryEvent(ctx, args)
	case "accept":
		return c.acceptEvent(ctx, args)
	}
	cmd := c.newCommand("events list", true)
	status := cmd.fs.String("status", "", "only events with this status: pending, processed, ignored, unmatched, failed")
	eventType := cmd.fs.String("type", "", "only events of this type, e.g. charge.refunded")
	after := cmd.fs.String("starting-after", "", "the events older than this one (the last id of the page before)")
	limit := cmd.fs.Int("limit", 50, "at most this many events (up to 100)")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		page, err := svc.PageEvents(ctx, credits.EventFilter{Status: *status, Type: *eventType, StartingAfter: *after, Limit: *limit})
		if err != nil {
			return err
		}
		events := page.Data
		return c.print(cmd, events, "EVENT\tTYPE\tSTATUS\tSESSION\tRECEIVED\tREASON", func(w io.Writer) {
			for _, e := range events {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Type, e.Status, dash(e.SessionID), e.ReceivedAt.Format(time.RFC3339), dash(e.Error))
			}
		})
	})
}

// retryEvent puts an unmatched or failed event back in the queue and, as a
// server's worker would, processes it at once.
func (c *CLI) retryEvent(ctx context.Context, args []string) error {
	cmd := c.newCommand("events retry", true)
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		if key := cmd.cfg.StripeSecretKey; key != "" {
			svc.Payments, svc.Livemode = stripe.NewClient(key, cmd.cfg.StripeAPIBase), stripe.Livemode(key)
		}
		if _, err := svc.RetryEvent(ctx, rest[0]); err != nil {
			return err
		}
		if _, err := svc.ProcessPending(ctx); err != nil {
			return err
		}
		ev, err := svc.GetEvent(ctx, rest[0])
		if err != nil {
			return err
		}
		return c.print(cmd, ev, "", func(w io.Writer) {
			fmt.Fprintf(w, "event %s is now %s", ev.ID, ev.Status)
			if ev.Error != "" {
				fmt.Fprintf(w, ": %s", ev.Error)
			}
			fmt.Fprintln(w)
		})
	})
}

// acceptEvent credits, as sold, a session kept unmatched because it was paid
// with another amount than it was sold for.
func (c *CLI) acceptEvent(ctx context.Context, args []string) error {
	cmd := c.newCommand("events accept", true)
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		ev, err := svc.AcceptEvent(ctx, rest[0])
		if err != nil {
			return err
		}
		return c.print(cmd, ev, "", func(w io.Writer) { fmt.Fprintf(w, "event %s is now %s: %s\n", ev.ID, ev.Status, ev.Error) })
	})
}

// violationsError makes verify exit 1 after printing its report.
type violationsError struct{ n int }

func (e violationsError) Error() string { return fmt.Sprintf("%d violation(s)", e.n) }

func (c *CLI) verify(ctx context.Context, args []string) error {
	cmd := c.newCommand("verify", true)
	cmd.readOnly = true
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		progress := c.newProgress("verify", "checks", false)
		violations, err := svc.VerifyProgress(ctx, progress.UpdateDetail)
		progress.Finish()
		if err != nil {
			return err
		}
		if violations == nil {
			violations = []credits.Violation{}
		}
		report := map[string]any{"ok": len(violations) == 0, "violations": violations}
		err = c.print(cmd, report, "", func(w io.Writer) {
			for _, v := range violations {
				fmt.Fprintf(w, "invariant %d\t%s\t%s\n", v.Invariant, dash(v.AccountID), v.Message)
			}
			if len(violations) == 0 {
				fmt.Fprintln(w, "ok: every invariant holds")
			} else {
				fmt.Fprintf(w, "%d violation(s)\n", len(violations))
			}
		})
		if err == nil && len(violations) > 0 {
			return violationsError{len(violations)}
		}
		return err
	})
}

func withService(ctx context.Context, cmd *command, fn func(*credits.Service) error) error {
	svc, closeStore, err := cmd.service(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	return fn(svc)
}

// print writes v as JSON with --json, else as a table.
func (c *CLI) print(cmd *command, v any, header string, table func(io.Writer)) error {
	if cmd.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	if header != "" {
		fmt.Fprintln(w, header)
	}
	table(escaping{w})
	return w.Flush()
}

// escaping writes text with its control characters escaped (\x1b, \u0085),
// but for the tabs and newlines that lay out a table, so that a stored
// string cannot drive the terminal; invalid UTF-8 is escaped byte by byte.
type escaping struct{ w io.Writer }

func (e escaping) Write(p []byte) (int, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", p[i])
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case unicode.IsControl(r):
			b.WriteString(strconv.QuoteRuneToASCII(r)[1 : len(strconv.QuoteRuneToASCII(r))-1])
		default:
			b.Write(p[i : i+size])
		}
		i += max(size, 1)
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// payments shows a payment: its facts, what they owe, and its entries.
func (c *CLI) payments(ctx context.Context, args []string) error {
	_, args, err := c.subcommand(args, "payments")
	if err != nil {
		return err
	}
	cmd := c.newCommand("payments show", true)
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		v, err := svc.GetPayment(ctx, rest[0])
		if err != nil {
			return err
		}
		return c.print(cmd, v, "", func(w io.Writer) { printPayment(w, v) })
	})
}

func printPayment(w io.Writer, v credits.PaymentView) {
	p := v.Payment
	fmt.Fprintf(w, "payment\t%s\naccount\t%s\nsession\t%s\nbought\t%d credits (%d × %s)\n", p.ID, dash(p.AccountID), dash(p.SessionID), p.Credits, p.Quantity, dash(p.PackID))
	if p.Currency != "" {
		fmt.Fprintf(w, "sold\t%s\npaid\t%s (discount %s)\n", credits.FormatMoney(p.SoldAmount, p.Currency),
			credits.FormatMoney(p.PaidAmount, p.Currency), credits.FormatMoney(p.Discount, p.Currency))
	}
	if p.ChargeCurrency != "" {
		fmt.Fprintf(w, "charge\t%s %s, refunded %s\n", dash(p.ChargeID), credits.FormatMoney(p.ChargeAmount, p.ChargeCurrency),
			credits.FormatMoney(p.ChargeRefunded, p.ChargeCurrency))
	}
	fmt.Fprintf(w, "owed\t%d\nposted\t%d\n", v.Owed, p.Posted)
	if v.Expired > 0 {
		fmt.Fprintf(w, "expired\t%d (posted may exceed owed by this: expired credits are not taken back)\n", v.Expired)
	}
	fmt.Fprintf(w, "\nREFUND\tAMOUNT\tSTATUS\n")
	for _, r := range v.Refunds {
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.ID, credits.FormatMoney(r.Amount, r.Currency), r.Status)
	}
	fmt.Fprintf(w, "\nDISPUTE\tAMOUNT\tSTATUS\tWITHDRAWN\tREINSTATED\n")
	for _, d := range v.Disputes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%t\n", d.ID, credits.FormatMoney(d.Amount, d.Currency), d.Status, d.Withdrawn, d.Reinstated)
	}
	fmt.Fprintf(w, "\nENTRY\tKIND\tAMOUNT\tREFERENCE\tAT\n")
	for _, e := range v.Entries {
		fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\n", e.ID, e.Kind, e.Amount, e.Reference, e.CreatedAt.Format(time.RFC3339))
	}
}

// logout revokes every dashboard link and session of an account, at once on
// every replica.
func (c *CLI) logout(ctx context.Context, cmd *command, args []string) error {
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		n, err := svc.LogoutAccount(ctx, rest[0])
		if err != nil {
			return err
		}
		return c.print(cmd, map[string]int64{"revoked": n}, "", func(w io.Writer) {
			fmt.Fprintf(w, "account %s: %d link(s) and session(s) revoked\n", rest[0], n)
		})
	})
}

// printAutoRecharge writes an account's auto-recharge and every attempt.
func printAutoRecharge(w io.Writer, v credits.AutoRechargeView) {
	card := "none"
	if v.Card != nil {
		card = v.Card.Brand + " ending " + v.Card.Last4 + " (" + v.Card.PaymentMethodID + ")"
	}
	state := "off"
	if v.Enabled {
		state = "on"
	}
	fmt.Fprintf(w, "\nauto-recharge\t%s\ncard\t%s\n", state, card)
	if v.PackID != "" {
		fmt.Fprintf(w, "rule\tbelow %d available: %d × %s, up to %s a month (%s so far)\n", v.Threshold, v.Quantity, v.PackID,
			credits.FormatMoney(v.MonthlyLimit, v.Currency), credits.FormatMoney(v.MonthTotal, v.Currency))
	}
	if v.DisabledReason != "" {
		fmt.Fprintf(w, "turned off\t%s\n", v.DisabledReason)
	}
	fmt.Fprintf(w, "\nRECHARGE\tTRY\tSTATUS\tAMOUNT\tPAYMENT INTENT\tAT\tDETAIL\n")
	for _, r := range v.Recharges {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Attempt, r.Status, credits.FormatMoney(r.Amount, r.Currency), r.PaymentIntent,
			r.CreatedAt.Format(time.RFC3339), r.Error)
	}
}
