// Command credits is the credits service and its operator CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/credits/credits"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(code)
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `credits: sell and spend prepaid credits

Usage:
  credits serve                 run the service (HTTP API, Stripe webhook, worker)
  credits migrate               apply the database migrations
  credits packs create|list     manage the catalog
  credits accounts create|show|list|history
  credits accounts debit|grant|adjust ID --amount N
  credits accounts logout ID    revoke the account's dashboard links and sessions
  credits accounts usage ID [--days 30] [--group-by feature|day|feature,day]
  credits holds list|capture|release
  credits features [create --id ID --name N --unit U]
  credits rates create ID --name N FILE | import ID FILE [--effective-at T] | show ID [--version N]
                                rate cards: FILE is a JSON array of rates (docs/pricing.md)
  credits events list [--status unmatched] | retry EVENT | accept EVENT
  credits webhooks add --url URL [--events a,b] | list | remove ID | deliveries ID | rotate ID | test ID
                                | resend ID EVENT_ID | enable ID
  credits keys create --scope read|spend|admin [--account ID] [--name N] | list | revoke ID
                                revoking a key also ends its /admin sessions and dashboard links
  credits sessions list | revoke ID   the live operator sessions of /admin
  credits members set ID --account A [--name N] [--email E] [--cap N|none] [--period day|week|month|total]
                                | list --account A | remove ID --account A
  credits transfer --from A --to B --credits N [--description D] [--include-granted]
  credits payments show ID      a payment's facts (charge, refunds, disputes) and the entries they posted
  credits verify                check the ledger's invariants (exit 1 on any violation)
  credits stripe replay         apply the Stripe events of a recent period that were missed
  credits reconcile [--since 720h] [--fix] [--restart]
                                compare the ledger with Stripe; --fix applies what events missed
  credits backup --to FILE      a consistent copy of a SQLite database, while it serves
  credits restore --from FILE   put a backup in place of a SQLite database that is not in use
  credits bench                 measure the webhook and debit paths on a fresh database

Each command takes --database-url (or $CREDITS_DATABASE_URL, default ./credits.db)
and the other global flags below; credits GROUP -h lists a group's subcommands
(packs, accounts, holds, features, rates, events, webhooks, keys, sessions, members, payments, stripe),
and credits COMMAND -h a command's own flags.
`

// run runs one command and returns the process's exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if err == nil || errors.Is(err, errHelpShown) {
		return 0
	}
	var uerr usageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(stderr, "credits: %s\n", uerr.msg)
		return 2
	}
	var verr violationsError
	if errors.As(err, &verr) {
		return 1
	}
	msg := err.Error()
	if credits.ErrorCode(err) != credits.EINTERNAL {
		msg = credits.ErrorMessage(err)
	}
	fmt.Fprintf(stderr, "credits: %s\n", oneLine(msg))
	return 1
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cli := &CLI{getenv: getenv, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return cli.migrate(ctx, args[1:])
	case "packs":
		return cli.packs(ctx, args[1:])
	case "accounts":
		return cli.accounts(ctx, args[1:])
	case "holds":
		return cli.holds(ctx, args[1:])
	case "features":
		return cli.features(ctx, args[1:])
	case "rates":
		return cli.rates(ctx, args[1:])
	case "events":
		return cli.events(ctx, args[1:])
	case "verify":
		return cli.verify(ctx, args[1:])
	case "payments":
		return cli.payments(ctx, args[1:])
	case "keys":
		return cli.keys(ctx, args[1:])
	case "sessions":
		return cli.sessions(ctx, args[1:])
	case "webhooks":
		return cli.webhooks(ctx, args[1:])
	case "stripe":
		return cli.stripeCommands(ctx, args[1:])
	case "reconcile":
		return cli.reconcile(ctx, args[1:])
	case "members":
		return cli.members(ctx, args[1:])
	case "transfer":
		return cli.transfer(ctx, args[1:])
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "backup":
		return cli.backup(ctx, args[1:])
	case "restore":
		return cli.restore(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		mainHelp(stdout, getenv)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
}

func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
