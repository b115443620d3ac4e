package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ProcessRecharges claims due recharges and works on each: a pending one is
// charged off-session (looked up in Stripe first if it was sent before), a
// processing one is read back from Stripe, one that waits for the customer
// gets its Checkout link or has it checked, and one that ended with its
// link open has the link expired. The claim (a lease) outlasts every
// Stripe call made under it (each gets a deadline within the lease), so
// that no other replica works on the same recharge meanwhile; and whoever
// works on it sends the same idempotency key, so that Stripe charges at
// most once. It returns how many it claimed.
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
	// The calls end well within the lease (in real time: the lease is
	// counted from the claim); what is left when too little time remains
	// is claimed again once the lease runs out.
	deadline := time.Now().Add(s.RechargeLease * 3 / 4)
	callCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, r := range claimed {
		if time.Until(deadline) < s.RechargeLease/4 {
			break
		}
		if err := s.workRecharge(callCtx, r); err != nil {
			return len(claimed), fmt.Errorf("recharge %s: %w", r.ID, err)
		}
	}
	return len(claimed), nil
}

func (s *Service) workRecharge(ctx context.Context, r Recharge) error {
	switch {
	case r.Status == RechargeActionRequired && r.ActionURL == "":
		return s.linkRecharge(ctx, r)
	case r.Status == RechargeActionRequired:
		return s.checkLink(ctx, r)
	case !r.InFlight():
		return s.closeLink(ctx, r)
	case r.Status == RechargeProcessing:
		return s.checkProcessing(ctx, r)
	case r.SentAt != nil:
		// Sent before with no answer recorded: Stripe may have charged,
		// and may have forgotten the key.
		return s.lookUpRecharge(ctx, r)
	}
	return s.chargeRecharge(ctx, r)
}

// chargeRecharge sends a pending recharge's charge. The send is recorded
// first, so that a crash mid-call leaves a recharge that is looked up in
// Stripe before it is sent again.
func (s *Service) chargeRecharge(ctx context.Context, r Recharge) error {
	ar, err := viewOne(ctx, s, "auto-recharge of account", r.AccountID, Tx.AutoRecharge)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	if ar.Card == nil || ar.CustomerID == "" {
		return s.update(ctx, func(tx Tx) error {
			_, _, err := s.declineRecharge(tx, r.ID, ChargeResult{Message: "no saved card to charge"}, s.now())
			return err
		})
	}
	r, ok, err := s.markSent(ctx, r, ar.CustomerID)
	if err != nil || !ok {
		return err
	}
	res, chargeErr := s.Payments.ChargeOffSession(ctx, OffSessionCharge{
		IdempotencyKey: r.IdempotencyKey(), CustomerID: r.CustomerID, PaymentMethodID: ar.Card.PaymentMethodID,
		Amount: r.Amount, Currency: r.Currency, Description: fmt.Sprintf("Auto-recharge: %d credits", r.Credits),
		Metadata: map[string]string{"account_id": r.AccountID, "pack_id": r.PackID, "quantity": fmt.Sprint(r.Quantity), RechargeMetadataKey: r.ID},
	})
	if chargeErr != nil {
		return s.rechargeUnanswered(ctx, r, treatmentOf(chargeErr))
	}
	return s.applyChargeResult(ctx, r, res)
}

// markSent records that a recharge's charge goes to Stripe now, for which
// customer; it reports false when the recharge is no longer pending.
func (s *Service) markSent(ctx context.Context, r Recharge, customerID string) (Recharge, bool, error) {
	sent := false
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != RechargePending {
			return err
		}
		if current.SentAt == nil {
			current.SentAt = &now
		}
		if current.CustomerID == "" {
			current.CustomerID = customerID
		}
		current.UpdatedAt = now
		r, sent = current, true
		return locked.UpdateRecharge(current)
	})
	return r, sent, err
}

// applyChargeResult moves a recharge on from what Stripe answered of its
// payment (the charge's answer, or a payment intent read back).
func (s *Service) applyChargeResult(ctx context.Context, r Recharge, res ChargeResult) error {
	needsLink := false
	err := s.update(ctx, func(tx Tx) error {
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
			_, _, err = s.declineRecharge(tx, r.ID, res, now)
		}
		return err
	})
	if err != nil || !needsLink {
		return err
	}
	r.Status = RechargeActionRequired
	return s.linkRecharge(ctx, r)
}

