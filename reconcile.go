package credits

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Reconcile compares the ledger with what Stripe's lists say happened, and
// reports each difference as an item. With Fix it feeds what events missed
// through the events' own code (handleEvent), under an event id derived from
// the object and its state: the keys that make a redelivered event harmless
// (session id, payment intent, refund id, dispute id) make a fix harmless
// too, however often it runs and whatever arrives meanwhile. It never
// refunds or charges.

// Kinds of reconcile items.
const (
	ItemPaidNotCredited = "paid_not_credited" // paid in Stripe, no purchase in the ledger
	ItemCreditedNotPaid = "credited_not_paid" // a purchase whose payment Stripe says is not paid
	ItemRefundNotTaken  = "refund_not_taken"  // a refund the payment's facts lack (or hold at an older status)
	ItemDisputeNotTaken = "dispute_not_taken" // likewise for a dispute
	ItemAmountMismatch  = "amount_mismatch"   // paid another amount than the ledger says
	ItemChargedTwice    = "charged_twice"     // two succeeded payments for one recharge or checkout
	ItemStuck           = "stuck"             // a recharge or an event waiting longer than it should
)

// ReconcileItemKinds lists every kind, in the order they are shown.
var ReconcileItemKinds = []string{ItemPaidNotCredited, ItemCreditedNotPaid, ItemRefundNotTaken,
	ItemDisputeNotTaken, ItemAmountMismatch, ItemChargedTwice, ItemStuck}

// Reconcile run statuses.
const (
	ReconcileRunning     = "running"     // listing, or interrupted: the next run continues it
	ReconcileSucceeded   = "succeeded"   // every list read to its end
	ReconcileInterrupted = "interrupted" // left unfinished, and a new run started instead
)

// The Stripe objects that reconcile lists, in the order it reads them:
// refunds and disputes after the payments they belong to, charges last (a
// charge's refunded total only adds what the refunds did not say).
const (
	StripeCheckoutSessions = "checkout_sessions"
	StripePaymentIntents   = "payment_intents"
	StripeRefunds          = "refunds"
	StripeDisputes         = "disputes"
	StripeCharges          = "charges"
)

// ReconcileObjectTypes are the lists a run reads, in order.
var ReconcileObjectTypes = []string{StripeCheckoutSessions, StripePaymentIntents, StripeRefunds, StripeDisputes, StripeCharges}

// Limits and times of reconcile.
const (
	// DefaultReconcileWindow is how far back a run looks by default (Stripe
	// keeps events 30 days; objects for ever).
	DefaultReconcileWindow = 720 * time.Hour
	// DefaultReconcileEvery is how often the worker runs reconcile.
	DefaultReconcileEvery = 24 * time.Hour
	// StuckRechargeAfter: a recharge still processing (or pending with a
	// payment intent, or waiting for the customer) this long after its last
	// change is reported.
	StuckRechargeAfter = 24 * time.Hour
	// StuckEventAfter: a Stripe event still pending, or failed, this long
	// after it arrived is reported (its retries are over by then).
	StuckEventAfter = time.Hour
	// reconcileSaveEvery is how many objects a run lists between two saves
	// of its progress.
	reconcileSaveEvery = 100
	// MaxStuckItems bounds the stuck recharges, and the stuck events of each
	// status, that one run reports.
	MaxStuckItems = 1000
	// MaxReconcileItems bounds the items that one read answers.
	MaxReconcileItems = 1000
	// MaxUnsettledRetrieved bounds the refunds, and the disputes, that one
	// run retrieves by id because the ledger holds them as not final.
	MaxUnsettledRetrieved = 1000
	// reconcileEventPrefix begins the id of every event that reconcile feeds.
	reconcileEventPrefix = "reconcile_"
)

// StripeObject is one object of a Stripe list, as the service reads it:
// exactly one of Session, PaymentIntent, Charge, Refund and Dispute is set.
type StripeObject struct {
	Type     string // one of ReconcileObjectTypes
	ID       string
	Created  time.Time
	Livemode bool
	// Metadata is a payment intent's or a charge's.
	Metadata      map[string]string
	Session       *StripeSession
	PaymentIntent *StripePaymentIntent
	Charge        *StripeCharge
	Refund        *StripeRefund
	Dispute       *StripeDispute
	// FundsWithdrawn and FundsReinstated say what a dispute's balance
	// transactions show.
	FundsWithdrawn  bool
	FundsReinstated bool
	// Raw is the object's JSON, kept as the payload of a fix's event.
	Raw []byte
}

