package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ProcessRecharges claims due recharges and works on each: a pending one is
// charged off-session, one that waits for the customer gets its Checkout
// link. The claim (a lease) is held for the whole Stripe call, so that no
// other replica works on the same recharge meanwhile; and whoever works on
// it sends the same idempotency key, so that Stripe charges at most once.
// It returns how many it claimed.
func (s *Service) ProcessRecharges(ctx context.Context) (int, error) {
	if s.Payments == nil {
		return 0, nil
	}
	var claimed []Recharge
	err := s.Store.Update(ctx, func(tx Tx) (err error) {
		claimed, err = tx.ClaimRecharges(s.now(), s.RechargeLease, rechargeClaimBatch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim recharges: %w", err)
	}
	for _, r := range claimed {
		if err := s.workRecharge(ctx, r); err != nil {
			return len(claimed), fmt.Errorf("recharge %s: %w", r.ID, err)
		}
	}
	return len(claimed), nil
}

func (s *Service) workRecharge(ctx context.Context, r Recharge) error {
	if r.Status == RechargeActionRequired {
		return s.linkRecharge(ctx, r)
	}
	ar, err := viewOne(ctx, s, "auto-recharge of account", r.AccountID, Tx.AutoRecharge)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	if ar.Card == nil || ar.CustomerID == "" {
		return s.update(ctx, func(tx Tx) error {
			_, _, err := s.declineRecharge(tx, r.ID, "", "no saved card to charge", s.now())
			return err
		})
	}
	res, chargeErr := s.Payments.ChargeOffSession(ctx, OffSessionCharge{
		IdempotencyKey: r.ID, CustomerID: ar.CustomerID, PaymentMethodID: ar.Card.PaymentMethodID,
		Amount: r.Amount, Currency: r.Currency, Description: fmt.Sprintf("Auto-recharge: %d credits", r.Credits),
		Metadata: map[string]string{"account_id": r.AccountID, "pack_id": r.PackID, "quantity": fmt.Sprint(r.Quantity), RechargeMetadataKey: r.ID},
	})
	if chargeErr != nil {
		return s.rechargeUnanswered(ctx, r, chargeErr)
	}
	needsLink := false
	err = s.update(ctx, func(tx Tx) error {
		now := s.now()
		var err error
		switch {
		case res.Status == "succeeded":
			_, _, err = s.creditRecharge(tx, r.ID, StripePaymentIntent{ID: res.PaymentIntent, Status: res.Status, Amount: res.Amount, Currency: res.Currency}, "", now)
		case res.needsAuthentication():
			needsLink, err = s.askCustomer(tx, r.ID, res.PaymentIntent, res.reason(), now)
		case res.Status == "processing":
			err = s.markProcessing(tx, r.ID, res.PaymentIntent, now)
		default:
			_, _, err = s.declineRecharge(tx, r.ID, res.PaymentIntent, res.reason(), now)
		}
		return err
	})
	if err != nil || !needsLink {
		return err
	}
	r.Status = RechargeActionRequired
	return s.linkRecharge(ctx, r)
}

// rechargeUnanswered keeps a recharge pending when Stripe gave no answer
// (the network, a 5xx): the next try sends the same idempotency key, so a
// charge that did happen is answered again, not made twice. After
// rechargeGiveUpAfter Stripe may have forgotten the key: the recharge fails.
func (s *Service) rechargeUnanswered(ctx context.Context, r Recharge, cause error) error {
	s.Logger.Warn("recharge: no answer from the payment provider; it will be asked again with the same idempotency key", "recharge", r.ID, "error", cause)
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		if now.Sub(r.CreatedAt) > rechargeGiveUpAfter {
			_, _, err := s.declineRecharge(tx, r.ID, "", "the payment provider did not answer for a day: "+cause.Error(), now)
			return err
		}
		locked, err := tx.LockAccount(r.AccountID)
		if err != nil {
			return err
		}
		current, err := tx.Recharge(r.ID)
		if err != nil || current.Status != RechargePending {
			return err
		}
		current.Error, current.NextAttemptAt, current.LockedUntil, current.UpdatedAt = cause.Error(), now.Add(rechargeTransientDelay), time.Time{}, now
		return locked.UpdateRecharge(current)
	})
}

