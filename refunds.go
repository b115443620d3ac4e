package credits

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// creditsFor returns the credits of a purchase that amount (minor units) of
// its payment bought, rounded down; all of them for the whole payment.
func creditsFor(p Purchase, amount int64) int64 {
	if amount <= 0 {
		return 0
	}
	if p.AmountPaid <= 0 || amount >= p.AmountPaid {
		return p.Credits
	}
	hi, lo := bits.Mul64(uint64(p.Credits), uint64(amount))
	q, _ := bits.Div64(hi, lo, uint64(p.AmountPaid)) // hi < AmountPaid because amount < AmountPaid
	return int64(q)
}

// purchaseOf finds the purchase that a payment intent paid for, and locks its
// account (settled). reason is set when there is none.
func (s *Service) purchaseOf(tx Tx, paymentIntent string, now time.Time) (Purchase, LockedAccount, Account, string, error) {
	if paymentIntent == "" {
		return Purchase{}, nil, Account{}, "no payment intent: not a credits purchase", nil
	}
	purchase, err := tx.PurchaseByPaymentIntent(paymentIntent)
	if errors.Is(err, ErrNotFound) {
		return purchase, nil, Account{}, "no purchase was paid with payment intent " + paymentIntent, nil
	} else if err != nil {
		return purchase, nil, Account{}, "", err
	}
	locked, account, err := s.settle(tx, purchase.AccountID, now)
	if err != nil {
		return purchase, nil, account, "", err
	}
	// Read again under the account's lock: a concurrent refund may have counted.
	purchase, err = tx.PurchaseByPaymentIntent(paymentIntent)
	return purchase, locked, account, "", err
}

// applyRefund takes back the credits that a charge's refunds paid for. Stripe
// sends the charge's refunded total, so later and repeated events only take
// the difference.
func (s *Service) applyRefund(tx Tx, charge *StripeCharge, now time.Time) (status, reason string, err error) {
	purchase, locked, account, reason, err := s.purchaseOf(tx, charge.PaymentIntent, now)
	if err != nil || reason != "" {
		return EventIgnored, reason, err
	}
	target := creditsFor(purchase, charge.AmountRefunded)
	take := target - purchase.RefundedCredits
	if take <= 0 {
		return EventProcessed, "refund already applied: nothing taken", nil
	}
	description := fmt.Sprintf("refund of %d credits of session %s", take, purchase.SessionID)
	if _, err := takeBack(locked, account, purchase.SessionID, Entry{Kind: EntryRefund, Reference: charge.ID, Description: description, CreatedAt: now}, take); err != nil {
		return "", "", err
	}
	return EventProcessed, "", locked.SetPurchaseRefunded(purchase.ID, target)
}

// applyDispute takes a purchase's disputed credits back when the dispute
// opens, gives them back if it is won, and keeps them if it is lost. Events
// may come in any order: a dispute closed before it was seen to open is
// settled then.
func (s *Service) applyDispute(tx Tx, ev Event, d *StripeDispute, now time.Time) (status, reason string, err error) {
	purchase, locked, account, reason, err := s.purchaseOf(tx, d.PaymentIntent, now)
	if err != nil || reason != "" {
		return EventIgnored, reason, err
	}
	existing, err := tx.Dispute(d.ID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	closed := ev.Type == EventDisputeClosed
	switch {
	case known && existing.Status != DisputeOpen:
		return EventProcessed, "dispute already closed: nothing changed", nil
	case known && !closed:
		return EventProcessed, "dispute already recorded: nothing changed", nil
	case !known:
		existing = Dispute{ID: d.ID, AccountID: account.ID, SessionID: purchase.SessionID, Status: DisputeOpen, CreatedAt: now}
		if closed && d.Status != "lost" {
			existing.Status = disputeOutcome(d.Status) // won or closed before we saw it open: nothing to take or give back
			existing.UpdatedAt = now
			return EventProcessed, "dispute closed before it was seen to open: nothing taken", locked.CreateDispute(existing)
		}
		existing.Credits = creditsFor(purchase, d.Amount)
		entry := Entry{Kind: EntryDispute, Reference: d.ID, Description: "disputed payment of session " + purchase.SessionID, CreatedAt: now}
		if account, err = takeBack(locked, account, purchase.SessionID, entry, existing.Credits); err != nil {
			return "", "", err
		}
		if !closed {
			existing.UpdatedAt = now
			return EventProcessed, "", locked.CreateDispute(existing)
		}
		existing.Status, existing.UpdatedAt = DisputeLost, now
		return EventProcessed, "", locked.CreateDispute(existing)
	}
	// An open dispute closes.
	existing.Status, existing.UpdatedAt = disputeOutcome(d.Status), now
	if existing.Status != DisputeLost && existing.Credits > 0 {
		lot := Lot{AccountID: account.ID, Amount: existing.Credits, Source: EntryDispute, Reference: d.ID, CreatedAt: now}
		entry := Entry{AccountID: account.ID, Amount: existing.Credits, Kind: EntryDispute, Reference: d.ID,
			Description: "dispute " + existing.Status + ": credits given back", CreatedAt: now}
		if _, _, _, err := addLot(locked, account, entry, lot); err != nil {
			return "", "", err
		}
	}
	return EventProcessed, "", locked.UpdateDispute(existing)
}

func disputeOutcome(stripeStatus string) string {
	switch stripeStatus {
	case "won":
		return DisputeWon
	case "lost":
		return DisputeLost
	default:
		return DisputeClosed
	}
}

// takeBack takes amount credits out of an account: first what is left of the
// purchase's own lot, then its other unreserved credits in burn-down order;
// what they cannot cover becomes debt. It writes entry (its amount, account
// and balance are set here) with the lots it drew from.
func takeBack(locked LockedAccount, account Account, sessionID string, entry Entry, amount int64) (Account, error) {
	var draws []LotAmount
	left := amount
	own, err := locked.LotByReference(EntryPurchase, sessionID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return account, err
	}
	if take := min(left, own.Spendable()); err == nil && take > 0 && (own.ExpiresAt == nil || own.ExpiresAt.After(entry.CreatedAt)) {
		if err := locked.SetLot(own.ID, own.Remaining-take, own.Reserved); err != nil {
			return account, err
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
			return account, err
		}
		left -= take
	}
	account.Balance -= amount
	entry.AccountID, entry.Amount = account.ID, -amount
	entry, err = addEntry(locked, account, entry)
	if err != nil {
		return account, err
	}
	if err := locked.AddLotDraws(entry.ID, draws); err != nil {
		return account, err
	}
	if left > 0 {
		account.Debt += left
		return account, locked.SetDebt(account.Debt)
	}
	return account, nil
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
	return account, locked.SetDebt(account.Debt)
}
