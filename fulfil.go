package credits

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the queue that matches foreign sessions.
const (
	MaxEventAttempts = 12
	eventClaimLease  = 2 * time.Minute
	eventClaimBatch  = 10
	retryBaseDelay   = 10 * time.Second
	retryMaxDelay    = time.Hour
)

// HandleEvent records a verified Stripe event and applies it, in one
// transaction: when it returns nil the event and its effects are committed.
// A redelivered event changes nothing. A paid session we did not create is
// left pending for the worker, which reads its line items from Stripe.
func (s *Service) HandleEvent(ctx context.Context, in StripeEvent) (Event, error) {
	ev, _, err := s.handleEvent(ctx, in)
	return ev, err
}

// handleEvent is HandleEvent that also reports whether the event was new.
func (s *Service) handleEvent(ctx context.Context, in StripeEvent) (out Event, isNew bool, err error) {
	now := s.now()
	var queued bool
	// A new event is the common case: its id's unique index catches a
	// redelivery, and then the transaction runs again, reading it.
	lookUp, runs := false, 0
	err = s.update(ctx, func(tx Tx) error {
		// A run again (the store's or errRetry's) may follow another
		// delivery's commit: look the event up then.
		if runs++; runs > 1 {
			lookUp = true
		}
		if lookUp {
			existing, err := tx.Event(in.ID)
			if err == nil {
				out, isNew, queued = existing, false, false
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		ev := Event{
			ID: in.ID, Type: in.Type, Livemode: in.Livemode, Session: in.Session,
			Status: EventPending, ReceivedAt: now, NextAttempt: now, Payload: in.Payload,
		}
		if in.Session != nil {
			ev.SessionID = in.Session.ID
		}
		ev, err := s.applyEvent(tx, ev, in, now)
		if err != nil {
			return err
		}
		queued = ev.Status == EventPending
		out, isNew = ev, true
		if err := tx.CreateEvent(ev); errors.Is(err, ErrConflict) {
			lookUp = true
			return errRetry // received before (or by another replica just now): answer as a redelivery
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return out, false, fmt.Errorf("handle event %s: %w", in.ID, err)
	}
	if queued {
		s.Wake()
	}
	return out, isNew, nil
}

// applyEvent decides what an event does and does it; it returns the event
// (as it will be stored) with its new status. in is the event as received,
// with the charge or dispute that a refund or dispute event carried (applied
// now, so not stored). It returns an error only for a store failure.
func (s *Service) applyEvent(tx Tx, ev Event, in StripeEvent, now time.Time) (Event, error) {
	finish := func(status, reason string) (Event, error) {
		ev.Status, ev.Error = status, reason
		if status != EventPending {
			ev.ProcessedAt = &now
		}
		return ev, nil
	}
	switch {
	case in.Ignore != "":
		return finish(EventIgnored, in.Ignore)
	case in.Unusable != "":
		return finish(EventFailed, "the event cannot be used: "+in.Unusable)
	}
	if !slices.Contains(HandledEventTypes, ev.Type) {
		return finish(EventIgnored, "event type not handled")
	}
	if ev.Livemode != s.Livemode {
		return finish(EventIgnored, livemodeMismatch(ev.Livemode))
	}
	var apply func(Tx, StripeEvent, time.Time) (string, string, error)
	switch {
	case in.Charge != nil:
		apply = s.applyCharge
	case in.Refund != nil:
		apply = s.applyRefund
	case in.Dispute != nil:
		apply = s.applyDispute
	case in.PaymentIntent != nil:
		apply = s.applyPaymentIntent
	case in.PaymentMethodID != "" || in.CustomerID != "":
		apply = s.applyCardGone
	}
	if apply != nil {
		status, reason, err := apply(tx, in, now)
		if err != nil {
			return ev, err
		}
		return finish(status, reason)
	}
	if ev.Session == nil || ev.Session.ID == "" {
		return finish(EventUnmatched, "event carries no checkout session, charge or dispute")
	}
	if ev.Session.Mode == "setup" {
		status, reason, err := s.applySetupSession(tx, ev, now)
		if err != nil {
			return ev, err
		}
		return finish(status, reason)
	}
	cs, err := tx.CheckoutSession(ev.Session.ID)
	if errors.Is(err, ErrNotFound) {
		if creditable(ev) {
			return finish(EventPending, "foreign session: waiting for its line items from Stripe")
		}
		return finish(EventProcessed, "foreign session not paid: nothing to add")
	}
	if err != nil {
		return ev, err
	}
	status, reason, err := s.applyToSession(tx, ev, cs, now)
	if err != nil {
		return ev, err
	}
	return finish(status, reason)
}

func livemodeMismatch(eventLive bool) string {
	if eventLive {
		return "live-mode event, but the configured Stripe key is a test key: nothing added"
	}
	return "test-mode event, but the configured Stripe key is a live key: nothing added"
}

// creditable reports whether an event pays for its session.
func creditable(ev Event) bool {
	switch ev.Type {
	case EventCheckoutAsyncSucceeded:
		return true
	case EventCheckoutCompleted:
		return ev.Session.IsPaid()
	}
	return false
}

// applyToSession applies a checkout event to a session we know.
func (s *Service) applyToSession(tx Tx, ev Event, cs CheckoutSession, now time.Time) (status, reason string, err error) {
	if creditable(ev) {
		return s.fulfil(tx, ev, cs, now, false)
	}
	var next string
	switch ev.Type {
	case EventCheckoutCompleted:
		next = SessionAwaitingPayment
	case EventCheckoutAsyncFailed:
		next = SessionPaymentFailed
	case EventCheckoutExpired:
		next = SessionExpired
	}
	if cs.Status == SessionFulfilled {
		return EventProcessed, "session already credited: status kept", nil
	}
	if err := tx.SetCheckoutSessionStatus(cs.ID, next, now); err != nil {
		return "", "", err
	}
	if ended := map[string]string{SessionExpired: RechargeCanceled, SessionPaymentFailed: RechargeFailed}[next]; ended != "" &&
		isRechargeReference(ev.Session.Metadata["credits_checkout"]) {
		locked, err := tx.LockAccount(cs.AccountID)
		if err != nil {
			return "", "", err
		}
		if err := settleRechargeSession(tx, locked, *ev.Session, ended, now); err != nil {
			return "", "", err
		}
	}
	return EventProcessed, "session " + next + ": nothing added", nil
}

// MismatchPrefix starts the reason of an event whose session was paid with
// another amount than it was sold for; an operator may accept it.
const MismatchPrefix = "amount mismatch: "

// soldAsPaid compares what a session was paid with what it was sold for:
// the subtotal (before discounts, which are allowed and recorded) in the
// currency the session was created in, and the mode. It says what differs.
func soldAsPaid(session *StripeSession, cs CheckoutSession) string {
	if session.Mode != "" && session.Mode != "payment" {
		return fmt.Sprintf("a %s session, not a payment", session.Mode)
	}
	if session.Currency == "" {
		return "" // the event states no amounts (the success page's own read)
	}
	subtotal, currency := session.AmountSubtotal, session.Currency
	if session.SourceCurrency != "" {
		subtotal, currency = session.SourceAmountSubtotal, session.SourceCurrency
	}
	if subtotal == 0 {
		subtotal = session.AmountTotal + session.AmountDiscount
	}
	if subtotal != cs.ExpectedAmount || currency != cs.Currency {
		return fmt.Sprintf("paid %s, sold %s", FormatMoney(subtotal, currency), FormatMoney(cs.ExpectedAmount, cs.Currency))
	}
	return ""
}

// fulfil credits a paid session once: the purchase, its lot, its ledger entry
// and the account's balance and trial flag change together. A session paid
// with another amount than it was sold for adds nothing and waits for an
// operator, unless accept says one accepted it.
func (s *Service) fulfil(tx Tx, ev Event, cs CheckoutSession, now time.Time, accept bool) (status, reason string, err error) {
	if mismatch := soldAsPaid(ev.Session, cs); mismatch != "" && !accept {
		return EventUnmatched, MismatchPrefix + mismatch, nil
	}
	payment, fresh, err := lockSessionPayment(tx, ev, cs, now)
	if err != nil {
		return "", "", err
	}
	// The account is locked before the look for an existing purchase, so
	// that a concurrent second event waits for the first's commit and then
	// finds its purchase.
	locked, account, err := s.settle(tx, cs.AccountID, now)
	if ErrorCode(err) == ENOTFOUND {
		return EventUnmatched, fmt.Sprintf("account %s not found", cs.AccountID), nil
	} else if err != nil {
		return "", "", err
	}
	if _, err := tx.PurchaseBySession(cs.ID); err == nil {
		return EventProcessed, "session already credited: nothing added", nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	pack, credits, status, reason, err := sessionCredits(tx, cs, account)
	if status != "" || err != nil {
		return status, reason, err
	}
	p := Purchase{
		AccountID: account.ID, PackID: pack.ID, Quantity: cs.Quantity, Credits: credits,
		AmountPaid: cs.ExpectedAmount, Currency: cs.Currency, SessionID: cs.ID,
		EventID: ev.ID, CreatedAt: now,
	}
	if ev.Session.Currency != "" {
		p.AmountPaid, p.Currency = ev.Session.AmountTotal, ev.Session.Currency
	}
	p.PaymentIntent = ev.Session.PaymentIntent
	account, entry, err := s.writePurchase(locked, &p, account, pack)
	if err != nil {
		return "", "", err
	}
	if err := tx.SetCheckoutSessionStatus(cs.ID, SessionFulfilled, now); err != nil {
		return "", "", err
	}
	payment.AccountID, payment.SessionID, payment.PackID, payment.Quantity, payment.Credits = account.ID, cs.ID, pack.ID, cs.Quantity, credits
	payment.SoldAmount, payment.PaidAmount, payment.Currency = cs.ExpectedAmount, p.AmountPaid, p.Currency
	payment.Discount, payment.UpdatedAt, payment.Posted = ev.Session.AmountDiscount, now, credits
	if err := recordPayment(locked, payment, entry); err != nil {
		return "", "", err
	}
	if err := emit(locked, OutPurchaseCompleted, p, now); err != nil {
		return "", "", err
	}
	if err := afterPurchase(tx, locked, *ev.Session, now); err != nil {
		return "", "", err
	}
	s.logAfterCommit(tx, "credits added", "account", account.ID, "credits", credits, "session", cs.ID, "event", ev.ID)
	if fresh {
		// A payment made just now has no refund or dispute to count.
		return EventProcessed, "", s.alertAndRechargeIfLow(tx, locked, account, now)
	}
	// Refunds and disputes that arrived before the purchase count now.
	return s.reconcile(tx, payment, EntryRefund, payment.ID, now)
}

// sessionCredits reads a session's pack and what it credits, or says why
// the event stops here (status set).
func sessionCredits(tx Tx, cs CheckoutSession, account Account) (pack Pack, credits int64, status, reason string, err error) {
	pack, err = tx.Pack(cs.PackID)
	if errors.Is(err, ErrNotFound) {
		return pack, 0, EventUnmatched, fmt.Sprintf("pack %s not found", cs.PackID), nil
	} else if err != nil {
		return pack, 0, "", "", err
	}
	credits, err = MulCredits(pack.Credits, cs.Quantity)
	if err != nil {
		return pack, 0, EventFailed, "credits of the purchase overflow", nil
	}
	if _, err := AddCredits(account.Balance, credits); err != nil {
		return pack, 0, EventFailed, "purchase would overflow the balance", nil
	}
	return pack, credits, "", "", nil
}

// lockSessionPayment locks the payment a session's event pays: first, then
// the account (the order of every payment path), so that a concurrent
// event for the same session waits here and then sees the purchase.
func lockSessionPayment(tx Tx, ev Event, cs CheckoutSession, now time.Time) (Payment, bool, error) {
	paymentID := ev.Session.PaymentIntent
	if paymentID == "" {
		paymentID = cs.ID // nothing to pay (a 100 % discount): the session stands for the payment
	}
	payment, fresh, err := tx.LockPayment(paymentID, now)
	if err != nil || payment.SessionID == "" || payment.SessionID == cs.ID {
		return payment, fresh, err
	}
	// Another session already paid with this payment intent (Stripe does
	// not do that): keep the two apart rather than merge their facts.
	return tx.LockPayment(cs.ID, now)
}

// recordPayment records what a payment bought and links its purchase entry.
func recordPayment(locked LockedAccount, payment Payment, entry Entry) error {
	if err := locked.RecordPurchase(payment); err != nil {
		return err
	}
	return locked.LinkPaymentEntry(entry.ID, payment.ID)
}

// writePurchase records a purchase and credits its lot; it returns the
// account as it leaves it and the purchase's ledger entry.
func (s *Service) writePurchase(locked LockedAccount, p *Purchase, account Account, pack Pack) (Account, Entry, error) {
	var err error
	if p.ID, err = locked.CreatePurchase(*p); err != nil {
		return account, Entry{}, err
	}
	lot := Lot{AccountID: account.ID, Amount: p.Credits, Source: EntryPurchase, Reference: p.SessionID, CreatedAt: p.CreatedAt}
	if pack.ExpiresAfterDays != nil {
		expires := p.CreatedAt.Add(time.Duration(*pack.ExpiresAfterDays) * 24 * time.Hour)
		lot.ExpiresAt = &expires
	}
	entry := Entry{
		AccountID: account.ID, Amount: p.Credits, Kind: EntryPurchase, Reference: p.SessionID,
		Description: fmt.Sprintf("%d × %s", p.Quantity, pack.Name), CreatedAt: p.CreatedAt,
	}
	account.Trial = false
	account, entry, _, err = addLot(locked, account, entry, lot)
	return account, entry, err
}

// Wake tells the worker that an event is waiting.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunWorker processes pending events until ctx ends: when woken, and every
// interval for retries that have come due.
func (s *Service) RunWorker(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		for {
			n, err := s.ProcessPending(ctx)
			if err != nil && ctx.Err() == nil {
				s.Logger.Error("process pending events", "error", err)
			}
			if n < eventClaimBatch || err != nil {
				break
			}
		}
		s.workRecharges(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-ticker.C:
		}
	}
}

// ProcessPending claims due pending events and processes them; it returns how
// many it claimed.
func (s *Service) ProcessPending(ctx context.Context) (int, error) {
	var claimed []Event
	err := s.Store.Update(ctx, func(tx Tx) (err error) {
		claimed, err = tx.ClaimEvents(s.now(), eventClaimLease, eventClaimBatch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim events: %w", err)
	}
	for _, ev := range claimed {
		if err := s.processPending(ctx, ev); err != nil {
			return len(claimed), err
		}
	}
	return len(claimed), nil
}

// processPending matches a foreign session through the Stripe API, then
// applies the event in one transaction.
func (s *Service) processPending(ctx context.Context, ev Event) error {
	var remote StripeSession
	var lookupErr error
	if s.Payments == nil {
		lookupErr = errors.New("cannot read the session's line items: " + s.PaymentsMissing)
	} else {
		remote, lookupErr = s.Payments.RetrieveSession(ctx, ev.SessionID, true)
	}
	now := s.now()
	return s.update(ctx, func(tx Tx) error {
		current, err := tx.Event(ev.ID)
		if err != nil {
			return err
		}
		if current.Status != EventPending {
			return nil
		}
		current.Attempts++
		if lookupErr != nil {
			return tx.UpdateEvent(retryLater(current, lookupErr, now))
		}
		status, reason, err := s.applyForeign(tx, current, remote, now)
		if err != nil {
			return err
		}
		current.Status, current.Error, current.ProcessedAt = status, reason, &now
		if status == EventUnmatched {
			s.Logger.Warn("stripe event unmatched", "event", current.ID, "session", current.SessionID, "reason", reason)
		}
		return tx.UpdateEvent(current)
	})
}

func retryLater(ev Event, cause error, now time.Time) Event {
	ev.Error = cause.Error()
	if ev.Attempts >= MaxEventAttempts {
		ev.Status = EventFailed
		ev.ProcessedAt = &now
		return ev
	}
	delay := retryBaseDelay << min(ev.Attempts-1, 12)
	ev.NextAttempt = now.Add(min(delay, retryMaxDelay))
	return ev
}

// applyForeign matches a session we did not create as the original app did:
// the account by client_reference_id, else metadata, else email; the pack by
// the price of its line item. It records the session, then credits it.
func (s *Service) applyForeign(tx Tx, ev Event, remote StripeSession, now time.Time) (status, reason string, err error) {
	cs, err := tx.CheckoutSession(ev.SessionID)
	if err == nil { // recorded meanwhile (another event for the same session)
		return s.applyToSession(tx, ev, cs, now)
	} else if !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	session := *ev.Session
	session.LineItems = remote.LineItems
	account, reason, err := matchAccount(tx, session)
	if err != nil || reason != "" {
		return EventUnmatched, reason, err
	}
	if len(session.LineItems) != 1 {
		return EventUnmatched, fmt.Sprintf("session has %d line items; one is expected", len(session.LineItems)), nil
	}
	item := session.LineItems[0]
	pack, err := tx.PackByPriceID(item.PriceID)
	if errors.Is(err, ErrNotFound) {
		return EventUnmatched, fmt.Sprintf("no pack has stripe_price_id %s", item.PriceID), nil
	} else if err != nil {
		return "", "", err
	}
	if err := ValidateQuantity(item.Quantity); err != nil {
		return EventUnmatched, fmt.Sprintf("line item quantity %d is out of range", item.Quantity), nil
	}
	cs = CheckoutSession{
		ID: session.ID, AccountID: account.ID, PackID: pack.ID, Quantity: item.Quantity,
		ExpectedAmount: pack.UnitAmount * item.Quantity, Currency: pack.Currency,
		Status: SessionOpen, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.CreateCheckoutSession(cs); errors.Is(err, ErrConflict) {
		return "", "", errRetry // matched meanwhile by another event's worker
	} else if err != nil {
		return "", "", err
	}
	return s.applyToSession(tx, ev, cs, now)
}

// showEmail writes an email for an operator: as it is when it is ASCII,
// quoted with its other characters escaped (\u212a) otherwise, so that a
// look-alike shows as one.
func showEmail(email string) string {
	for _, r := range email {
		if r >= utf8.RuneSelf {
			return strconv.QuoteToASCII(email)
		}
	}
	return email
}

// matchAccount finds the account of a foreign session; reason says why none
// was found.
func matchAccount(tx Tx, session StripeSession) (account Account, reason string, err error) {
	var tried []string
	for _, candidate := range []struct{ field, id string }{
		{"client_reference_id", session.ClientReferenceID},
		{"metadata.account_id", session.Metadata["account_id"]},
	} {
		if candidate.id == "" {
			continue
		}
		account, err = tx.Account(candidate.id)
		if err == nil {
			return account, "", nil
		}
		if !errors.Is(err, ErrNotFound) {
			return account, "", err
		}
		tried = append(tried, fmt.Sprintf("no account %s (%s)", candidate.id, candidate.field))
	}
	if session.Email == "" {
		tried = append(tried, "no customer email")
		return account, "account not found: " + strings.Join(tried, "; "), nil
	}
	email := NormalizeEmail(session.Email) // exactly, as mail is delivered: a look-alike is another address
	accounts, err := tx.AccountsByEmail(email)
	if err != nil {
		return account, "", err
	}
	switch len(accounts) {
	case 1:
		return accounts[0], "", nil
	case 0:
		tried = append(tried, "no account with email "+showEmail(email))
	default:
		tried = append(tried, fmt.Sprintf("email %s is shared by %d accounts", showEmail(email), len(accounts)))
	}
	return account, "account not found: " + strings.Join(tried, "; "), nil
}
