package credits

import (
	"errors"
	"fmt"
	"time"
)

// paymentOf names the payment that a charge, refund or dispute belongs to:
// its payment intent, or its charge where there is none.
func paymentOf(paymentIntent, charge string) string {
	if paymentIntent != "" {
		return paymentIntent
	}
	return charge
}

// applyCharge records what a charge snapshot says (charge.refunded): its
// amount and currency, and its cumulative amount_refunded when the snapshot
// is the newest (by event time, then by amount).
func (s *Service) applyCharge(tx Tx, in StripeEvent, now time.Time) (status, reason string, err error) {
	c := in.Charge
	id := paymentOf(c.PaymentIntent, c.ID)
	p, _, err := tx.LockPayment(id, now)
	if err != nil {
		return "", "", err
	}
	before := p
	p.ChargeID, p.ChargeAmount, p.ChargeCurrency = c.ID, c.Amount, c.Currency
	if in.Created.After(p.ChargeSeenAt) || (in.Created.Equal(p.ChargeSeenAt) && c.AmountRefunded > p.ChargeRefunded) {
		p.ChargeRefunded, p.ChargeSeenAt = c.AmountRefunded, in.Created
	}
	if p == before {
		return EventProcessed, "nothing new about charge " + c.ID, nil
	}
	p.UpdatedAt = now
	if err := tx.SavePayment(p); err != nil {
		return "", "", err
	}
	return s.reconcile(tx, p, EntryRefund, c.ID, now)
}