// lookUpRecharge asks Stripe what became of a recharge that was sent before
// without a recorded answer, and continues from what it finds; only when
// Stripe has no payment for it is the charge sent again (under the next
// key when the old one can only replay an error).
func (s *Service) lookUpRecharge(ctx context.Context, r Recharge) error {
	customerID := r.CustomerID
	if customerID == "" {
		ar, err := viewOne(ctx, s, "auto-recharge of account", r.AccountID, Tx.AutoRecharge)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		customerID = ar.CustomerID
	}
	var found []StripePaymentIntent
	if customerID != "" {
		var err error
		// Stripe's created times are on its clock, not the test clock's.
		found, err = s.Payments.RechargePayments(ctx, customerID, r.ID, s.stripeTime(r.CreatedAt.Add(-rechargeLookUpMargin)))
		if err != nil {
			return s.lookUpFailed(ctx, r, err)
		}
	}
	if pi, ok := bestPayment(found); ok {
		s.Logger.Info("recharge: found in Stripe; continuing from its payment intent", "recharge", r.ID, "payment_intent", pi.ID, "status", pi.Status)
		return s.applyChargeResult(ctx, r, resultOf(pi))
	}
	if ended, err := s.endUnpaid(ctx, r); err != nil || ended {
		return err
	}
	if r.KeySpent {
		var ok bool
		var err error
		if r, ok, err = s.nextKey(ctx, r); err != nil || !ok {
			return err
		}
	}
	return s.chargeRecharge(ctx, r)
}

// lookUpFailed keeps a recharge whose look-up failed pending, asked again
// later; after a day of failed look-ups it fails without a retry and turns
// auto-recharge off with the reason (a late payment_intent.succeeded still
// credits it), rather than block the account's recharges for ever.
func (s *Service) lookUpFailed(ctx context.Context, r Recharge, cause error) error {
	if r.SentAt == nil || s.now().Sub(*r.SentAt) <= rechargeGiveUpAfter {
		return s.rechargeUnanswered(ctx, r, &PaymentFailure{Treatment: TreatRetry, Err: fmt.Errorf("look the recharge up: %w", cause)})
	}
	s.Logger.Error("recharge: Stripe could not be asked about it for a day; it needs an operator", "recharge", r.ID, "error", cause)
	return s.update(ctx, func(tx Tx) error {
		_, _, err := s.declineRecharge(tx, r.ID, ChargeResult{Code: codeNotLookedUp,
			Message: "Stripe could not be asked for a day whether it was charged (" + cause.Error() + "); a payment Stripe reports later is still credited"}, s.now())
		return err
	})
}

// codeNotLookedUp is the failure of a recharge that Stripe could not be
// asked about: it is not sent again, and auto-recharge turns off.
const codeNotLookedUp = "not_looked_up"

// endUnpaid ends a recharge that a look-up shows took no money when it
// should not be sent again: auto-recharge was turned off or the card
// removed meanwhile (canceled), or it got no usable answer for a day since
// it was first sent (failed). It reports whether it ended it.
func (s *Service) endUnpaid(ctx context.Context, r Recharge) (bool, error) {
	ended := false
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != RechargePending {
			return err
		}
		ar, err := autoRechargeOf(locked, now)
		if err != nil {
			return err
		}
		switch {
		case !ar.Enabled || ar.Card == nil:
			ended = true
			current.Status, current.Error, current.LockedUntil, current.UpdatedAt = RechargeCanceled,
				"auto-recharge was turned off or the card removed, and Stripe has no payment for it", time.Time{}, now
			return locked.UpdateRecharge(current)
		case current.SentAt != nil && now.Sub(*current.SentAt) > rechargeGiveUpAfter:
			ended = true
			_, _, err := s.declineRecharge(tx, r.ID, ChargeResult{Message: "Stripe gave no usable answer for a day, and has no payment for it"}, now)
			return err
		}
		return nil
	})
	return ended, err
}

