package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/progress"
	"github.com/credits/credits/stripe"
)

// reconcile runs `credits reconcile`: the ledger compared with Stripe's
// lists of the period. Read-only unless --fix, which feeds what events
// missed through the events' own path; an interrupted run is continued
// unless --restart.
func (c *CLI) reconcile(ctx context.Context, args []string) error {
	cmd := c.newCommand("reconcile", true)
	since := cmd.fs.Duration("since", credits.DefaultReconcileWindow, "compare what Stripe made in this last period")
	fix := cmd.fs.Bool("fix", false, "apply what missed events would have applied (never refunds or charges)")
	restart := cmd.fs.Bool("restart", false, "begin a new run even when the last one was interrupted")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	if *since <= 0 {
		return usageError{"--since must be positive"}
	}
	key := cmd.cfg.StripeSecretKey
	if key == "" {
		return credits.Errorf(credits.EUNAVAILABLE, "set STRIPE_SECRET_KEY to compare the ledger with Stripe")
	}
	client := stripe.NewClient(key, cmd.cfg.StripeAPIBase)
	return withService(ctx, cmd, func(svc *credits.Service) error {
		svc.Payments, svc.Livemode = client, stripe.Livemode(key)
		report, finish := reconcileProgress(progress.To(c.stderr))
		run, err := svc.Reconcile(ctx, client, credits.ReconcileOptions{Window: *since, Fix: *fix, Restart: *restart, Progress: report})
		finish()
		if err != nil {
			return fmt.Errorf("%w (run it again to continue where it stopped)", err)
		}
		if *fix { // sessions that need their line items are matched now rather than by a server's worker
			if err := drainPending(ctx, svc); err != nil {
				return err
			}
		}
		latest, err := svc.Reconciliation(ctx, 0)
		if err != nil {
			return err
		}
		return c.print(cmd, latest, "", func(w io.Writer) { printReconciliation(w, run, latest.Items) })
	})
}

// reconcileProgress shows the counts of a run as it lists (a line every
// progress.LineEvery when the output is not a terminal). Stripe's lists do not say how long they are: no estimate.
func reconcileProgress(out progress.Output) (update func(credits.ReconcileRun), finish func()) {
	p := out.Start("reconcile", "Stripe objects listed", false)
	return func(run credits.ReconcileRun) {
		var detail []string
		for _, objectType := range credits.ReconcileObjectTypes {
			if progress, ok := run.Progress[objectType]; ok {
				detail = append(detail, fmt.Sprintf("%s %d", objectType, progress.Listed))
			}
		}
		counts := ""
		for _, kind := range credits.ReconcileItemKinds {
			if n := run.Counts[kind]; n > 0 {
				counts += fmt.Sprintf("; %s %d", kind, n)
			}
		}
		p.UpdateDetail(run.Listed(), 0, strings.Join(detail, ", ")+counts)
	}, p.Finish
}

func drainPending(ctx context.Context, svc *credits.Service) error {
	for {
		n, err := svc.ProcessPending(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

func printReconciliation(w io.Writer, run credits.ReconcileRun, items []credits.ReconcileItem) {
	mode := "read-only"
	if run.Fix {
		mode = "fixing"
	}
	fmt.Fprintf(w, "reconcile %s (%s): %d Stripe objects since %s, %d item(s)\n", run.ID, mode, run.Listed(),
		run.Since.Format(time.RFC3339), len(items))
	for _, kind := range credits.ReconcileItemKinds {
		if n := run.Counts[kind]; n > 0 {
			fmt.Fprintf(w, "  %s\t%d\n", kind, n)
		}
	}
	for _, it := range items {
		fixed := ""
		if it.Fixed {
			fixed = "fixed"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", it.Kind, it.Object, dash(it.AccountID), dash(fixed), it.Detail)
	}
}