// lockRecharge locks a recharge's account, then reads the recharge as the
// lock leaves it: every change of a recharge's status happens under its
// account's lock.
func (s *Service) lockRecharge(tx Tx, id string) (LockedAccount, Recharge, error) {
	r, err := tx.Recharge(id)
	if err != nil {
		return nil, r, err
	}
	locked, err := tx.LockAccount(r.AccountID)
	if err != nil {
		return nil, r, err
	}
	r, err = tx.Recharge(id)
	return locked, r, err
}

// creditRecharge adds a paid recharge's credits once: the payment intent is
// the payment's key, so the confirm answer and payment_intent.succeeded (in
// any order, any number of times) end in one credit. eventID is the Stripe
// event that said so, or "" for the confirm answer.
func (s *Service) creditRecharge(tx Tx, rechargeID string, pi StripePaymentIntent, eventID string, now time.Time) (status, reason string, err error) {
	payment, fresh, err := tx.LockPayment(pi.ID, now)
	if err != nil {
		return "", "", err
	}
	if payment.AccountID != "" {
		return EventProcessed, "payment " + pi.ID + " already credited: nothing added", nil
	}
	_, r, err := s.lockRecharge(tx, rechargeID)
	if errors.Is(err, ErrNotFound) {
		return EventUnmatched, "recharge " + rechargeID + " not found", nil
	} else if err != nil {
		return "", "", err
	}
	if pi.Amount != r.Amount || pi.Currency != r.Currency {
		return EventUnmatched, MismatchPrefix + fmt.Sprintf("paid %s, recharge of %s", FormatMoney(pi.Amount, pi.Currency), FormatMoney(r.Amount, r.Currency)), nil
	}
	locked, account, err := s.settle(tx, r.AccountID, now)
	if err != nil {
		return "", "", err
	}
	pack, err := tx.Pack(r.PackID)
	if err != nil {
		return "", "", err
	}
	if _, err := AddCredits(account.Balance, r.Credits); err != nil {
		return EventFailed, "recharge would overflow the balance", nil
	}
	wasFailed := r.Status == RechargeFailed
	p := Purchase{AccountID: r.AccountID, PackID: r.PackID, Quantity: r.Quantity, Credits: r.Credits, AmountPaid: pi.Amount,
		Currency: pi.Currency, SessionID: r.ID, PaymentIntent: pi.ID, EventID: eventID, CreatedAt: now}
	account, entry, err := s.writePurchase(locked, &p, account, pack)
	if err != nil {
		return "", "", err
	}
	payment.AccountID, payment.SessionID, payment.PackID, payment.Quantity, payment.Credits = r.AccountID, r.ID, r.PackID, r.Quantity, r.Credits
	payment.SoldAmount, payment.PaidAmount, payment.Currency, payment.UpdatedAt, payment.Posted = r.Amount, pi.Amount, pi.Currency, now, r.Credits
	if err := locked.RecordPurchase(payment); err != nil {
		return "", "", err
	}
	if err := locked.LinkPaymentEntry(entry.ID, payment.ID); err != nil {
		return "", "", err
	}
	r.Status, r.PaymentIntent, r.Error, r.LockedUntil, r.UpdatedAt = RechargeSucceeded, pi.ID, "", time.Time{}, now
	if err := locked.UpdateRecharge(r); err != nil {
		return "", "", err
	}
	if wasFailed {
		// Stripe took the money after all: its retry must not charge again.
		if err := cancelWaitingRecharge(locked, now, "recharge "+r.ID+" was paid after all"); err != nil {
			return "", "", err
		}
	}
	if err := emit(locked, OutPurchaseCompleted, p, now); err != nil {
		return "", "", err
	}
	if err := emit(locked, OutRechargeSucceeded, r, now); err != nil {
		return "", "", err
	}
	s.logAfterCommit(tx, "recharge credited", "account", r.AccountID, "credits", r.Credits, "recharge", r.ID, "payment_intent", pi.ID)
	if fresh {
		return EventProcessed, "", s.watch(tx, locked, account, now)
	}
	return s.reconcile(tx, payment, EntryRefund, payment.ID, now)
}