// nextKey moves a recharge to its next idempotency key, once a look-up
// showed that Stripe made no payment under the old one.
func (s *Service) nextKey(ctx context.Context, r Recharge) (Recharge, bool, error) {
	moved := false
	err := s.update(ctx, func(tx Tx) error {
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != RechargePending || current.KeyGeneration != r.KeyGeneration {
			return err
		}
		current.KeyGeneration, current.KeySpent, current.UpdatedAt = current.KeyGeneration+1, false, s.now()
		r, moved = current, true
		return locked.UpdateRecharge(current)
	})
	return r, moved, err
}

// bestPayment picks, of the payment intents Stripe holds for one recharge,
// the one that says the most: money taken, then on its way, then waiting
// for the customer, then declined. Canceled and unconfirmed ones took
// nothing and can take nothing.
func bestPayment(found []StripePaymentIntent) (StripePaymentIntent, bool) {
	rank := func(pi StripePaymentIntent) int {
		switch pi.Status {
		case "succeeded":
			return 5
		case "processing":
			return 4
		case "requires_action":
			return 3
		case "requires_payment_method":
			if pi.Code != "" {
				return 2
			}
		}
		return 0
	}
	var best StripePaymentIntent
	for _, pi := range found {
		if rank(pi) > rank(best) {
			best = pi
		}
	}
	return best, rank(best) > 0
}

// resultOf reads a payment intent as the answer to its charge.
func resultOf(pi StripePaymentIntent) ChargeResult {
	return ChargeResult{PaymentIntent: pi.ID, Status: pi.Status, Amount: pi.Amount, Currency: pi.Currency,
		Code: pi.Code, DeclineCode: pi.DeclineCode, Message: pi.Message}
}

// rechargeUnanswered treats a charge that got no usable answer as its
// failure's treatment says: the attempt fails (Stripe refused it), or the
// recharge stays pending and is looked up in Stripe before the next send
// (under the next key when the old one can only replay an error).
func (s *Service) rechargeUnanswered(ctx context.Context, r Recharge, f *PaymentFailure) error {
	s.Logger.Warn("recharge: no usable answer from the payment provider", "recharge", r.ID, "treatment", f.Treatment, "error", f.Error())
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		if f.Treatment == TreatFail {
			_, _, err := s.declineRecharge(tx, r.ID, ChargeResult{Code: f.Code, Message: f.Message}, now)
			return err
		}
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != RechargePending {
			return err
		}
		wait := retryDelay(current, now)
		if f.Treatment == TreatLookUpNewKey && current.KeyGeneration == r.KeyGeneration {
			current.KeySpent = true
			if f.HTTPStatus >= 500 {
				wait = max(wait, rechargeAfterServerError)
			}
		}
		current.Error, current.NextAttemptAt, current.LockedUntil, current.UpdatedAt = f.Error(), now.Add(wait), time.Time{}, now
		return locked.UpdateRecharge(current)
	})
}

// retryDelay backs a recharge that gets no usable answer off: 30 seconds at
// first, a tenth of the time since it was first sent later, at most
// rechargeMaxRetryDelay.
func retryDelay(r Recharge, now time.Time) time.Duration {
	if r.SentAt == nil {
		return rechargeTransientDelay
	}
	return min(max(now.Sub(*r.SentAt)/10, rechargeTransientDelay), rechargeMaxRetryDelay)
}

// checkProcessing reads back a payment that Stripe was processing for
// longer than RechargeCheckAfter: its event may never come.
func (s *Service) checkProcessing(ctx context.Context, r Recharge) error {
	pi, err := s.Payments.RetrievePaymentIntent(ctx, r.PaymentIntent)
	if err == nil && pi.Status != "processing" {
		return s.applyChargeResult(ctx, r, resultOf(pi))
	}
	if err != nil {
		s.Logger.Warn("recharge: cannot read its payment intent yet", "recharge", r.ID, "payment_intent", r.PaymentIntent, "error", err)
	}
	return s.recheckLater(ctx, r, s.rechargeCheckAfter())
}

