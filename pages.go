package credits

import (
	"context"
	"errors"
	"sync"

	"slices"
	"strings"
	"time"
)

// MaxBalanceHistory bounds the entries a dashboard reads for its chart.
const MaxBalanceHistory = 1_000

// Dashboard is everything the customer page shows of one account.
type Dashboard struct {
	Account Account
	Packs   []Pack
	// PackNames names every pack, active or not, for the purchase history.
	PackNames    map[string]string
	Purchases    []Purchase
	Entries      Page[Entry]
	Holds        []Hold
	ExpiringSoon []Lot
	// History is the balance over time, oldest first.
	History []Entry
	// AutoRecharge is the saved card, the settings and the latest attempts.
	AutoRecharge AutoRechargeView
	// RechargePack is the pack auto-recharge buys (nil when none is set).
	RechargePack *Pack
	// Usage is what each feature cost in the last DashboardUsageDays, most
	// first; Features names the features (usage.go).
	Usage    []FeatureUsage
	Features map[string]Feature
	// Members are the account's members with their current periods.
	Members []MemberView
	// Member is the member whose page this is (nil: the account's page);
	// its Entries are the member's own.
	Member *MemberView
}

// DashboardQuery says what a dashboard shows: one page of PageSize entries
// with ids below Before (0: the newest), the lots expiring within
// ExpiringWithin, and the last HistoryLength entries for the chart.
type DashboardQuery struct {
	Before         int64
	PageSize       int
	ExpiringWithin time.Duration
	HistoryLength  int
	// MemberID makes a member's page: its allowance and its own history.
	MemberID string
}

// Dashboard reads an account's page in one snapshot.
func (s *Service) Dashboard(ctx context.Context, accountID string, q DashboardQuery) (Dashboard, error) {
	pageSize, err := PageSize(q.PageSize)
	if err != nil {
		return Dashboard{}, err
	}
	if q.Before < 0 || q.ExpiringWithin < 0 || q.HistoryLength < 0 || q.HistoryLength > MaxBalanceHistory {
		return Dashboard{}, Errorf(EINVALID, "dashboard query out of range")
	}
	if err := s.settleIfDue(ctx, accountID); err != nil {
		return Dashboard{}, err
	}
	now := s.now()
	var d Dashboard
	err = s.Store.View(ctx, func(tx Tx) error {
		var err error
		if d.Account, err = getAccount(tx, accountID); err != nil {
			return err
		}
		all, err := tx.Packs(false)
		if err != nil {
			return err
		}
		d.PackNames = make(map[string]string, len(all))
		for _, p := range all {
			d.PackNames[p.ID] = p.Name
			if p.Active {
				d.Packs = append(d.Packs, p)
			}
		}
		if d.Purchases, err = tx.Purchases(accountID, pageSize); err != nil {
			return err
		}
		entries, err := tx.Entries(accountID, q.Before, pageSize+1)
		if err != nil {
			return err
		}
		d.Entries = page(entries, pageSize)
		if d.Holds, err = tx.Holds(accountID, HoldHeld, pageSize); err != nil {
			return err
		}
		if d.ExpiringSoon, err = tx.ExpiringLots(accountID, now.Add(q.ExpiringWithin), pageSize); err != nil {
			return err
		}
		if d.History, err = tx.Entries(accountID, 0, q.HistoryLength); err != nil {
			return err
		}
		slices.Reverse(d.History)
		if q.MemberID != "" {
			return memberDashboard(tx, &d, q, pageSize, now)
		}
		if d.Members, err = membersNow(tx, accountID, now); err != nil {
			return err
		}
		return dashboardUsage(tx, &d, now)
	})
	if err != nil {
		return d, err
	}
	if d.AutoRecharge, err = s.GetAutoRecharge(ctx, accountID); err != nil {
		return d, err
	}
	markRechargePurchases(d.Purchases, d.AutoRecharge.Recharges)
	for _, p := range d.Packs {
		if p.ID == d.AutoRecharge.PackID {
			d.RechargePack = &p
		}
	}
	return d, nil
}

// CheckoutOutcome is what the success page shows.
type CheckoutOutcome struct {
	Session CheckoutSession
	Account Account
	// Paid is false while a delayed payment is processing.
	Paid bool
	// Closed is set when the session will never be paid: "expired" or
	// "payment_failed".
	Closed string
}

// ConfirmInterval is how often the success page may ask Stripe about one
// session: the page is not authenticated, and refreshes itself.
const ConfirmInterval = 10 * time.Second

// maxConfirmsTracked bounds the sessions remembered for ConfirmInterval.
const maxConfirmsTracked = 10_000

// confirmLimiter remembers when Stripe was last asked about each session.
type confirmLimiter struct {
	mu    sync.Mutex
	asked map[string]time.Time
}

// allow reports whether Stripe may be asked about a session at now, and if
// so records that it is.
func (l *confirmLimiter) allow(sessionID string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.asked[sessionID]; ok && now.Sub(last) < ConfirmInterval {
		return false
	}
	if l.asked == nil || len(l.asked) >= maxConfirmsTracked {
		for id, last := range l.asked {
			if now.Sub(last) >= ConfirmInterval {
				delete(l.asked, id)
			}
		}
		if l.asked == nil {
			l.asked = map[string]time.Time{}
		}
		if len(l.asked) >= maxConfirmsTracked {
			return false // a flood of distinct sessions: the webhook will credit them
		}
	}
	l.asked[sessionID] = now
	return true
}