// declineRecharge records a failed charge: recharge.failed, then a retry
// after RechargeRetryDelay, or, after MaxRechargeAttempts, auto-recharge
// turns itself off and says why (auto_recharge.disabled).
func (s *Service) declineRecharge(tx Tx, rechargeID, paymentIntent, reason string, now time.Time) (status, why string, err error) {
	locked, r, err := s.lockRecharge(tx, rechargeID)
	if errors.Is(err, ErrNotFound) {
		return EventUnmatched, "recharge " + rechargeID + " not found", nil
	} else if err != nil {
		return "", "", err
	}
	if r.Status != RechargePending && r.Status != RechargeProcessing {
		return EventProcessed, "recharge " + r.ID + " is already " + r.Status + ": nothing changed", nil
	}
	if paymentIntent != "" {
		r.PaymentIntent = paymentIntent
	}
	r.Status, r.Error, r.LockedUntil, r.UpdatedAt = RechargeFailed, reason, time.Time{}, now
	if err := locked.UpdateRecharge(r); err != nil {
		return "", "", err
	}
	if err := emit(locked, OutRechargeFailed, r, now); err != nil {
		return "", "", err
	}
	s.Logger.Warn("recharge failed", "account", r.AccountID, "recharge", r.ID, "attempt", r.Attempt, "reason", reason)
	ar, err := autoRechargeOf(locked, now)
	if err != nil || !ar.Enabled {
		return EventProcessed, "recharge failed: " + reason, err
	}
	if r.Attempt < MaxRechargeAttempts && ar.Card != nil {
		pack, err := tx.Pack(r.PackID)
		if err != nil {
			return "", "", err
		}
		ar.PackID, ar.Quantity = r.PackID, r.Quantity
		_, err = s.recordRecharge(locked, ar, pack, r.Attempt+1, now.Add(RechargeRetryDelay), now)
		return EventProcessed, "recharge failed, to be tried again: " + reason, err
	}
	return EventProcessed, "recharge failed: " + reason, s.disableAutoRecharge(locked, ar, fmt.Sprintf("recharge failed %d times; last: %s", r.Attempt, reason), now)
}

// disableAutoRecharge turns an account's auto-recharge off and says why.
func (s *Service) disableAutoRecharge(locked LockedAccount, ar AutoRecharge, reason string, now time.Time) error {
	if !ar.Enabled {
		return nil
	}
	ar.Enabled, ar.DisabledReason, ar.UpdatedAt = false, reason, now
	if err := locked.SaveAutoRecharge(ar); err != nil {
		return err
	}
	if err := cancelWaitingRecharge(locked, now, "auto-recharge was turned off: "+reason); err != nil {
		return err
	}
	s.Logger.Warn("auto-recharge turned off", "account", ar.AccountID, "reason", reason)
	return emit(locked, OutAutoRechargeDisabled, map[string]any{"account_id": ar.AccountID, "reason": reason}, now)
}

// askCustomer records that the bank wants the customer to authenticate:
// the recharge waits for them, and a Checkout link for the same pack is made
// next (it needs a call to Stripe, outside this transaction). It reports
// whether the link is still to be made.
func (s *Service) askCustomer(tx Tx, rechargeID, paymentIntent, reason string, now time.Time) (bool, error) {
	locked, r, err := s.lockRecharge(tx, rechargeID)
	if err != nil {
		return false, err
	}
	if r.Status != RechargePending && r.Status != RechargeProcessing {
		return false, nil
	}
	r.Status, r.PaymentIntent, r.Error, r.NextAttemptAt, r.UpdatedAt = RechargeActionRequired, paymentIntent, reason, now, now
	return true, locked.UpdateRecharge(r)
}