// recheckLater leaves a recharge as it is, due again after wait.
func (s *Service) recheckLater(ctx context.Context, r Recharge, wait time.Duration) error {
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.Status != r.Status || current.LinkOpen != r.LinkOpen {
			return err
		}
		current.NextAttemptAt, current.LockedUntil, current.UpdatedAt = now.Add(wait), time.Time{}, now
		return locked.UpdateRecharge(current)
	})
}

func (s *Service) rechargeCheckAfter() time.Duration {
	if s.RechargeCheckAfter > 0 {
		return s.RechargeCheckAfter
	}
	return DefaultRechargeCheckAfter
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
	if r.Status == RechargeSucceeded && r.PaymentIntent != "" && r.PaymentIntent != pi.ID {
		s.Logger.Error("recharge charged twice: the second payment waits for an operator", "recharge", r.ID, "credited", r.PaymentIntent, "second", pi.ID)
		return EventUnmatched, fmt.Sprintf("charged twice: recharge %s was already paid by %s; refund this one (stripe refunds create --payment-intent=%s)",
			r.ID, r.PaymentIntent, pi.ID), nil
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
	if err := markRechargePaid(locked, r, p, now); err != nil {
		return "", "", err
	}
	s.logAfterCommit(tx, "recharge credited", "account", r.AccountID, "credits", r.Credits, "recharge", r.ID, "payment_intent", pi.ID)
	if fresh {
		return EventProcessed, "", s.alertAndRechargeIfLow(tx, locked, account, now)
	}
	return s.reconcile(tx, payment, EntryRefund, payment.ID, now)
}

// markRechargePaid ends a recharge whose payment p was credited, and tells
// the application. A recharge that had failed, or waited for the customer,
// was paid after all: its retry (or its link) must not charge again.
func markRechargePaid(locked LockedAccount, r Recharge, p Purchase, now time.Time) error {
	paidAfterAll := r.Status == RechargeFailed || r.Status == RechargeActionRequired
	r.Status, r.PaymentIntent, r.Error, r.LockedUntil, r.UpdatedAt = RechargeSucceeded, p.PaymentIntent, "", time.Time{}, now
	if r.LinkOpen {
		r.NextAttemptAt = now // paid off-session after all: its link is expired
	}
	if err := locked.UpdateRecharge(r); err != nil {
		return err
	}
	if paidAfterAll {
		if err := cancelWaitingRecharge(locked, now, "recharge "+r.ID+" was paid after all"); err != nil {
			return err
		}
	}
	if err := emit(locked, OutPurchaseCompleted, p, now); err != nil {
		return err
	}
	return emit(locked, OutRechargeSucceeded, r, now)
}

// declineRecharge records a failed charge: recharge.failed, then what its
// kind of decline calls for: a hard decline (the card is lost, stolen,
// fraudulent, …) turns auto-recharge off at once; a transient one gets one
// sooner retry that does not count; any other is tried again after
// RechargeRetryDelay, and after MaxRechargeAttempts auto-recharge turns
// itself off and says why (auto_recharge.disabled).
func (s *Service) declineRecharge(tx Tx, rechargeID string, res ChargeResult, now time.Time) (status, why string, err error) {
	locked, r, err := s.lockRecharge(tx, rechargeID)
	if errors.Is(err, ErrNotFound) {
		return EventUnmatched, "recharge " + rechargeID + " not found", nil
	} else if err != nil {
		return "", "", err
	}
	if r.Status != RechargePending && r.Status != RechargeProcessing {
		return EventProcessed, "recharge " + r.ID + " is already " + r.Status + ": nothing changed", nil
	}
	if otherPayment(r, res.PaymentIntent) {
		return EventProcessed, "payment intent " + res.PaymentIntent + " is not the one recharge " + r.ID + " waits on (" + r.PaymentIntent + "): nothing changed", nil
	}
	reason := res.reason()
	if res.PaymentIntent != "" {
		r.PaymentIntent = res.PaymentIntent
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
	kind := declineKind(res)
	retry := func(attempt int64, wait time.Duration, soft bool) (string, string, error) {
		pack, err := tx.Pack(r.PackID)
		if err != nil {
			return "", "", err
		}
		ar.PackID, ar.Quantity = r.PackID, r.Quantity
		_, err = s.recordRecharge(locked, ar, pack, rechargeTry{attempt: attempt, due: now.Add(wait), soft: soft}, now)
		return EventProcessed, "recharge failed, to be tried again: " + reason, err
	}
	switch {
	case kind == declineHard:
		why := "the card was declined and cannot be charged again (" + reason + "): save another card"
		return EventProcessed, "recharge failed: " + reason, s.disableAutoRecharge(locked, ar, why, now)
	case ar.Card == nil:
	case kind == declineSoft && !r.SoftRetry:
		return retry(r.Attempt, rechargeSoftRetryDelay, true)
	case r.Attempt < MaxRechargeAttempts:
		return retry(r.Attempt+1, RechargeRetryDelay, false)
	}
	return EventProcessed, "recharge failed: " + reason, s.disableAutoRecharge(locked, ar, fmt.Sprintf("recharge failed %d times; last: %s", r.Attempt, reason), now)
}

// otherPayment reports whether a payment intent is not the one a recharge
// waits on: once a recharge knows its payment intent, what Stripe says of
// another (an earlier try that Stripe settled late) does not move it, or it
// would end while the payment it waits on goes through.
func otherPayment(r Recharge, paymentIntent string) bool {
	return paymentIntent != "" && r.PaymentIntent != "" && paymentIntent != r.PaymentIntent
}

// Kinds of declines, by what a retry can do about them.
const (
	declineOther = iota
	declineHard  // the card will never pay: no retry
	declineSoft  // the bank or the network failed for a moment: one sooner retry
)

// hardDeclines and softDeclines are Stripe's decline codes (and error codes)
// by what a retry can do: https://docs.stripe.com/declines/codes.
var (
	hardDeclines = map[string]bool{codeNotLookedUp: true, "lost_card": true, "stolen_card": true, "pickup_card": true, "fraudulent": true,
		"incorrect_number": true, "invalid_account": true, "expired_card": true, "restricted_card": true,
		"revocation_of_all_authorizations": true, "revocation_of_authorization": true, "stop_payment_order": true}
	softDeclines = map[string]bool{"processing_error": true, "try_again_later": true, "issuer_not_available": true,
		"reenter_transaction": true}
)

// declineKind says what a retry can do about a declined charge.
func declineKind(res ChargeResult) int {
	switch {
	case hardDeclines[res.DeclineCode] || hardDeclines[res.Code]:
		return declineHard
	case softDeclines[res.DeclineCode] || softDeclines[res.Code]:
		return declineSoft
	}
	return declineOther
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
	if (r.Status != RechargePending && r.Status != RechargeProcessing) || otherPayment(r, paymentIntent) {
		return false, nil
	}
	// The link's expiry is fixed now, so that every try to make it sends
	// the same request under its idempotency key.
	expires := now.Truncate(time.Minute).Add(s.linkExpiry())
	r.Status, r.PaymentIntent, r.Error, r.NextAttemptAt, r.UpdatedAt = RechargeActionRequired, paymentIntent, reason, now, now
	r.LinkExpiresAt = &expires
	return true, locked.UpdateRecharge(r)
}

// markProcessing records that Stripe is processing the payment: its event
// ends the recharge, and if none came by RechargeCheckAfter the worker
// reads the payment intent back.
func (s *Service) markProcessing(tx Tx, rechargeID, paymentIntent string, now time.Time) error {
	locked, r, err := s.lockRecharge(tx, rechargeID)
	if err != nil || (r.Status != RechargePending && r.Status != RechargeProcessing) || otherPayment(r, paymentIntent) {
		return err
	}
	r.Status, r.PaymentIntent, r.LockedUntil, r.UpdatedAt = RechargeProcessing, paymentIntent, time.Time{}, now
	r.NextAttemptAt = now.Add(s.rechargeCheckAfter())
	return locked.UpdateRecharge(r)
}

// linkRecharge makes the Checkout link of a recharge that waits for the
// customer (a session like any purchase's, so that paying it credits the
// pack): for the account's customer, cards only (it must pay at once), with
// the configured expiry; then writes recharge.action_required with it. A
// link made for a recharge that ended meanwhile is recorded all the same,
// open, so that the worker expires it.
func (s *Service) linkRecharge(ctx context.Context, r Recharge) error {
	var account Account
	var pack Pack
	var ar AutoRecharge
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		if account, err = tx.Account(r.AccountID); err != nil {
			return err
		}
		if ar, err = tx.AutoRecharge(r.AccountID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		pack, err = tx.Pack(r.PackID)
		return err
	})
	if err != nil {
		return err
	}
	expiresAt := s.now().Truncate(time.Minute).Add(s.linkExpiry())
	if r.LinkExpiresAt != nil {
		expiresAt = *r.LinkExpiresAt
	}
	req := CheckoutRequest{Account: account, Pack: pack, Quantity: r.Quantity, SuccessURL: s.RechargeReturnURLs.Success,
		CancelURL: s.RechargeReturnURLs.Cancel, Reference: r.ID, IdempotencyKey: "credits-recharge-checkout-" + r.ID,
		CustomerID: ar.CustomerID, CardOnly: true}
	if s.CheckoutExpiresIn > 0 {
		req.ExpiresAt = s.stripeTime(expiresAt) // on Stripe's clock
	}
	id, url, linkErr := s.Payments.CreateCheckoutSession(ctx, req)
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || current.ActionURL != "" {
			return err
		}
		if linkErr != nil {
			s.Logger.Warn("recharge: cannot make the customer's Checkout link", "recharge", r.ID, "error", linkErr)
			if current.Status != RechargeActionRequired {
				return nil
			}
			// Stripe refused it (asking again would be refused again), or it
			// could not be made for an hour: the customer is not asked.
			if permanent(linkErr) || now.After(expiresAt.Add(-s.linkExpiry()).Add(rechargeLinkGiveUp)) {
				current.Status, current.Error = RechargeFailed, "the Checkout link to authenticate could not be made: "+linkErr.Error()
				current.LockedUntil, current.UpdatedAt = time.Time{}, now
				if err := locked.UpdateRecharge(current); err != nil {
					return err
				}
				return emit(locked, OutRechargeFailed, current, now)
			}
			current.NextAttemptAt, current.LockedUntil, current.UpdatedAt = now.Add(time.Minute), time.Time{}, now
			return locked.UpdateRecharge(current)
		}
		cs := CheckoutSession{ID: id, AccountID: r.AccountID, PackID: r.PackID, Quantity: r.Quantity, ExpectedAmount: r.Amount,
			Currency: r.Currency, Status: SessionOpen, URL: url, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateCheckoutSession(cs); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		current.CheckoutSessionID, current.LinkOpen, current.LockedUntil, current.UpdatedAt = id, true, time.Time{}, now
		if current.Status != RechargeActionRequired {
			current.NextAttemptAt = now // ended meanwhile: expire the link at once
			return locked.UpdateRecharge(current)
		}
		current.ActionURL, current.NextAttemptAt = url, expiresAt.Add(rechargeLinkCheckMargin)
		if err := locked.UpdateRecharge(current); err != nil {
			return err
		}
		return emit(locked, OutRechargeActionRequired, current, now)
	})
}

