package credits

import (
	"context"
	"errors"
	"time"
)

const (
	// reconcileCheckEvery is how often the worker looks whether a run is due.
	reconcileCheckEvery = time.Minute
	// ReconcileStaleAfter: a run that has saved no progress for this long is
	// taken to be interrupted (its replica died, or its command stopped),
	// and the worker continues it.
	ReconcileStaleAfter = 10 * time.Minute
)

// RunReconciler runs reconcile with Fix every period until ctx ends: when no
// run began within the period (on any replica, or from the command line),
// and when a run was left interrupted. every must be positive.
func (s *Service) RunReconciler(ctx context.Context, lister StripeLister, every time.Duration) {
	if every <= 0 {
		panic("RunReconciler: the period must be positive")
	}
	ticker := time.NewTicker(min(every, reconcileCheckEvery))
	defer ticker.Stop()
	for {
		// The first look waits a tick: a replica that starts (or restarts)
		// serves before it lists a month of Stripe objects.
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		run, ran, err := s.ReconcileIfDue(ctx, lister, every)
		switch {
		case err != nil && ctx.Err() == nil:
			s.Logger.Error("reconcile stopped; the next run continues it", "run", run.ID, "error", err)
		case ran && err == nil:
			s.Logger.Info("reconcile finished", "run", run.ID, "listed", run.Listed(), "items", run.Counts)
		}
	}
}

// ReconcileIfDue runs reconcile with Fix when it is due: when no run began
// within every, or the latest run was left interrupted for
// ReconcileStaleAfter. ran says whether it ran.
func (s *Service) ReconcileIfDue(ctx context.Context, lister StripeLister, every time.Duration) (run ReconcileRun, ran bool, err error) {
	due, err := s.reconcileDue(ctx, every)
	if err != nil || !due {
		return run, false, err
	}
	run, err = s.Reconcile(ctx, lister, ReconcileOptions{Fix: true})
	return run, true, err
}

// reconcileDue reports whether the worker should run reconcile now.
func (s *Service) reconcileDue(ctx context.Context, every time.Duration) (bool, error) {
	var latest ReconcileRun
	err := s.Store.View(ctx, func(tx Tx) (err error) { latest, err = tx.LatestReconcileRun(""); return err })
	if errors.Is(err, ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	now := s.now()
	if latest.Status == ReconcileRunning {
		return !latest.UpdatedAt.After(now.Add(-ReconcileStaleAfter)), nil
	}
	return !latest.StartedAt.After(now.Add(-every)), nil
}