// ConfirmCheckout reads a session we created from the payment provider and,
// when it is paid, credits it through the same idempotent path as the webhook
// (Stripe recommends both: the customer sees the credits at once, and the
// webhook arriving later adds nothing).
func (s *Service) ConfirmCheckout(ctx context.Context, sessionID string) (CheckoutOutcome, error) {
	if sessionID == "" || len(sessionID) > MaxStripeIDLength {
		return CheckoutOutcome{}, Errorf(EINVALID, "session_id is missing or too long")
	}
	if err := lookupID("checkout session", sessionID); err != nil {
		return CheckoutOutcome{}, err
	}
	var out CheckoutOutcome
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		out.Session, err = tx.CheckoutSession(sessionID)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "checkout session %s not found", sessionID)
		}
		return err
	})
	if err != nil {
		return out, err
	}
	switch out.Session.Status {
	case SessionExpired, SessionPaymentFailed:
		out.Closed = out.Session.Status // nothing more will happen: Stripe need not be asked
	case SessionFulfilled:
	default:
		if s.confirms.allow(out.Session.ID, s.now()) {
			if err := s.confirmWithProvider(ctx, &out); err != nil {
				return out, err
			}
		}
	}
	out.Paid = out.Session.Status == SessionFulfilled
	out.Account, err = s.GetAccount(ctx, out.Session.AccountID)
	return out, err
}

func (s *Service) confirmWithProvider(ctx context.Context, out *CheckoutOutcome) error {
	if s.Payments == nil {
		return nil // the webhook will credit it
	}
	remote, err := s.Payments.RetrieveSession(ctx, out.Session.ID, false)
	if err != nil {
		s.Logger.Warn("success page: could not read the checkout session", "session", out.Session.ID, "error", err)
		return nil // the webhook will credit it
	}
	if remote.Status == "expired" {
		out.Closed = SessionExpired
		return nil
	}
	if !remote.IsPaid() {
		return nil
	}
	ev := Event{ID: "success_page", Type: EventCheckoutCompleted, Livemode: remote.Livemode, SessionID: remote.ID, Session: &remote}
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		cs, err := tx.CheckoutSession(out.Session.ID)
		if err != nil {
			return err
		}
		if cs.Status != SessionFulfilled {
			if _, _, err := s.fulfil(tx, ev, cs, now, false); err != nil {
				return err
			}
		}
		out.Session, err = tx.CheckoutSession(out.Session.ID)
		return err
	})
}

// eventByID reads an event that an operator names.
func eventByID(tx Tx, id string) (Event, error) {
	if err := lookupID("event", id); err != nil {
		return Event{}, err
	}
	ev, err := tx.Event(id)
	if errors.Is(err, ErrNotFound) {
		return ev, Errorf(ENOTFOUND, "event %s not found", id)
	}
	return ev, err
}

// RetryEvent puts an unmatched or failed event back in the queue, for when an
// operator has fixed what was missing (an account, a pack).
func (s *Service) RetryEvent(ctx context.Context, eventID string) (Event, error) {
	var ev Event
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if ev, err = eventByID(tx, eventID); err != nil {
			return err
		}
		if ev.Status != EventUnmatched && ev.Status != EventFailed {
			return Errorf(ECONFLICT, "event %s is %s; only unmatched and failed events are retried", eventID, ev.Status)
		}
		if ev.Session == nil {
			return Errorf(ECONFLICT, "event %s carries no checkout session to retry", eventID)
		}
		ev.Status, ev.Error, ev.Attempts, ev.ProcessedAt, ev.NextAttempt = EventPending, "retried by an operator", 0, nil, s.now()
		return tx.UpdateEvent(ev)
	})
	if err == nil {
		s.Wake()
	}
	return ev, err
}

// AcceptEvent credits, as sold, a session that was paid with another amount
// than it was sold for: an operator's decision, kept in the event's reason.
func (s *Service) AcceptEvent(ctx context.Context, eventID string) (Event, error) {
	var ev Event
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if ev, err = eventByID(tx, eventID); err != nil {
			return err
		}
		if ev.Status != EventUnmatched || !strings.HasPrefix(ev.Error, MismatchPrefix) || ev.Session == nil {
			return Errorf(ECONFLICT, "event %s is %s; only an event unmatched for an amount mismatch can be accepted", eventID, ev.Status)
		}
		cs, err := tx.CheckoutSession(ev.SessionID)
		if err != nil {
			return err
		}
		now := s.now()
		status, reason, err := s.fulfil(tx, ev, cs, now, true)
		if err != nil {
			return err
		}
		if reason == "" {
			reason = "accepted by an operator: credited as sold (" + strings.TrimPrefix(ev.Error, MismatchPrefix) + ")"
		}
		ev.Status, ev.Error, ev.ProcessedAt = status, reason, &now
		return tx.UpdateEvent(ev)
	})
	return ev, err
}

// SearchAccounts finds accounts whose id or email starts with query.
func (s *Service) SearchAccounts(ctx context.Context, query string, limit int) ([]Account, error) {
	query = strings.ToLower(strings.TrimSpace(query))
	if err := checkText("search", query); err != nil {
		return nil, err
	}
	if len(query) > MaxSearchLength {
		return nil, Errorf(EINVALID, "search must be at most %d characters", MaxSearchLength)
	}
	limit, err := PageSize(limit)
	if err != nil {
		return nil, err
	}
	var accounts []Account
	err = s.Store.View(ctx, func(tx Tx) (err error) {
		accounts, err = tx.SearchAccounts(query, limit)
		return err
	})
	for i := range accounts {
		accounts[i].Available = accounts[i].Balance - accounts[i].Held
	}
	return accounts, err
}