func (s *Service) markProcessing(tx Tx, rechargeID, paymentIntent string, now time.Time) error {
	locked, r, err := s.lockRecharge(tx, rechargeID)
	if err != nil || r.Status != RechargePending {
		return err
	}
	r.Status, r.PaymentIntent, r.LockedUntil, r.UpdatedAt = RechargeProcessing, paymentIntent, time.Time{}, now
	return locked.UpdateRecharge(r)
}

// linkRecharge makes the Checkout link of a recharge that waits for the
// customer (a session like any purchase's, so that paying it credits the
// pack), then writes recharge.action_required with it.
func (s *Service) linkRecharge(ctx context.Context, r Recharge) error {
	var account Account
	var pack Pack
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		if account, err = tx.Account(r.AccountID); err != nil {
			return err
		}
		pack, err = tx.Pack(r.PackID)
		return err
	})
	if err != nil {
		return err
	}
	req := CheckoutRequest{Account: account, Pack: pack, Quantity: r.Quantity, SuccessURL: s.RechargeReturnURLs.Success,
		CancelURL: s.RechargeReturnURLs.Cancel, Reference: r.ID, IdempotencyKey: "credits-recharge-checkout-" + r.ID}
	id, url, linkErr := s.Payments.CreateCheckoutSession(ctx, req)
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != RechargeActionRequired || current.ActionURL != "" {
			return err
		}
		if linkErr != nil {
			s.Logger.Warn("recharge: cannot make the customer's Checkout link yet", "recharge", r.ID, "error", linkErr)
			current.NextAttemptAt, current.LockedUntil, current.UpdatedAt = now.Add(rechargeTransientDelay), time.Time{}, now
			return locked.UpdateRecharge(current)
		}
		cs := CheckoutSession{ID: id, AccountID: r.AccountID, PackID: r.PackID, Quantity: r.Quantity, ExpectedAmount: r.Amount,
			Currency: r.Currency, Status: SessionOpen, URL: url, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateCheckoutSession(cs); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		current.CheckoutSessionID, current.ActionURL, current.LockedUntil, current.UpdatedAt = id, url, time.Time{}, now
		if err := locked.UpdateRecharge(current); err != nil {
			return err
		}
		return emit(locked, OutRechargeActionRequired, current, now)
	})
}

// settleRechargeSession ends a recharge that waited for the customer when
// its Checkout session is paid (succeeded) or expires (canceled: a later
// debit may record a new one). The account is locked.
func settleRechargeSession(tx Tx, locked LockedAccount, session StripeSession, status string, now time.Time) error {
	id := session.Metadata["credits_checkout"]
	if !isRechargeReference(id) {
		return nil
	}
	r, err := tx.Recharge(id)
	if errors.Is(err, ErrNotFound) || (err == nil && (r.Status != RechargeActionRequired || r.AccountID != locked.Account().ID)) {
		return nil
	} else if err != nil {
		return err
	}
	r.Status, r.LockedUntil, r.UpdatedAt = status, time.Time{}, now
	if status == RechargeSucceeded {
		r.Error = "paid by the customer through Checkout session " + session.ID
		if err := emit(locked, OutRechargeSucceeded, r, now); err != nil {
			return err
		}
	} else {
		r.Error = "the customer's Checkout session " + session.ID + " expired"
	}
	return locked.UpdateRecharge(r)
}

// workRecharges reads saved cards and works on due recharges, logging what
// fails (the next round tries again).
func (s *Service) workRecharges(ctx context.Context) {
	if _, err := s.ReadSavedCards(ctx); err != nil && ctx.Err() == nil {
		s.Logger.Error("read saved cards", "error", err)
	}
	for {
		n, err := s.ProcessRecharges(ctx)
		if err != nil && ctx.Err() == nil {
			s.Logger.Error("process recharges", "error", err)
		}
		if n < rechargeClaimBatch || err != nil {
			return
		}
	}
}