// StripeLister lists Stripe objects (the stripe package's Client).
type StripeLister interface {
	// ListStripe lists the objects of one type created at or after since,
	// newest first as Stripe lists them, after the object startingAfter
	// ("": from the newest). When Stripe no longer has the object
	// startingAfter names, the list ends with an error wrapping
	// ErrStripeCursorGone.
	ListStripe(ctx context.Context, objectType string, since time.Time, startingAfter string) iter.Seq2[StripeObject, error]
	// RetrieveStripe reads one object of a type (StripeRefunds or
	// StripeDisputes) by id, whenever it was created; an error wrapping
	// ErrNotFound when Stripe has no such object.
	RetrieveStripe(ctx context.Context, objectType, id string) (StripeObject, error)
}

// ErrStripeCursorGone is what a list answers when the object it was asked
// to list after no longer exists (Stripe: 400 resource_missing on
// starting_after). Reconcile then lists that type again from the newest:
// its fixes are exactly-once, so listing an object twice is harmless.
var ErrStripeCursorGone = errors.New("the object the list continues after no longer exists")

// ReconcileProgress is how far a run read one list.
type ReconcileProgress struct {
	LastID string `json:"last_id,omitempty"`
	Listed int64  `json:"listed"`
	Done   bool   `json:"done"`
}

