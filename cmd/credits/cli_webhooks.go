package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credits/credits"
)

// webhooks manages the application's webhook endpoints.
func (c *CLI) webhooks(ctx context.Context, args []string) error {
	name, args, err := c.subcommand(args, "webhooks")
	if err != nil {
		return err
	}
	cmd := c.newCommand("webhooks "+name, true)
	switch name {
	case "add":
		return c.webhooksAdd(ctx, cmd, args)
	case "rotate", "test", "enable", "disable":
		rest, err := cmd.parse(args, 1)
		if err != nil {
			return err
		}
		if name == "rotate" {
			if err := cmd.cfg.sealsSecrets("webhooks rotate"); err != nil {
				return err
			}
		}
		return withService(ctx, cmd, func(svc *credits.Service) error { return c.webhookEndpointCommand(ctx, cmd, svc, name, rest[0]) })
	case "resend":
		rest, err := cmd.parse(args, 2)
		if err != nil {
			return err
		}
		return withService(ctx, cmd, func(svc *credits.Service) error {
			a, err := svc.ResendWebhookEvent(ctx, rest[0], rest[1])
			if err != nil {
				return err
			}
			return c.print(cmd, a, "", func(w io.Writer) {
				fmt.Fprintf(w, "resent %s to %s: status %d in %d ms %s\n", a.EventID, a.EndpointID, a.StatusCode, a.LatencyMS, a.Error)
			})
		})
	case "remove", "deliveries":
		return c.webhooksRemoveOrDeliveries(ctx, cmd, name, args)
	}
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		endpoints, err := svc.WebhookEndpoints(ctx)
		if err != nil {
			return err
		}
		return c.print(cmd, endpoints, "ID\tURL\tEVENTS\tSTATUS\tFAILED TRIES\tNOTE", func(w io.Writer) {
			for _, ep := range endpoints {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", ep.ID, ep.URL, strings.Join(ep.Events, ","), ep.Status, ep.Attempts, dash(ep.DisabledReason))
			}
		})
	})
}

// webhooksAdd adds an endpoint and shows its secret, once.
func (c *CLI) webhooksAdd(ctx context.Context, cmd *command, args []string) error {
	url := cmd.fs.String("url", "", "where to send the events (required)")
	events := cmd.fs.String("events", "*", "event types, comma-separated, or * for all")
	description := cmd.fs.String("description", "", "what the endpoint is for")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	if err := cmd.cfg.sealsSecrets("webhooks add"); err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		ep, err := svc.CreateWebhookEndpoint(ctx, *url, strings.Split(*events, ","), *description)
		if err != nil {
			return err
		}
		return c.print(cmd, map[string]any{"endpoint": ep, "secret": ep.Secret}, "", func(w io.Writer) {
			fmt.Fprintf(w, "added endpoint %s for %s\nsigning secret (shown once): %s\n", ep.ID, strings.Join(ep.Events, ", "), ep.Secret)
		})
	})
}

// webhooksRemoveOrDeliveries removes an endpoint, or lists its latest
// delivery attempts.
func (c *CLI) webhooksRemoveOrDeliveries(ctx context.Context, cmd *command, name string, args []string) error {
	rest, err := cmd.parse(args, 1)
	if err != nil {
		return err
	}
	return withService(ctx, cmd, func(svc *credits.Service) error {
		if name == "remove" {
			if err := svc.RemoveWebhookEndpoint(ctx, rest[0]); err != nil {
				return err
			}
			return c.print(cmd, map[string]string{"removed": rest[0]}, "", func(w io.Writer) { fmt.Fprintf(w, "removed endpoint %s\n", rest[0]) })
		}
		attempts, err := svc.WebhookAttempts(ctx, rest[0], credits.MaxPageSize)
		if err != nil {
			return err
		}
		return c.print(cmd, attempts, "AT\tEVENT\tSTATUS\tMS\tERROR", func(w io.Writer) {
			for _, a := range attempts {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", a.At.Format(time.RFC3339), a.EventID, a.StatusCode, a.LatencyMS, dash(a.Error))
			}
		})
	})
}

// webhookEndpointCommand runs rotate, test, enable or disable on one endpoint.
func (c *CLI) webhookEndpointCommand(ctx context.Context, cmd *command, svc *credits.Service, name, id string) error {
	switch name {
	case "enable", "disable":
		change, says := svc.EnableWebhookEndpoint, "deliveries resume where they stopped"
		if name == "disable" {
			change, says = svc.DisableWebhookEndpoint, "a delivery in flight stops within a second, and its events wait for enable"
		}
		ep, err := change(ctx, id)
		if err != nil {
			return err
		}
		return c.print(cmd, ep, "", func(w io.Writer) { fmt.Fprintf(w, "endpoint %s is %s; %s\n", ep.ID, ep.Status, says) })
	case "rotate":
		ep, err := svc.RotateWebhookSecret(ctx, id)
		if err != nil {
			return err
		}
		return c.print(cmd, map[string]any{"endpoint": ep, "secret": ep.Secret}, "", func(w io.Writer) {
			fmt.Fprintf(w, "new signing secret of %s (shown once): %s\nthe old one signs too until %s\n", ep.ID, ep.Secret, ep.PreviousUntil.Format(time.RFC3339))
		})
	}
	a, err := svc.TestWebhookEndpoint(ctx, id)
	if err != nil {
		return err
	}
	return c.print(cmd, a, "", func(w io.Writer) {
		fmt.Fprintf(w, "ping %s: status %d in %d ms %s\n", a.EventID, a.StatusCode, a.LatencyMS, a.Error)
	})
}
