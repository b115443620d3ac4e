package credits

import (
	"slices"
	"time"
)

// takeBackEverywhere takes amount credits of payment p back: first from its
// own lot (own, nil when it has none) in the payment's account; then from
// each other account that transfers moved the lot's credits to, in the
// order the moves were made: what its moved lots still hold, then, for what
// it spent of them, its other credits and at last its debt (what was spent
// becomes debt where it was spent), each as an entry of that account linked
// to the payment; the rest from the payment's account as takeBack takes it.
// It returns the payment's account and its entry.
func (s *Service) takeBackEverywhere(tx Tx, locked LockedAccount, account Account, p Payment, own *Lot, entry Entry, amount int64) (Account, Entry, error) {
	if own == nil {
		return takeBack(locked, account, nil, entry, amount)
	}
	moved, err := tx.MovedLots(own.ID)
	if err != nil {
		return account, entry, err
	}
	// The payment's credits in its own account: its lot, and lots of
	// credits that moved away and back.
	owns, held := []Lot{*own}, ownAvailable(*own, entry.CreatedAt)
	for _, lot := range moved {
		if lot.AccountID == p.AccountID {
			owns = append(owns, lot)
			held += ownAvailable(lot, entry.CreatedAt)
		}
	}
	var taken int64
	if left := amount - held; left > 0 {
		if taken, err = s.takeBackMoved(tx, p, moved, entry, left); err != nil {
			return account, entry, err
		}
	}
	return takeBack(locked, account, owns, entry, amount-taken)
}

// ownAvailable is what a take-back can take from a lot: its unreserved
// credits unless it expired, and those holds reserve on it.
func ownAvailable(lot Lot, now time.Time) int64 {
	if lot.ExpiresAt != nil && !lot.ExpiresAt.After(now) {
		return lot.Reserved
	}
	return lot.Remaining
}

// takeBackMoved takes up to amount credits of payment p from the accounts
// its lot's credits moved to (moved: the lots transfers made of them), not
// the payment's own account, which takes the rest, and returns how many it
// took.
func (s *Service) takeBackMoved(tx Tx, p Payment, moved []Lot, entry Entry, amount int64) (int64, error) {
	if len(moved) == 0 {
		return 0, nil
	}
	entries, err := tx.PaymentEntries(p.ID)
	if err != nil {
		return 0, err
	}
	var order []string
	byAccount := map[string][]Lot{}
	for _, lot := range moved {
		if lot.AccountID == p.AccountID {
			continue // moved back: the payment's account takes what is left
		}
		if _, ok := byAccount[lot.AccountID]; !ok {
			order = append(order, lot.AccountID)
		}
		byAccount[lot.AccountID] = append(byAccount[lot.AccountID], lot)
	}
	var taken int64
	for _, id := range order {
		if taken == amount {
			break
		}
		n, err := s.takeBackFrom(tx, p, id, byAccount[id], entries, entry, amount-taken)
		if err != nil {
			return taken, err
		}
		taken += n
	}
	return taken, nil
}

// takeBackFrom takes up to amount credits of payment p from one account
// that holds lots moved from its lot: what those lots hold, and what the
// account spent of them and was not yet charged for (what came in, less
// what is left, what moved on and what take-backs took from it before).
func (s *Service) takeBackFrom(tx Tx, p Payment, accountID string, lots []Lot, entries []Entry, entry Entry, amount int64) (int64, error) {
	locked, account, err := s.settle(tx, accountID, entry.CreatedAt)
	if err != nil {
		return 0, err
	}
	var came, held, owes int64
	for i, lot := range lots {
		if lots[i], err = locked.Lot(lot.ID); err != nil { // as settled
			return 0, err
		}
		out, err := tx.LotMovedOut(lot.ID)
		if err != nil {
			return 0, err
		}
		came += lots[i].Amount - out
		held += ownAvailable(lots[i], entry.CreatedAt)
		owes -= lots[i].Remaining
	}
	for _, e := range entries {
		if e.AccountID == accountID {
			owes += e.Amount // take-backs are negative; give-backs positive
		}
	}
	spent := max(0, came+owes)
	take := min(amount, held+spent)
	if take == 0 {
		return 0, nil
	}
	entry.Description = "credits of session " + p.SessionID + " moved here, taken back (" + entry.Kind + " " + entry.Reference + ")"
	account, e, err := takeBack(locked, account, lots, entry, take)
	if err != nil {
		return 0, err
	}
	if err := locked.LinkPaymentEntry(e.ID, p.ID); err != nil {
		return 0, err
	}
	eventType := OutPaymentRefunded
	if entry.Kind == EntryDispute {
		eventType = OutPaymentDisputed
	}
	if err := emit(locked, eventType, map[string]any{"payment_id": p.ID, "session_id": p.SessionID, "credits": -take, "entry": e}, entry.CreatedAt); err != nil {
		return 0, err
	}
	return take, s.alertAndRechargeIfLow(tx, locked, account, entry.CreatedAt)
}