// ReconcileRun is one comparison with Stripe.
type ReconcileRun struct {
	ID         string                       `json:"id"`
	StartedAt  time.Time                    `json:"started_at"`
	FinishedAt *time.Time                   `json:"finished_at"`
	Since      time.Time                    `json:"since"`
	Fix        bool                         `json:"fix"`
	Status     string                       `json:"status"`
	Error      string                       `json:"error,omitempty"`
	Progress   map[string]ReconcileProgress `json:"progress"`
	// Counts are the run's items by kind (the store counts them as it reads the run).
	Counts    map[string]int64 `json:"counts"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// Listed is how many Stripe objects the run has read.
func (r ReconcileRun) Listed() int64 {
	var n int64
	for _, p := range r.Progress {
		n += p.Listed
	}
	return n
}

// ReconcileItem is one difference between the ledger and Stripe. A run
// holds one item per kind and object.
type ReconcileItem struct {
	RunID     string `json:"run_id"`
	Kind      string `json:"kind"`
	Object    string `json:"object"` // the Stripe object's id (or a recharge's, an event's)
	AccountID string `json:"account_id,omitempty"`
	Detail    string `json:"detail"`
	// Command is what an operator runs about it (charged_twice: the refund).
	Command string `json:"command,omitempty"`
	// Fixed says a fix's event was applied; EventID names it.
	Fixed     bool      `json:"fixed"`
	EventID   string    `json:"event_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Reconciliation is the latest run and its items.
type Reconciliation struct {
	Run   ReconcileRun    `json:"run"`
	Items []ReconcileItem `json:"items"`
}

// ReconcileOptions say what a run does.
type ReconcileOptions struct {
	// Window is how far back to look (DefaultReconcileWindow when 0).
	Window time.Duration
	// Fix feeds what events missed through the events' code.
	Fix bool
	// Restart begins a new run even when the latest one was interrupted.
	Restart bool
	// Progress, when set, is told of each object listed.
	Progress func(ReconcileRun)
}

// finding is an item found, with the events that would heal it.
type finding struct {
	item   ReconcileItem
	events []StripeEvent
	// readAt, when set, dates the events: a snapshot (a charge's refunded
	// total) is what Stripe said when the run read it, and must not shadow
	// a real event created after that.
	readAt time.Time
}

// Reconcile compares the ledger with Stripe over a period; it continues the
// latest run when that one was interrupted (with the same Fix), unless
// Restart. It returns the run as it ended.
func (s *Service) Reconcile(ctx context.Context, lister StripeLister, opt ReconcileOptions) (ReconcileRun, error) {
	run, err := s.startReconcile(ctx, opt)
	if err != nil {
		return run, err
	}
	state := &reconcileState{run: &run, opt: opt, seen: map[string]twiceCandidate{}, refunded: map[string]bool{}, listed: map[string]bool{}}
	relistForState(run.Progress)
	for _, objectType := range ReconcileObjectTypes {
		if run.Progress[objectType].Done {
			continue
		}
		if err := s.reconcileList(ctx, lister, state, objectType); err != nil {
			return run, s.stopReconcile(run, err)
		}
	}
	if err := s.reconcileUnsettled(ctx, lister, state); err != nil {
		return run, s.stopReconcile(run, err)
	}
	if err := s.reconcileStuck(ctx, state); err != nil {
		return run, s.stopReconcile(run, err)
	}
	now := s.now()
	run.Status, run.FinishedAt, run.Error, run.UpdatedAt = ReconcileSucceeded, &now, "", now
	if err := s.saveRun(context.WithoutCancel(ctx), run); err != nil {
		return run, err
	}
	latest, err := s.Reconciliation(ctx, 1) // the run with its counts
	if err != nil {
		return run, err
	}
	return latest.Run, nil
}

// startReconcile continues the latest run, or records a new one.
func (s *Service) startReconcile(ctx context.Context, opt ReconcileOptions) (ReconcileRun, error) {
	window := opt.Window
	if window == 0 {
		window = DefaultReconcileWindow
	}
	if window < 0 {
		return ReconcileRun{}, Errorf(EINVALID, "the period must be positive")
	}
	var run ReconcileRun
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		latest, err := tx.LatestReconcileRun("")
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil && latest.Status == ReconcileRunning {
			if !opt.Restart && latest.Fix == opt.Fix {
				run = latest
				run.Error, run.UpdatedAt = "", now
				return tx.UpdateReconcileRun(run)
			}
			latest.Status, latest.UpdatedAt = ReconcileInterrupted, now
			if err := tx.UpdateReconcileRun(latest); err != nil {
				return err
			}
		}
		run = ReconcileRun{ID: NewID("rec_"), StartedAt: now, Since: now.Add(-window), Fix: opt.Fix,
			Status: ReconcileRunning, Progress: map[string]ReconcileProgress{}, UpdatedAt: now}
		if err := tx.CreateReconcileRun(run); errors.Is(err, ErrConflict) {
			return errRetry // another run began at the same moment: continue it instead
		} else if err != nil {
			return err
		}
		return nil
	})
	if run.Progress == nil {
		run.Progress = map[string]ReconcileProgress{}
	}
	if run.Counts == nil {
		run.Counts = map[string]int64{}
	}
	return run, err
}

// relistForState makes a continued run list again, from the newest, the
// lists whose in-memory state a later comparison needs, since that state
// is lost when a run stops: the payment intents when it stopped in them
// (the first succeeded one of each recharge or checkout reference, for
// charged_twice), and the refunds when it stopped in them or in the
// charges (the payments a refund item named, whose charge's refunded total
// must not be reported again). Comparing an object twice is harmless: an
// item is one per run, kind and object, and fixes are exactly-once.
func relistForState(progress map[string]ReconcileProgress) {
	partial := func(objectType string) bool {
		p := progress[objectType]
		return !p.Done && p.LastID != ""
	}
	if partial(StripePaymentIntents) {
		progress[StripePaymentIntents] = ReconcileProgress{}
	}
	if refunds := progress[StripeRefunds]; partial(StripeRefunds) || (refunds.Done && !progress[StripeCharges].Done) {
		progress[StripeRefunds] = ReconcileProgress{}
	}
}

// stopReconcile records why a run stopped; it stays running, for the next
// run to continue.
func (s *Service) stopReconcile(run ReconcileRun, cause error) error {
	run.Error, run.UpdatedAt = cause.Error(), s.now()
	if err := s.saveRun(context.Background(), run); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("reconcile %s: %w", run.ID, cause)
}

