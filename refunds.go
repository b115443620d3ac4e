package credits

import (
	"errors"
	"fmt"
	"slices"
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

// reconcile posts to the ledger the difference between what a payment's
// entries hold (posted) and what they must hold (toPost): what its facts owe,
// or more by what of its own lot expired, since credits that expired have
// left the account already and are never taken twice. A take-back takes
// what the payment's own lot still holds (held credits too, from under their
// holds), then other credits for those it spent (the rest is debt); a
// give-back returns what take-backs took in the reverse order, each part
// into the lot it came from, with its expiry. A payment whose purchase is
// not known yet keeps its facts until it is. The payment must be locked.
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
		return EventProcessed, "", nil // what expired cannot move it: posted is within its bounds
	}
	// Settled first, so that credits of the lot that expired by now count.
	if err := s.lockMovedFirst(tx, p, now); err != nil {
		return "", "", err
	}
	locked, account, err := s.settle(tx, p.AccountID, now)
	if err != nil {
		return "", "", err
	}
	entries, err := tx.PaymentEntries(p.ID)
	if err != nil {
		return "", "", err
	}
	expired := expiredOf(entries)
	post := toPost(owed, expired, p.Posted)
	if post == p.Posted {
		return EventProcessed, fmt.Sprintf("%d credits of the payment expired: nothing left to take back", expired), nil
	}
	account, entry, err := s.postDifference(tx, locked, account, p, entries, post-p.Posted, kind, reference, now)
	if err != nil {
		return "", "", err
	}
	if entry.ID != 0 { // none when all of it went back to accounts transfers moved it to
		if err := locked.LinkPaymentEntry(entry.ID, p.ID); err != nil {
			return "", "", err
		}
	}
	if err := locked.SetPaymentPosted(p.ID, post); err != nil {
		return "", "", err
	}
	eventType := OutPaymentRefunded
	if kind == EntryDispute {
		eventType = OutPaymentDisputed
		if post > p.Posted {
			eventType = OutPaymentDisputeClosed // credits given back: the dispute closed in the account's favour
		}
	}
	object := map[string]any{"payment_id": p.ID, "session_id": p.SessionID, "reference": reference, "credits": post - p.Posted,
		"owed": owed, "expired": expired, "entry": entry}
	if err := emit(locked, eventType, object, now); err != nil {
		return "", "", err
	}
	return EventProcessed, "", s.watchAgain(tx, account.ID, now)
}

// postDifference writes one entry that takes diff credits back (diff < 0)
// or gives them back (diff > 0) for payment p, whose entries are given, and
// returns the account as it leaves it with the entry.
func (s *Service) postDifference(tx Tx, locked LockedAccount, account Account, p Payment, entries []Entry, diff int64, kind, reference string, now time.Time) (Account, Entry, error) {
	var own *Lot
	lot, err := locked.LotByReference(EntryPurchase, p.SessionID)
	if err == nil {
		own = &lot
	} else if !errors.Is(err, ErrNotFound) {
		return account, Entry{}, fmt.Errorf("read the lot of payment %s: %w", p.ID, err)
	}
	entry := Entry{Kind: kind, Reference: reference, CreatedAt: now}
	if diff < 0 {
		entry.Description = fmt.Sprintf("%d credits of session %s taken back (%s %s)", -diff, p.SessionID, kind, reference)
		return s.takeBackEverywhere(tx, locked, account, p, own, entry, -diff)
	}
	entry.Description = fmt.Sprintf("%d credits of session %s given back (%s %s)", diff, p.SessionID, kind, reference)
	var ownID int64
	if own != nil {
		ownID = own.ID
	}
	owns, err := ownLots(tx, p.AccountID, ownID)
	if err != nil {
		return account, entry, err
	}
	taken, err := takenFrom(tx, entries, p.AccountID, owns)
	if err != nil {
		return account, entry, fmt.Errorf("replay the take-backs of payment %s: %w", p.ID, err)
	}
	_, popped := popTaken(taken, diff)
	elsewhere, err := s.giveBackMoved(tx, p, popped, entry)
	if err != nil {
		return account, entry, err
	}
	var back []LotAmount
	var placed int64
	for _, b := range popped {
		if b.AccountID == p.AccountID {
			back = append(back, b.LotAmount)
			placed += b.Amount
		}
	}
	mine := diff - elsewhere
	if rest := mine - placed; rest > 0 {
		// Take-backs that recorded no draws: into the own lot, or a new lot.
		back = append(back, LotAmount{LotID: ownID, Amount: rest})
	}
	if mine == 0 {
		return account, Entry{}, nil // all of it went back to where transfers had moved it
	}
	return giveBack(locked, account, back, entry, mine)
}