// applyRefund records a refund's newest status.
func (s *Service) applyRefund(tx Tx, in StripeEvent, now time.Time) (status, reason string, err error) {
	r := in.Refund
	id := paymentOf(r.PaymentIntent, r.Charge)
	if id == "" {
		return EventIgnored, "refund " + r.ID + " names no payment intent or charge", nil
	}
	p, _, err := tx.LockPayment(id, now)
	if err != nil {
		return "", "", err
	}
	known, err := tx.PaymentRefund(r.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	seen := PaymentRefund{ID: r.ID, PaymentID: id, Amount: r.Amount, Currency: r.Currency, Status: r.Status, UpdatedAt: now}
	merged, changed := mergeRefund(known, err == nil, seen)
	if !changed {
		return EventProcessed, fmt.Sprintf("refund %s is already %s: nothing changed", r.ID, known.Status), nil
	}
	if err := tx.SavePaymentRefund(merged); err != nil {
		return "", "", err
	}
	if p.ChargeID == "" && r.Charge != "" {
		p.ChargeID, p.UpdatedAt = r.Charge, now
		if err := tx.SavePayment(p); err != nil {
			return "", "", err
		}
	}
	return s.reconcile(tx, p, EntryRefund, r.ID, now)
}

// applyDispute records a dispute's newest status, and whether Stripe said
// its funds were withdrawn or reinstated.
func (s *Service) applyDispute(tx Tx, in StripeEvent, now time.Time) (status, reason string, err error) {
	d := in.Dispute
	id := paymentOf(d.PaymentIntent, d.Charge)
	if id == "" {
		return EventIgnored, "dispute " + d.ID + " names no payment intent or charge", nil
	}
	p, _, err := tx.LockPayment(id, now)
	if err != nil {
		return "", "", err
	}
	known, err := tx.PaymentDispute(d.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	seen := PaymentDispute{ID: d.ID, PaymentID: id, Amount: d.Amount, Currency: d.Currency, Status: d.Status, UpdatedAt: now,
		Withdrawn: in.Type == EventDisputeFundsWithdrawn, Reinstated: in.Type == EventDisputeFundsReinstated}
	merged, changed := mergeDispute(known, err == nil, seen)
	if !changed {
		return EventProcessed, fmt.Sprintf("dispute %s is already %s: nothing changed", d.ID, known.Status), nil
	}
	if err := tx.SavePaymentDispute(merged); err != nil {
		return "", "", err
	}
	if p.ChargeID == "" && d.Charge != "" {
		p.ChargeID, p.UpdatedAt = d.Charge, now
		if err := tx.SavePayment(p); err != nil {
			return "", "", err
		}
	}
	return s.reconcile(tx, p, EntryDispute, d.ID, now)
}

// reconcile posts to the ledger the difference between what a payment owes
// its account and what the ledger holds for it: a take-back (credits already
// spent become debt) or a give-back. A payment whose purchase is not known
// yet keeps its facts until it is. The payment must be locked.
func (s *Service) reconcile(tx Tx, p Payment, kind, reference string, now time.Time) (status, reason string, err error) {
	if p.AccountID == "" || p.Credits == 0 {
		return EventProcessed, "recorded; the payment's purchase is not known yet", nil
	}
	refunds, err := tx.PaymentRefunds(p.ID)
	if err != nil {
		return "", "", err
	}
	disputes, err := tx.PaymentDisputes(p.ID)
	if err != nil {
		return "", "", err
	}
	owed := Owed(p, refunds, disputes)
	if owed == p.Posted {
		return EventProcessed, "", nil
	}
	locked, account, err := s.settle(tx, p.AccountID, now)
	if err != nil {
		return "", "", err
	}
	var entry Entry
	if diff := owed - p.Posted; diff < 0 {
		entry = Entry{Kind: kind, Reference: reference, CreatedAt: now,
			Description: fmt.Sprintf("%d credits of session %s taken back (%s %s)", -diff, p.SessionID, kind, reference)}
		if _, entry, err = takeBack(locked, account, p.SessionID, entry, -diff); err != nil {
			return "", "", err
		}
	} else {
		lot := Lot{AccountID: account.ID, Amount: diff, Source: kind, Reference: reference, CreatedAt: now}
		entry = Entry{AccountID: account.ID, Amount: diff, Kind: kind, Reference: reference, CreatedAt: now,
			Description: fmt.Sprintf("%d credits of session %s given back (%s %s)", diff, p.SessionID, kind, reference)}
		if _, entry, _, err = addLot(locked, account, entry, lot); err != nil {
			return "", "", err
		}
	}
	if err := locked.LinkPaymentEntry(entry.ID, p.ID); err != nil {
		return "", "", err
	}
	if err := locked.SetPaymentPosted(p.ID, owed); err != nil {
		return "", "", err
	}
	eventType := OutPaymentRefunded
	if kind == EntryDispute {
		eventType = OutPaymentDisputed
		if owed > p.Posted {
			eventType = OutPaymentDisputeClosed // credits given back: the dispute closed in the account's favour
		}
	}
	object := map[string]any{"payment_id": p.ID, "session_id": p.SessionID, "reference": reference, "credits": owed - p.Posted, "owed": owed, "entry": entry}
	if err := emit(locked, eventType, object, now); err != nil {
		return "", "", err
	}
	return EventProcessed, "", s.watchAgain(tx, p.AccountID, now)
}

// takeBack takes amount credits out of an account: first what is left of the
// purchase's own lot, then its other unreserved credits in burn-down order;
// what they cannot cover becomes debt. It writes entry (its amount, account
// and balance are set here) with the lots it drew from.
func takeBack(locked LockedAccount, account Account, sessionID string, entry Entry, amount int64) (Account, Entry, error) {
	var draws []LotAmount
	left := amount
	own, err := locked.LotByReference(EntryPurchase, sessionID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return account, entry, err
	}
	if take := min(left, own.Spendable()); err == nil && take > 0 && (own.ExpiresAt == nil || own.ExpiresAt.After(entry.CreatedAt)) {
		if err := locked.SetLot(own.ID, own.Remaining-take, own.Reserved); err != nil {
			return account, entry, err
		}
		draws = append(draws, LotAmount{LotID: own.ID, Amount: take})
		left -= take
	}
	// The own lot is emptied before the others are read, so no lot is drawn twice.
	unreserved := account.Balance - account.Held + account.Debt - (amount - left)
	if take := min(left, max(unreserved, 0)); take > 0 {
		err := eachSpendableLot(locked, entry.CreatedAt, take, func(lot Lot, n int64) error {
			draws = append(draws, LotAmount{LotID: lot.ID, Amount: n})
			return locked.SetLot(lot.ID, lot.Remaining-n, lot.Reserved)
		})
		if err != nil {
			return account, entry, err
		}
		left -= take
	}
	account.Balance -= amount
	entry.AccountID, entry.Amount = account.ID, -amount
	entry, err = addEntry(locked, account, entry)
	if err != nil {
		return account, entry, err
	}
	if err := locked.AddLotDraws(entry.ID, draws); err != nil {
		return account, entry, err
	}
	if left > 0 {
		inDebt := account.Debt == 0
		account.Debt += left
		if err := locked.SetDebt(account.Debt); err != nil {
			return account, entry, err
		}
		if inDebt {
			return account, entry, emit(locked, OutAccountInDebt, map[string]any{"debt": account.Debt, "entry": entry}, entry.CreatedAt)
		}
	}
	return account, entry, nil
}

// payDebt pays an account's debt from credits that became unreserved (a hold
// closed while the account was in debt). The balance does not change: the
// debt was already counted in it.
func payDebt(locked LockedAccount, account Account, now time.Time) (Account, error) {
	free := account.Balance - account.Held + account.Debt
	pay := min(account.Debt, free)
	if pay <= 0 {
		return account, nil
	}
	err := eachSpendableLot(locked, now, pay, func(lot Lot, n int64) error {
		return locked.SetLot(lot.ID, lot.Remaining-n, lot.Reserved)
	})
	if err != nil {
		return account, err
	}
	account.Debt -= pay
	if err := locked.SetDebt(account.Debt); err != nil {
		return account, err
	}
	if account.Debt == 0 {
		return account, emit(locked, OutAccountDebtSettled, map[string]any{"repaid": pay}, now)
	}
	return account, nil
}