func (s *Service) saveRun(ctx context.Context, run ReconcileRun) error {
	return s.update(ctx, func(tx Tx) error { return tx.UpdateReconcileRun(run) })
}

// reconcileState is what one run keeps in memory.
type reconcileState struct {
	run *ReconcileRun
	opt ReconcileOptions
	// seen is the first succeeded payment intent of each recharge or
	// checkout reference (charged_twice).
	seen map[string]twiceCandidate
	// refunded notes the payments that a refund item named (a charge's
	// refunded total then says nothing new).
	refunded map[string]bool
	// listed notes the refunds and disputes that a list of this run showed
	// (they need not be retrieved by id).
	listed map[string]bool
	// readAt is when the current list began: what it shows was true then.
	readAt time.Time
}

// twiceCandidate is a succeeded payment intent for a recharge or checkout
// reference; purchase names the purchase it credited ("" when none).
type twiceCandidate struct {
	id       string
	credited bool
	purchase string
}

// reconcileList reads one list from where the run left it, and saves how
// far it read every reconcileSaveEvery objects.
// When Stripe no longer has the object the run's cursor names (deleted,
// or the key now names another account or mode), the list starts again
// from the newest, once.
func (s *Service) reconcileList(ctx context.Context, lister StripeLister, state *reconcileState, objectType string) error {
	err := s.reconcileListFrom(ctx, lister, state, objectType)
	if errors.Is(err, ErrStripeCursorGone) && state.run.Progress[objectType].LastID != "" {
		s.Logger.Warn("reconcile: the list's cursor is gone in Stripe; listing again from the newest",
			"run", state.run.ID, "type", objectType, "cursor", state.run.Progress[objectType].LastID)
		progress := state.run.Progress[objectType]
		progress.LastID = ""
		state.run.Progress[objectType] = progress
		err = s.reconcileListFrom(ctx, lister, state, objectType)
	}
	return err
}

func (s *Service) reconcileListFrom(ctx context.Context, lister StripeLister, state *reconcileState, objectType string) error {
	run := state.run
	progress := run.Progress[objectType]
	state.readAt = s.now()
	for object, err := range lister.ListStripe(ctx, objectType, run.Since, progress.LastID) {
		if err != nil {
			return fmt.Errorf("list %s: %w", objectType, err)
		}
		if object.Refund != nil || object.Dispute != nil {
			state.listed[object.ID] = true
		}
		if err := s.reconcileObject(ctx, state, object); err != nil {
			return err
		}
		progress.LastID = object.ID
		progress.Listed++
		run.Progress[objectType] = progress
		if progress.Listed%reconcileSaveEvery == 0 {
			run.UpdatedAt = s.now()
			if err := s.saveRun(ctx, *run); err != nil {
				return err
			}
		}
		if state.opt.Progress != nil {
			state.opt.Progress(*run)
		}
	}
	progress.Done = true
	run.Progress[objectType] = progress
	run.UpdatedAt = s.now()
	return s.saveRun(ctx, *run)
}

// reconcileUnsettled retrieves by id each refund and dispute that the
// ledger holds as not final (a refund pending or requires_action, a
// dispute not closed) and that no list of this run showed: the lists only
// show what was created within the window, and a dispute is decided, a
// refund canceled or failed, weeks after it was created. What changed is
// compared, and fixed, as a listed object is.
func (s *Service) reconcileUnsettled(ctx context.Context, lister StripeLister, state *reconcileState) error {
	var refunds []PaymentRefund
	var disputes []PaymentDispute
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		if refunds, err = tx.UnsettledRefunds(MaxUnsettledRetrieved); err != nil {
			return err
		}
		disputes, err = tx.UnsettledDisputes(MaxUnsettledRetrieved)
		return err
	})
	if err != nil {
		return fmt.Errorf("find unsettled refunds and disputes: %w", err)
	}
	type unsettled struct{ objectType, id string }
	var ids []unsettled
	for _, r := range refunds {
		ids = append(ids, unsettled{StripeRefunds, r.ID})
	}
	for _, d := range disputes {
		ids = append(ids, unsettled{StripeDisputes, d.ID})
	}
	for _, o := range ids {
		if state.listed[o.id] {
			continue
		}
		state.readAt = s.now()
		object, err := lister.RetrieveStripe(ctx, o.objectType, o.id)
		if errors.Is(err, ErrNotFound) {
			s.Logger.Warn("reconcile: Stripe has no such object", "run", state.run.ID, "type", o.objectType, "id", o.id)
			continue
		} else if err != nil {
			return fmt.Errorf("retrieve %s %s: %w", o.objectType, o.id, err)
		}
		if err := s.reconcileObject(ctx, state, object); err != nil {
			return err
		}
	}
	return nil
}