// takenPart is credits a take-back took from a lot (lot 0: debt) of an
// account.
type takenPart struct {
	AccountID string
	LotAmount
}

// takenFrom replays a payment's take-backs and give-backs, oldest first,
// and returns where what they took back, net, came from, in the order it
// was taken: for each take-back, the lots of the payment's credits in its
// account (owns) first, then what it took from the accounts that transfers
// moved them to (entries of those accounts, written before the payment
// account's), then the payment account's other lots and, as lot 0, what it
// left as debt; each part names the account that it was taken from. A
// give-back returns the last taken first (popTaken).
func takenFrom(tx Tx, entries []Entry, accountID string, owns map[int64]bool) ([]takenPart, error) {
	var taken, moved []takenPart // moved: what the take-back under way took from other accounts
	for _, e := range entries {
		if e.Kind != EntryRefund && e.Kind != EntryDispute {
			continue
		}
		if e.Amount > 0 || (e.Amount == 0 && e.AccountID != accountID) {
			taken, _ = popTaken(append(taken, moved...), e.Amount)
			moved = nil
			continue
		}
		draws, err := tx.EntryDraws(e.ID)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(draws, func(a, b LotAmount) int { // the own lots first
			switch {
			case owns[a.LotID] && !owns[b.LotID]:
				return -1
			case owns[b.LotID] && !owns[a.LotID]:
				return 1
			}
			return 0
		})
		var parts []takenPart
		left := -e.Amount
		for _, d := range draws {
			parts = append(parts, takenPart{e.AccountID, d})
			left -= d.Amount
		}
		if left > 0 {
			parts = append(parts, takenPart{e.AccountID, LotAmount{LotID: 0, Amount: left}})
		}
		if e.AccountID != accountID {
			moved = append(moved, parts...) // written before the payment's account's entry
			continue
		}
		// One take-back: the own lots, then the other accounts, then the rest.
		n := 0
		for n < len(parts) && owns[parts[n].LotID] {
			n++
		}
		taken = append(append(append(taken, parts[:n]...), moved...), parts[n:]...)
		moved = nil
	}
	return append(taken, moved...), nil
}

// popTaken removes amount from the end of taken (what was taken last) and
// returns what is left, and what it removed, last taken first.
func popTaken(taken []takenPart, amount int64) (left, removed []takenPart) {
	taken = slices.Clone(taken)
	for amount > 0 && len(taken) > 0 {
		top := &taken[len(taken)-1]
		n := min(amount, top.Amount)
		removed = append(removed, takenPart{top.AccountID, LotAmount{LotID: top.LotID, Amount: n}})
		top.Amount -= n
		amount -= n
		if top.Amount == 0 {
			taken = taken[:len(taken)-1]
		}
	}
	return taken, removed
}

