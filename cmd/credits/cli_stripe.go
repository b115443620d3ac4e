package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/progress"
	"github.com/credits/credits/stripe"
)

// stripeCommands runs `credits stripe replay`: the Stripe events of a recent
// period, read from Stripe's Events API and applied like webhook deliveries.
// What was already received changes nothing; what was missed is applied now.
func (c *CLI) stripeCommands(ctx context.Context, args []string) error {
	_, args, err := c.subcommand(args, "stripe")
	if err != nil {
		return err
	}
	cmd := c.newCommand("stripe replay", true)
	since := cmd.fs.Duration("since", 72*time.Hour, "replay the events of this last period (Stripe keeps 30 days)")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	if *since <= 0 || *since > stripe.MaxReplayWindow {
		return usageError{fmt.Sprintf("--since must be between 1s and %s", stripe.MaxReplayWindow)}
	}
	key := cmd.cfg.StripeSecretKey
	if key == "" {
		return credits.Errorf(credits.EUNAVAILABLE, "set STRIPE_SECRET_KEY to read events from Stripe")
	}
	client := stripe.NewClient(key, cmd.cfg.StripeAPIBase)
	return withService(ctx, cmd, func(svc *credits.Service) error {
		svc.Payments, svc.Livemode = client, stripe.Livemode(key)
		from := time.Now().Add(-*since)
		result, err := c.replayWithProgress(ctx, svc, client, from)
		if err != nil {
			return err
		}
		// Sessions that need their line items are matched now rather than by a server's worker.
		for {
			n, err := svc.ProcessPending(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		return c.print(cmd, result, "", func(w io.Writer) {
			fmt.Fprintf(w, "%d events from Stripe since %s: %d already received, %d new\n",
				result.Listed, from.UTC().Format(time.RFC3339), result.Listed-result.New, result.New)
			statuses := make([]string, 0, len(result.ByStatus))
			for status := range result.ByStatus {
				statuses = append(statuses, status)
			}
			sort.Strings(statuses)
			for _, status := range statuses {
				fmt.Fprintf(w, "  %s\t%d\n", status, result.ByStatus[status])
			}
		})
	})
}

// replayWithProgress replays with progress shown in two parts: the listing
// (Stripe lists newest first: the share of the period gone back through) and
// the applying (oldest first: the share of the period applied).
func (c *CLI) replayWithProgress(ctx context.Context, svc *credits.Service, client *stripe.Client, from time.Time) (credits.ReplayResult, error) {
	now := time.Now()
	period := now.Sub(from)
	listing := c.newProgress("replay: listing Stripe's events", progress.Percent, false)
	listed := 0
	client.EventListed = func(created time.Time) {
		listed++
		listing.UpdateDetail(int64(min(max(now.Sub(created), 0), period)/time.Second), int64(period/time.Second), fmt.Sprintf("%d listed", listed))
	}
	var applying *progress.Reporter
	result, err := svc.ReplayEventsProgress(ctx, client, from, func(done, total int64, detail string) {
		if applying == nil { // the list is whole: the events come now
			listing.Finish()
			applying = c.newProgress("replay: applying", progress.Percent, false)
		}
		applying.UpdateDetail(done, total, detail)
	})
	listing.Finish()
	if applying != nil {
		applying.Finish()
	}
	client.EventListed = nil
	return result, err
}