// reconcileObject compares one object with the ledger (in a read
// transaction), applies its fix when asked, and records its item.
func (s *Service) reconcileObject(ctx context.Context, state *reconcileState, object StripeObject) error {
	var found []finding
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		found, err = s.compareObject(tx, state, object)
		return err
	})
	if err != nil {
		return fmt.Errorf("compare %s: %w", object.ID, err)
	}
	for _, f := range found {
		if err := s.recordFinding(ctx, state, f); err != nil {
			return err
		}
	}
	return nil
}

// compareObject finds the differences one object shows.
func (s *Service) compareObject(tx Tx, state *reconcileState, object StripeObject) ([]finding, error) {
	switch {
	case object.Session != nil:
		return compareSession(tx, object)
	case object.PaymentIntent != nil:
		return comparePaymentIntent(tx, state, object)
	case object.Refund != nil:
		return compareRefund(tx, state, object)
	case object.Dispute != nil:
		return compareDispute(tx, object)
	case object.Charge != nil:
		return compareCharge(tx, state, object)
	}
	return nil, nil
}

// recordFinding applies a finding's events when the run fixes, then
// records its item.
func (s *Service) recordFinding(ctx context.Context, state *reconcileState, f finding) error {
	item := f.item
	item.RunID, item.CreatedAt = state.run.ID, s.now()
	if state.opt.Fix && len(f.events) > 0 {
		item.Fixed = true
		for _, in := range f.events {
			// Listed with our own key, the object is of our mode.
			in.Created, in.Livemode = item.CreatedAt, s.Livemode
			if !f.readAt.IsZero() {
				in.Created = f.readAt
			}
			ev, _, err := s.handleEvent(ctx, in)
			if err != nil {
				return fmt.Errorf("fix %s %s: %w", item.Kind, item.Object, err)
			}
			item.EventID = ev.ID
			item.Detail += fmt.Sprintf("; fixed by event %s: %s", ev.ID, ev.Status)
			if ev.Error != "" {
				item.Detail += " (" + ev.Error + ")"
			}
			if ev.Status != EventProcessed && ev.Status != EventPending {
				item.Fixed = false
			}
		}
	}
	if err := s.update(ctx, func(tx Tx) error { return tx.SaveReconcileItem(item) }); err != nil {
		return err
	}
	state.run.Counts[item.Kind]++ // for progress; the store counts the run's items exactly
	return nil
}

// Reconciliation reads the latest run and up to limit of its items
// (MaxReconcileItems when 0); ENOTFOUND when none ran yet.
func (s *Service) Reconciliation(ctx context.Context, limit int) (Reconciliation, error) {
	if limit <= 0 || limit > MaxReconcileItems {
		limit = MaxReconcileItems
	}
	var out Reconciliation
	err := s.Store.View(ctx, func(tx Tx) error {
		run, err := tx.LatestReconcileRun("")
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "reconcile has not run yet")
		} else if err != nil {
			return err
		}
		out.Run = run
		out.Items, err = tx.ReconcileItems(run.ID, limit)
		return err
	})
	if out.Items == nil {
		out.Items = []ReconcileItem{}
	}
	return out, err
}

// LastReconcileSuccess is when the latest run that read every list ended
// (zero when none did).
func (s *Service) LastReconcileSuccess(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := s.Store.View(ctx, func(tx Tx) error {
		run, err := tx.LatestReconcileRun(ReconcileSucceeded)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if run.FinishedAt != nil {
			at = *run.FinishedAt
		}
		return nil
	})
	return at, err
}
