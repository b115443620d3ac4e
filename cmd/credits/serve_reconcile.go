package main

import (
	"context"
	"errors"
	"time"

	"github.com/credits/credits"

	"github.com/credits/credits/stripe"
)

// startReconciler runs reconcile in the worker every CREDITS_RECONCILE_EVERY
// when reconcileLister has a Stripe to ask.
func (m *Main) startReconciler(ctx context.Context) {
	lister := m.reconcileLister()
	if lister == nil {
		return
	}
	m.done.Add(1)
	go func() { defer m.done.Done(); m.Service.RunReconciler(ctx, lister, m.Config.reconcileEvery) }()
}

// reconcileLister is the Stripe that the worker's reconcile asks, or nil
// when it does not run: CREDITS_RECONCILE_EVERY=0, no Stripe key, or the
// offline demo (no Stripe to compare with).
func (m *Main) reconcileLister() credits.StripeLister {
	key := m.Config.StripeSecretKey
	if m.Config.reconcileEvery <= 0 || key == "" || m.Demo != nil {
		return nil
	}
	return stripe.NewClient(key, m.Config.StripeAPIBase)
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
