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
// run with Fix began within the period (on any replica, or from the command
// line with --fix; read-only runs do not count), and when a run was left
// interrupted. every must be positive.
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

// ReconcileIfDue runs reconcile with Fix when it is due (reconcileDue). ran
// says whether it ran.
func (s *Service) ReconcileIfDue(ctx context.Context, lister StripeLister, every time.Duration) (run ReconcileRun, ran bool, err error) {
	due, restart, err := s.reconcileDue(ctx, every)
	if err != nil || !due {
		return run, false, err
	}
	run, err = s.Reconcile(ctx, lister, ReconcileOptions{Fix: true, Restart: restart})
	return run, true, err
}

// reconcileDue reports whether the worker should run reconcile now, and
// whether it should begin a new run rather than continue the one left
// running. A run that saved progress within ReconcileStaleAfter may still
// be going: nothing is due. Otherwise the latest run with Fix decides
// (read-only runs, an operator's report, do not stand for the worker's
// fix): none, or one that began a period ago, is due; one left running is
// continued, or begun again when it began more than a period ago (a run
// that fails the same way on every continuation must not wedge the
// worker, and a new run reads what happened since).
func (s *Service) reconcileDue(ctx context.Context, every time.Duration) (due, restart bool, err error) {
	var latest, latestFix ReconcileRun
	var fixFound bool
	err = s.Store.View(ctx, func(tx Tx) error {
		latest, err = tx.LatestReconcileRun("")
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		latestFix, err = tx.LatestFixReconcileRun()
		fixFound = err == nil
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, false, err
	}
	now := s.now()
	if latest.ID != "" && latest.Status == ReconcileRunning && latest.UpdatedAt.After(now.Add(-ReconcileStaleAfter)) {
		return false, false, nil // someone is running it
	}
	if !fixFound {
		return true, false, nil
	}
	periodAgo := !latestFix.StartedAt.After(now.Add(-every))
	if latestFix.Status == ReconcileRunning {
		return true, periodAgo, nil
	}
	return periodAgo, false, nil
}