// stripeCheckoutDefaultExpiry is how long Stripe keeps a Checkout session
// open when it is not told.
const stripeCheckoutDefaultExpiry = 24 * time.Hour

// linkExpiry is how long a recharge's Checkout link stays open.
func (s *Service) linkExpiry() time.Duration {
	if s.CheckoutExpiresIn > 0 {
		return s.CheckoutExpiresIn
	}
	return stripeCheckoutDefaultExpiry
}

// checkLink reads back the link of a recharge still waiting for the customer
// after the link's expiry: its event may never come. What Stripe says goes
// through the same code as the event would (checkout.session.completed or
// .expired, under an id of ours); a link still open is checked again later.
func (s *Service) checkLink(ctx context.Context, r Recharge) error {
	session, err := s.Payments.RetrieveSession(ctx, r.CheckoutSessionID, false)
	if err != nil && permanent(err) {
		// Stripe has no such session: it can never be paid.
		session = StripeSession{ID: r.CheckoutSessionID, Status: "expired", Livemode: s.Livemode, Metadata: map[string]string{"credits_checkout": r.ID}}
	} else if err != nil {
		s.Logger.Warn("recharge: cannot read its Checkout link yet", "recharge", r.ID, "session", r.CheckoutSessionID, "error", err)
		return s.recheckLater(ctx, r, time.Hour)
	}
	if err := s.feedSession(ctx, r, session); err != nil {
		return err
	}
	return s.recheckLater(ctx, r, time.Hour) // changes nothing if the session's event ended it
}