// takeBack takes amount credits out of an account: first what is left of the
// payment's own lots (owns: its lot, or the lots transfers moved its credits
// to in this account; none when it has none): their unreserved credits
// unless it expired, then those holds reserve on it (kept alive by the
// holds, expired or not), which come off the holds' reservations: each hold
// keeps its amount, the part taken unbacked, and a capture takes that part
// from the account's other credits (closeHold). Then, for credits of the lot
// that were spent, the account's other unreserved credits in burn-down
// order; what they cannot cover becomes debt. It writes entry (its amount,
// account and balance are set here) with the lots it drew from.
func takeBack(locked LockedAccount, account Account, owns []Lot, entry Entry, amount int64) (Account, Entry, error) {
	var draws []LotAmount
	left := amount
	for i := range owns {
		own := &owns[i]
		spendable := own.Spendable()
		if own.ExpiresAt != nil && !own.ExpiresAt.After(entry.CreatedAt) {
			spendable = 0 // they expire with the lot
		}
		take := min(left, spendable)
		unreserve := min(left-take, own.Reserved)
		if unreserve > 0 {
			if err := unreserveLot(locked, own.ID, unreserve); err != nil {
				return account, entry, err
			}
		}
		if take+unreserve > 0 {
			if err := locked.SetLot(own.ID, own.Remaining-take-unreserve, own.Reserved-unreserve); err != nil {
				return account, entry, err
			}
			draws = append(draws, LotAmount{LotID: own.ID, Amount: take + unreserve})
			left -= take + unreserve
		}
	}
	// The own lot is emptied before the others are read, so no lot is drawn twice.
	unreserved := account.Balance - account.Held + account.Debt - (amount - left)
	if take := min(left, max(unreserved, 0)); take > 0 {
		err := EachSpendableLot(locked, entry.CreatedAt, take, func(lot Lot, n int64) error {
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
	entry, err := addEntry(locked, account, entry)
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

// giveBack gives amount credits back to an account, the reverse of the
// take-backs: back says where each part came from (takenFrom). What came
// from debt pays what is left of the account's debt (what others paid of it
// meanwhile comes back as a lot of its own with no expiry, the one part
// whose lots are not known); what came from a lot, the payment's own or
// another, goes back into that lot, with its expiry and priority, so that
// credits that would have expired do: at once if the date has passed.
// Unreserved credits then pay any debt left. It writes entry (its amount,
// account and balance are set here).
func giveBack(locked LockedAccount, account Account, back []LotAmount, entry Entry, amount int64) (Account, Entry, error) {
	balance, err := AddCredits(account.Balance, amount)
	if err != nil {
		return account, entry, Errorf(EINVALID, "amount would overflow the balance of account %s", account.ID)
	}
	fromDebt, toLots, order := splitBack(back)
	repaid := min(account.Debt, fromDebt)
	toNew := fromDebt - repaid
	lost, expiresNow, expiresLater, err := returnToLots(locked, toLots, order, entry.CreatedAt)
	if err != nil {
		return account, entry, err
	}
	toNew += lost
	if toNew > 0 {
		lot := Lot{AccountID: account.ID, Amount: toNew, Remaining: toNew, Source: entry.Kind, Reference: entry.Reference, CreatedAt: entry.CreatedAt}
		if _, err := locked.AddLot(lot); err != nil {
			return account, entry, err
		}
	}
	if expiresLater {
		if err := locked.RefreshDueAt(); err != nil { // a lot may now expire before the account's due time
			return account, entry, err
		}
	}
	if repaid > 0 {
		account.Debt -= repaid
		if err := locked.SetDebt(account.Debt); err != nil {
			return account, entry, err
		}
		if account.Debt == 0 {
			if err := emit(locked, OutAccountDebtSettled, map[string]any{"repaid": repaid}, entry.CreatedAt); err != nil {
				return account, entry, err
			}
		}
	}
	account.Balance = balance
	entry.AccountID, entry.Amount = account.ID, amount
	if entry, err = addEntry(locked, account, entry); err != nil {
		return account, entry, err
	}
	if expiresNow {
		if account, err = expireLots(locked, account, entry.CreatedAt); err != nil {
			return account, entry, err
		}
	}
	account, err = payDebt(locked, account, entry.CreatedAt)
	return account, entry, err
}

// splitBack sums what a give-back returns: to the debt (LotID 0), and to
// each lot, in the order the lots were drawn.
func splitBack(back []LotAmount) (fromDebt int64, toLots map[int64]int64, order []int64) {
	toLots = make(map[int64]int64)
	for _, b := range back {
		if b.LotID == 0 {
			fromDebt += b.Amount
			continue
		}
		if _, ok := toLots[b.LotID]; !ok {
			order = append(order, b.LotID)
		}
		toLots[b.LotID] += b.Amount
	}
	return fromDebt, toLots, order
}

// returnToLots puts credits back into the lots they were drawn from, and
// says whether one of them expired already (expiresNow) or expires later.
// What belongs to no lot of the account (it cannot be) comes back in lost,
// for a new lot.
func returnToLots(locked LockedAccount, toLots map[int64]int64, order []int64, now time.Time) (lost int64, expiresNow, expiresLater bool, err error) {
	for _, id := range order {
		lot, err := locked.Lot(id)
		if errors.Is(err, ErrNotFound) {
			lost += toLots[id]
			continue
		} else if err != nil {
			return lost, expiresNow, expiresLater, err
		}
		if err := locked.SetLot(lot.ID, lot.Remaining+toLots[id], lot.Reserved); err != nil {
			return lost, expiresNow, expiresLater, err
		}
		if lot.ExpiresAt != nil && !lot.ExpiresAt.After(now) {
			expiresNow = true
		} else if lot.ExpiresAt != nil {
			expiresLater = true
		}
	}
	return lost, expiresNow, expiresLater, nil
}

// unreserveLot takes amount credits off what active holds reserve on a lot,
// the hold that expires last first; the holds keep their amounts (the part
// taken is unbacked). The caller takes the credits out of the lot.
func unreserveLot(locked LockedAccount, lotID, amount int64) error {
	holds, err := locked.LotHolds(lotID)
	if err != nil {
		return err
	}
	for _, h := range holds {
		n := min(amount, h.Amount)
		if err := locked.SetHoldLot(h.HoldID, lotID, h.Amount-n); err != nil {
			return err
		}
		if amount -= n; amount == 0 {
			return nil
		}
	}
	return fmt.Errorf("lot %d: holds reserve %d fewer credits on it than the lot says", lotID, amount)
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
	err := EachSpendableLot(locked, now, pay, func(lot Lot, n int64) error {
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