// giveBackMoved gives back, to each account other than the payment's, what
// take-backs of payment p took from it (back: the parts a give-back
// returns, last taken first), each as an entry of that account linked to
// the payment, and returns how many credits it gave back.
func (s *Service) giveBackMoved(tx Tx, p Payment, back []takenPart, entry Entry) (int64, error) {
	var order []string
	byAccount := map[string][]LotAmount{}
	for _, b := range back {
		if b.AccountID == p.AccountID {
			continue
		}
		if _, ok := byAccount[b.AccountID]; !ok {
			order = append(order, b.AccountID)
		}
		byAccount[b.AccountID] = append(byAccount[b.AccountID], b.LotAmount)
	}
	var given int64
	for _, id := range order {
		n, err := s.giveBackTo(tx, p, id, byAccount[id], entry)
		if err != nil {
			return given, err
		}
		given += n
	}
	return given, nil
}

// giveBackTo gives back to one account what take-backs of payment p took
// from it: into the lots they drew, and what became its debt pays it.
func (s *Service) giveBackTo(tx Tx, p Payment, accountID string, back []LotAmount, entry Entry) (int64, error) {
	locked, account, err := s.settle(tx, accountID, entry.CreatedAt)
	if err != nil {
		return 0, err
	}
	var amount int64
	for _, b := range back {
		amount += b.Amount
	}
	entry.Description = "credits of session " + p.SessionID + " moved here, given back (" + entry.Kind + " " + entry.Reference + ")"
	account, e, err := giveBack(locked, account, back, entry, amount)
	if err != nil {
		return 0, err
	}
	if err := locked.LinkPaymentEntry(e.ID, p.ID); err != nil {
		return 0, err
	}
	eventType := OutPaymentRefunded
	if entry.Kind == EntryDispute {
		eventType = OutPaymentDisputeClosed
	}
	if err := emit(locked, eventType, map[string]any{"payment_id": p.ID, "session_id": p.SessionID, "credits": amount, "entry": e}, entry.CreatedAt); err != nil {
		return 0, err
	}
	return amount, s.alertAndRechargeIfLow(tx, locked, account, entry.CreatedAt)
}

// ownLots are the lots of a payment's credits in its account: its own lot
// (ownLotID, 0 for none) and those of its credits that moved away and back.
func ownLots(tx Tx, accountID string, ownLotID int64) (map[int64]bool, error) {
	owns := map[int64]bool{}
	if ownLotID == 0 {
		return owns, nil
	}
	owns[ownLotID] = true
	moved, err := tx.MovedLots(ownLotID)
	for _, lot := range moved {
		if lot.AccountID == accountID {
			owns[lot.ID] = true
		}
	}
	return owns, err
}

// lockMovedFirst locks and settles, in the order of their ids, a payment's
// account and the accounts that transfers moved its credits to, before a
// take-back or a give-back reaches them: transfers lock accounts in that
// order too, so that neither waits for the other in a cycle.
func (s *Service) lockMovedFirst(tx Tx, p Payment, now time.Time) error {
	ids, err := tx.MovedToAccounts(p.AccountID, p.SessionID)
	if err != nil || len(ids) == 0 {
		return err
	}
	ids = append(ids, p.AccountID)
	slices.Sort(ids)
	for _, id := range ids {
		if _, _, err := s.settle(tx, id, now); err != nil {
			return err
		}
	}
	return nil
}