// closeLink expires the open link of a recharge that ended otherwise (it was
// canceled, or paid off-session after all), so that it can no longer be
// paid; a link that was paid first is credited through its session's path.
func (s *Service) closeLink(ctx context.Context, r Recharge) error {
	expireErr := s.Payments.ExpireCheckoutSession(ctx, r.CheckoutSessionID)
	session, err := s.Payments.RetrieveSession(ctx, r.CheckoutSessionID, false)
	if err != nil && permanent(err) {
		session, err = StripeSession{ID: r.CheckoutSessionID, Status: "expired"}, nil // gone: it can never be paid
	}
	if err != nil || session.Status == "open" {
		s.Logger.Warn("recharge: cannot expire its Checkout link yet", "recharge", r.ID, "session", r.CheckoutSessionID, "expire_error", expireErr, "error", err)
		return s.recheckLater(ctx, r, rechargeTransientDelay)
	}
	if err := s.feedSession(ctx, r, session); err != nil {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		locked, current, err := s.lockRecharge(tx, r.ID)
		if err != nil || !current.LinkOpen {
			return err
		}
		current.LinkOpen, current.LockedUntil, current.UpdatedAt = false, time.Time{}, s.now()
		return locked.UpdateRecharge(current)
	})
}

// feedSession applies what Stripe says of a Checkout session that ended
// through the code of its event, once: the event's id is ours and derived
// from the session and its state, and the session credits at most once.
func (s *Service) feedSession(ctx context.Context, r Recharge, session StripeSession) error {
	if session.Metadata["credits_checkout"] == "" {
		// The recharge's own link (by its id), whatever Stripe's copy says.
		session.Metadata = map[string]string{"credits_checkout": r.ID, "account_id": r.AccountID}
	}
	var eventType string
	switch {
	case session.Status == "expired":
		eventType = EventCheckoutExpired
	case session.Status == "complete":
		eventType = EventCheckoutCompleted
	default:
		return nil
	}
	id := "credits_read_" + eventType + "_" + session.PaymentStatus + "_" + session.ID
	_, err := s.HandleEvent(ctx, StripeEvent{ID: id, Type: eventType, Livemode: session.Livemode, Created: s.now(), Session: &session})
	return err
}

