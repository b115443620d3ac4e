package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// errHelpShown ends a command whose help was asked for (-h): exit 0.
var errHelpShown = errors.New("help shown")

// subcommandHelp is one subcommand of a group, with its arguments and what
// it does, for `credits GROUP -h`.
type subcommandHelp struct{ name, args, summary string }

// groups are the commands that take a subcommand, in the order of `credits -h`.
var groups = map[string][]subcommandHelp{
	"packs": {
		{"create", "--name N --credits N --unit-amount N", "add a pack to the catalog"},
		{"list", "[--all]", "list the active packs (--all: the inactive too)"},
	},
	"accounts": {
		{"create", "--id ID --email E", "create an account"},
		{"show", "ID", "an account's balance, purchases, latest entries and auto-recharge"},
		{"list", "[--after ID]", "list the accounts"},
		{"debit", "ID --amount N", "spend credits (sends an idempotency key: a retry spends once)"},
		{"grant", "ID --amount N", "give credits, optionally expiring (sends an idempotency key)"},
		{"adjust", "ID --amount ±N --reason R", "correct a balance, up or down (sends an idempotency key)"},
		{"history", "ID", "the account's ledger entries, newest first"},
		{"logout", "ID", "revoke the account's dashboard links and sessions"},
	},
	"holds": {
		{"list", "ACCOUNT", "the account's holds"},
		{"capture", "HOLD [--amount N]", "spend what a hold reserved (all of it by default)"},
		{"release", "HOLD", "give a hold's credits back"},
	},
	"events": {
		{"list", "[--status S] [--type T]", "the Stripe events received, newest first"},
		{"retry", "EVENT", "process an unmatched or failed event again"},
		{"accept", "EVENT", "credit, as sold, a session paid with another amount"},
	},
	"webhooks": {
		{"add", "--url URL [--events a,b]", "add an endpoint; its signing secret is shown once"},
		{"list", "", "the endpoints and their status"},
		{"remove", "ID", "remove an endpoint"},
		{"deliveries", "ID", "an endpoint's latest delivery attempts"},
		{"rotate", "ID", "give an endpoint a new signing secret (the old one signs for a while)"},
		{"test", "ID", "send a ping event now"},
		{"resend", "ID EVENT_ID", "send one event again"},
		{"enable", "ID", "resume deliveries to an endpoint"},
		{"disable", "ID", "stop deliveries to an endpoint; its events wait"},
	},
	"keys": {
		{"create", "--scope read|spend|admin [--account ID]", "create an API key; its secret is shown once"},
		{"list", "", "the API keys"},
		{"revoke", "ID", "revoke a key, its /admin sessions and its dashboard links"},
	},
	"members": {
		{"set", "ID --account A [--cap N|none] [--period P]", "create or change a member of an account, with its cap per day, week, month or total"},
		{"list", "--account A", "an account's members with what each spent in its current period"},
		{"remove", "ID --account A", "remove a member: later spends naming it are refused"},
	},
	"sessions": {
		{"list", "", "the live operator sessions of /admin"},
		{"revoke", "ID", "end one session at once, on every replica"},
	},
	"payments": {
		{"show", "ID", "a payment's facts (charge, refunds, disputes) and the entries they posted"},
	},
	"stripe": {
		{"replay", "[--since 72h]", "apply the Stripe events of a recent period that were missed"},
	},
}

// subcommand picks the subcommand of group that args name. -h (or help, or
// nothing) lists the group's subcommands, on stdout for -h.
func (c *CLI) subcommand(args []string, group string) (string, []string, error) {
	subs := groups[group]
	if len(args) == 0 {
		c.groupHelp(c.stderr, group)
		return "", nil, usageError{fmt.Sprintf("%s needs a subcommand (credits %s -h lists them)", group, group)}
	}
	if isHelp(args[0]) || args[0] == "help" {
		c.groupHelp(c.stdout, group)
		return "", nil, errHelpShown
	}
	names := make([]string, len(subs))
	for i, sub := range subs {
		if args[0] == sub.name {
			return sub.name, args[1:], nil
		}
		names[i] = sub.name
	}
	return "", nil, usageError{fmt.Sprintf("unknown %s subcommand %q (want %s; credits %s -h says what each does)", group, args[0], strings.Join(names, ", "), group)}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func (c *CLI) groupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: credits %s SUBCOMMAND [flags]\n\nSubcommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, sub := range groups[group] {
		fmt.Fprintf(tw, "  %s %s\t%s\n", sub.name, sub.args, sub.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncredits %s SUBCOMMAND -h lists a subcommand's flags; credits -h the global ones.\n", group)
}

// globalFlags are the settings' flags, which every command takes: `credits
// -h` lists them once, a command's -h only its own.
func globalFlags() map[string]bool {
	names := map[string]bool{}
	for _, v := range configVars {
		names[v.flag] = true
	}
	return names
}

// commandHelp writes a command's usage and its own flags (not the global ones).
func commandHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s [flags]\n", fs.Name())
	global := globalFlags()
	own := 0
	fs.VisitAll(func(f *flag.Flag) {
		if global[f.Name] {
			return
		}
		if own == 0 {
			fmt.Fprintf(w, "\nFlags:\n")
		}
		own++
		writeFlag(w, f)
	})
	if own == 0 {
		fmt.Fprintf(w, "\nNo flags of its own.\n")
	}
	fmt.Fprintf(w, "\nGlobal flags (--database-url, --env, …): credits -h.\n")
}

// writeFlag writes one flag as flag.PrintDefaults does.
func writeFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		line += fmt.Sprintf(" (default %q)", f.DefValue)
	}
	fmt.Fprintln(w, line)
}

// mainHelp writes `credits -h`: the commands, then the global flags once.
// The flags' defaults are the environment's, but for secrets, never shown.
func mainHelp(w io.Writer, getenv func(string) string) {
	fmt.Fprint(w, usage)
	fs := flag.NewFlagSet("credits", flag.ContinueOnError)
	var cfg Config
	cfg.register(fs, getenv, forCommands)
	fmt.Fprintf(w, "\nGlobal flags (every command but serve, which lists its settings in credits serve -h):\n")
	fs.VisitAll(func(f *flag.Flag) { writeFlag(w, f) })
}
