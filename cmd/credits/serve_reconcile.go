package main

import (
	"context"
	"errors"
	"time"

	"github.com/credits/credits/stripe"
)

// startReconciler runs reconcile in the worker every CREDITS_RECONCILE_EVERY
// (0: never) when a Stripe key is set; the offline demo has no Stripe to
// compare with.
func (m *Main) startReconciler(ctx context.Context) {
	every, key := m.Config.reconcileEvery, m.Config.StripeSecretKey
	if every <= 0 || key == "" || m.Demo != nil {
		return
	}
	lister := stripe.NewClient(key, m.Config.StripeAPIBase)
	m.done.Add(1)
	go func() { defer m.done.Done(); m.Service.RunReconciler(ctx, lister, every) }()
}

// minReconcileEvery keeps the worker's runs apart: each lists a month of
// Stripe objects.
const minReconcileEvery = time.Hour

func (c *Config) parseReconcileEvery() error {
	d, err := time.ParseDuration(c.ReconcileEvery)
	if c.ReconcileEvery == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 || (d > 0 && d < minReconcileEvery) {
		return errors.New("CREDITS_RECONCILE_EVERY must be 0 (never) or a duration of at least 1h")
	}
	c.reconcileEvery = d
	return nil
}