// settleRechargeSession ends a recharge when its Checkout link is paid
// (succeeded, whatever the recharge became meanwhile: the money was taken),
// fails (failed) or expires (canceled: a later debit may record a new one).
// The account is locked.
func settleRechargeSession(tx Tx, locked LockedAccount, session StripeSession, status string, now time.Time) error {
	id := session.Metadata["credits_checkout"]
	if !isRechargeReference(id) {
		return nil
	}
	r, err := tx.Recharge(id)
	if errors.Is(err, ErrNotFound) || (err == nil && r.AccountID != locked.Account().ID) {
		return nil
	} else if err != nil {
		return err
	}
	ours := r.CheckoutSessionID == session.ID
	if ours {
		r.LinkOpen = false
	}
	waiting := r.Status == RechargeActionRequired
	switch {
	case status == RechargeSucceeded && (waiting || (ours && (r.Status == RechargeCanceled || r.Status == RechargeFailed))):
		r.Status, r.Error = status, "paid by the customer through Checkout session "+session.ID
		if err := emit(locked, OutRechargeSucceeded, r, now); err != nil {
			return err
		}
	case status != RechargeSucceeded && waiting:
		r.Status, r.Error = status, "the customer's Checkout session "+session.ID+" expired"
		if status == RechargeFailed {
			r.Error = "the customer's payment through Checkout session " + session.ID + " failed"
		}
	case !ours:
		return nil
	}
	r.LockedUntil, r.UpdatedAt = time.Time{}, now
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
