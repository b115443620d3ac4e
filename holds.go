package credits

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// HoldRequest reserves credits for a while.
type HoldRequest struct {
	Amount           int64
	ExpiresInSeconds int64
	Description      string
	// MemberID, when set, holds as that member of the account: the credits
	// count against its cap while held.
	MemberID string
}

// CreateHold reserves amount of the account's available credits, on its lots
// in burn-down order, until it is captured, released or expires. Reserved
// credits do not expire with their lot while the hold lasts.
func (s *Service) CreateHold(ctx context.Context, accountID string, req HoldRequest, idem *Idempotency) (Hold, bool, error) {
	if err := validateAmount("amount", req.Amount); err != nil {
		return Hold{}, false, err
	}
	if req.ExpiresInSeconds == 0 {
		req.ExpiresInSeconds = DefaultHoldSeconds
	}
	if req.ExpiresInSeconds < 1 || req.ExpiresInSeconds > MaxHoldSeconds {
		return Hold{}, false, Errorf(EINVALID, "expires_in_seconds must be between 1 and %d", MaxHoldSeconds)
	}
	description, err := validateText("description", req.Description, false)
	if err != nil {
		return Hold{}, false, err
	}
	return idempotentAs(s, ctx, idem, accountID, req.MemberID, func(tx Tx, now time.Time) (Hold, error) {
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return Hold{}, err
		}
		if err := checkAvailable(account, req.Amount, "requested"); err != nil {
			return Hold{}, err
		}
		req.Description = description
		hold, _, err := s.reserve(tx, locked, account, req, now)
		return hold, err
	})
}

// reserve makes a hold of the account's available credits, which the caller
// has checked.
func (s *Service) reserve(tx Tx, locked LockedAccount, account Account, req HoldRequest, now time.Time) (Hold, Account, error) {
	var charge MemberCharge
	if req.MemberID != "" {
		var err error
		if charge, err = chargeMember(locked, req.MemberID, req.Amount, true, now); err != nil {
			return Hold{}, account, err
		}
	}
	hold := Hold{
		ID: NewOrderedID("hold_"), AccountID: account.ID, Amount: req.Amount, Status: HoldHeld, Description: req.Description,
		ExpiresAt: now.Add(time.Duration(req.ExpiresInSeconds) * time.Second), CreatedAt: now, UpdatedAt: now,
	}
	reserved, err := reserveLots(locked, req.Amount, now)
	if err != nil {
		return Hold{}, account, err
	}
	if err := locked.CreateHold(hold, reserved); err != nil {
		return Hold{}, account, err
	}
	if req.MemberID != "" {
		if err := locked.TagMemberHold(hold.ID, charge.Spending); err != nil {
			return Hold{}, account, err
		}
	}
	account.Held += req.Amount
	if err := locked.SetHeld(account.Held); err != nil {
		return Hold{}, account, err
	}
	return hold, account, s.alertAndRechargeIfLow(tx, locked, account, now)
}

func reserveLots(locked LockedAccount, amount int64, now time.Time) ([]LotAmount, error) {
	var reserved []LotAmount
	err := EachSpendableLot(locked, now, amount, func(lot Lot, take int64) error {
		reserved = append(reserved, LotAmount{LotID: lot.ID, Amount: take})
		return locked.SetLot(lot.ID, lot.Remaining, lot.Reserved+take)
	})
	return reserved, err
}

// CaptureHold takes amount (all of the hold when nil) of a hold's credits
// out of the balance and frees the rest. Capturing a captured hold again with
// the same amount (or none) answers the same; anything else on a closed hold
// is a conflict, whatever the amount: the hold's state is checked first.
func (s *Service) CaptureHold(ctx context.Context, holdID string, amount *int64) (Hold, error) {
	var hold Hold
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, account, h, err := s.openHold(tx, holdID, now)
		if hold = h; err != nil {
			return err
		}
		switch {
		case hold.Status == HoldCaptured && (amount == nil || *amount == hold.Captured):
			return nil
		case hold.Status != HoldHeld:
			return Errorf(ECONFLICT, "hold %s is %s; it can no longer be captured", holdID, hold.Status)
		case !now.Before(hold.ExpiresAt): // expired, and no settlement closed it yet
			return Errorf(ECONFLICT, "hold %s expired at %s; it can no longer be captured", holdID, hold.ExpiresAt.Format(time.RFC3339))
		case amount == nil:
		case *amount < 1 || *amount > hold.Amount:
			return Errorf(EINVALID, "amount must be a whole number from 1 to the %d credits held (omit it to capture all)", hold.Amount)
		}
		captured := hold.Amount
		if amount != nil {
			captured = *amount
		}
		if account, hold, err = s.closeHold(locked, account, hold, captured, HoldCaptured, now); err != nil {
			return err
		}
		return s.alertAndRechargeIfLow(tx, locked, account, now)
	})
	return hold, err
}

// ReleaseHold frees all of a hold's credits. Releasing a released hold again
// answers the same; releasing a captured or expired hold is a conflict.
func (s *Service) ReleaseHold(ctx context.Context, holdID string) (Hold, error) {
	var hold Hold
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, account, h, err := s.openHold(tx, holdID, now)
		if hold = h; err != nil {
			return err
		}
		switch hold.Status {
		case HoldReleased:
			return nil
		case HoldHeld:
			if account, hold, err = s.closeHold(locked, account, hold, 0, HoldReleased, now); err != nil {
				return err
			}
			return s.alertAndRechargeIfLow(tx, locked, account, now)
		default:
			return Errorf(ECONFLICT, "hold %s is %s; it can no longer be released", holdID, hold.Status)
		}
	})
	return hold, err
}

// openHold locks and settles a hold's account, then reads the hold, so that a
// hold past its expiry reads as expired.
func (s *Service) openHold(tx Tx, holdID string, now time.Time) (LockedAccount, Account, Hold, error) {
	if err := lookupID("hold", holdID); err != nil {
		return nil, Account{}, Hold{}, err
	}
	hold, err := tx.Hold(holdID)
	if errors.Is(err, ErrNotFound) {
		return nil, Account{}, hold, Errorf(ENOTFOUND, "hold %s not found", holdID)
	} else if err != nil {
		return nil, Account{}, hold, err
	}
	locked, account, err := s.settle(tx, hold.AccountID, now)
	if err != nil {
		return nil, account, hold, err
	}
	hold, err = tx.Hold(holdID)
	return locked, account, hold, err
}

// closeHold captures captured credits of a held hold (none for a release or an
// expiry), from its lots in burn-down order, and frees the rest of its
// reservations. What its lots no longer back (a take-back took those
// credits of a refunded or disputed purchase: takeBack) is captured from the
// account's other unreserved credits, and what they cannot cover becomes
// debt; released, it is simply no longer held. It returns the account and
// the hold as they are now.
func (s *Service) closeHold(locked LockedAccount, account Account, hold Hold, captured int64, status string, now time.Time) (Account, Hold, error) {
	lots, err := locked.HeldLots(hold.ID)
	if err != nil {
		return account, hold, err
	}
	var draws []LotAmount
	left := captured
	for _, lot := range lots {
		take := min(left, lot.Held)
		left -= take
		if take > 0 {
			draws = append(draws, LotAmount{LotID: lot.ID, Amount: take})
		}
		if err := locked.SetLot(lot.ID, lot.Remaining-take, lot.Reserved-lot.Held); err != nil {
			return account, hold, err
		}
	}
	account.Held -= hold.Amount
	if err := locked.SetHeld(account.Held); err != nil {
		return account, hold, err
	}
	member, err := holdMember(locked, hold)
	if err != nil {
		return account, hold, err
	}
	if captured > 0 {
		if account, hold.captureEntryID, err = captureUnbacked(locked, account, hold, captured, left, draws, member, now); err != nil {
			return account, hold, err
		}
	}
	if err := closeMemberHold(locked, hold, member, captured); err != nil {
		return account, hold, err
	}
	hold.Status, hold.Captured, hold.UpdatedAt = status, captured, now
	if err := locked.UpdateHold(hold); err != nil {
		return account, hold, err
	}
	if err := emit(locked, "hold."+status, hold, now); err != nil {
		return account, hold, err
	}
	// Credits freed on a lot that expired meanwhile expire now; the rest pay
	// back any debt.
	if account, err = expireLots(locked, account, now); err != nil {
		return account, hold, err
	}
	account, err = payDebt(locked, account, now)
	return account, hold, err
}

// captureUnbacked writes the entry of a hold's capture of captured
// credits, spent as the hold's member (nil: none): draws were taken from
// the hold's lots, and the left that they did not back come from the
// account's unreserved credits in burn-down order, then debt. The hold's
// amount is already off the account's held credits. It returns the entry's
// id.
func captureUnbacked(locked LockedAccount, account Account, hold Hold, captured, left int64, draws []LotAmount, member *MemberSpending, now time.Time) (Account, int64, error) {
	if free := account.Balance - (captured - left) - account.Held + account.Debt; left > 0 && free > 0 {
		err := EachSpendableLot(locked, now, min(left, free), func(lot Lot, n int64) error {
			draws = addDraw(draws, LotAmount{LotID: lot.ID, Amount: n})
			left -= n
			return locked.SetLot(lot.ID, lot.Remaining-n, lot.Reserved)
		})
		if err != nil {
			return account, 0, err
		}
	}
	account.Balance -= captured
	entry := Entry{AccountID: account.ID, Amount: -captured, Kind: EntryCapture, Reference: hold.ID, Description: hold.Description, CreatedAt: now}
	if member != nil {
		entry.spentAs(MemberCharge{Spending: *member})
	}
	entry, err := addEntry(locked, account, entry)
	if err != nil {
		return account, 0, err
	}
	if err := locked.AddLotDraws(entry.ID, draws); err != nil {
		return account, entry.ID, err
	}
	if left == 0 {
		return account, entry.ID, nil
	}
	inDebt := account.Debt == 0
	account.Debt += left
	if err := locked.SetDebt(account.Debt); err != nil {
		return account, entry.ID, err
	}
	if inDebt {
		return account, entry.ID, emit(locked, OutAccountInDebt, map[string]any{"debt": account.Debt, "entry": entry}, now)
	}
	return account, entry.ID, nil
}

// addDraw adds d to draws, merged with a draw of the same lot.
func addDraw(draws []LotAmount, d LotAmount) []LotAmount {
	for i := range draws {
		if draws[i].LotID == d.LotID {
			draws[i].Amount += d.Amount
			return draws
		}
	}
	return append(draws, d)
}

// settle locks an account and applies what came due for it at now: holds
// past their expiry are released, and what is left of expired lots (but for
// credits an active hold reserves) leaves the balance through expiry entries.
// It returns the lock and the account as settled.
func (s *Service) settle(tx Tx, accountID string, now time.Time) (LockedAccount, Account, error) {
	if err := lookupID("account", accountID); err != nil {
		return nil, Account{}, err
	}
	locked, err := tx.LockAccount(accountID)
	if errors.Is(err, ErrNotFound) {
		return nil, Account{}, Errorf(ENOTFOUND, "account %s not found", accountID)
	} else if err != nil {
		return nil, Account{}, err
	}
	account := locked.Account()
	if !account.due(now) {
		return locked, account, s.alertAndRechargeIfLow(tx, locked, account, now)
	}
	// The holds that came due, not the newest: an account may hold more
	// than one settlement reads, and a due hold behind them never expired.
	holds, err := tx.DueHolds(accountID, now, MaxHoldsSettled)
	if err != nil {
		return nil, account, err
	}
	if account, err = expireHolds(locked, account, holds, now); err != nil {
		return nil, account, err
	}
	if account, err = expireLots(locked, account, now); err != nil {
		return locked, account, err
	}
	// What the holds freed on lots that did not expire pays back any debt.
	if len(holds) > 0 {
		if account, err = payDebt(locked, account, now); err != nil {
			return locked, account, err
		}
	}
	if err := locked.RefreshDueAt(); err != nil {
		return locked, account, err
	}
	return locked, account, s.alertAndRechargeIfLow(tx, locked, account, now)
}

// expireHolds closes the account's due holds as expired, all at once: what
// they reserve on each lot, their members' held credits and the account's
// are read and written once for all of them (closed one by one, each hold
// was a few round trips on PostgreSQL, and one more write of the same
// rows), and each hold is marked expired, with its event. As closeHold with
// nothing captured; the caller expires lots and pays debt with what they
// free.
func expireHolds(locked LockedAccount, account Account, holds []Hold, now time.Time) (Account, error) {
	if len(holds) == 0 {
		return account, nil
	}
	ids := make([]string, len(holds))
	for i, h := range holds {
		ids[i] = h.ID
	}
	heldLots, err := locked.HeldLotsOf(ids)
	if err != nil {
		return account, err
	}
	members, err := locked.MemberHoldsOf(ids)
	if err != nil {
		return account, err
	}
	lots := map[int64]*HeldLot{} // each lot, with what the holds free on it as Held
	var lotIDs []int64
	periods := map[[2]string]*MemberSpending{} // each member's period, less what the holds held
	var periodKeys [][2]string
	for _, h := range holds {
		for _, l := range heldLots[h.ID] {
			if lots[l.ID] == nil {
				lot := l
				lot.Held = 0
				lots[l.ID], lotIDs = &lot, append(lotIDs, l.ID)
			}
			lots[l.ID].Held += l.Held
		}
		account.Held -= h.Amount
		sp, ok := members[h.ID]
		if !ok {
			continue
		}
		key := [2]string{sp.MemberID, sp.PeriodStart.Format(time.RFC3339Nano)}
		if periods[key] == nil {
			periods[key], periodKeys = &sp, append(periodKeys, key)
		}
		if p := periods[key]; p.Held < h.Amount {
			panic(fmt.Sprintf("member %s of account %s holds %d credits, fewer than hold %s's %d", p.MemberID, p.AccountID, p.Held, h.ID, h.Amount))
		}
		periods[key].Held -= h.Amount
	}
	slices.Sort(lotIDs)
	for _, id := range lotIDs {
		if err := locked.SetLot(id, lots[id].Remaining, lots[id].Reserved-lots[id].Held); err != nil {
			return account, err
		}
	}
	if err := locked.SetHeld(account.Held); err != nil {
		return account, err
	}
	for _, key := range periodKeys {
		if err := locked.SaveMemberSpending(*periods[key]); err != nil {
			return account, err
		}
	}
	if err := locked.ExpireHolds(ids, now); err != nil {
		return account, err
	}
	expired := make([]any, len(holds))
	for i, h := range holds {
		h.Status, h.Captured, h.UpdatedAt = HoldExpired, 0, now
		expired[i] = h
	}
	return account, emitEach(locked, OutHoldExpired, expired, now)
}

// due reports whether something of the account may have come due at now.
func (a Account) due(now time.Time) bool {
	return a.DueAt != nil && !a.DueAt.After(now)
}

// Bounds of one settlement: it closes at most MaxHoldsSettled due holds
// (what is left is settled by the next one; their credits stay held
// meanwhile), and reads expired lots MaxLotsExpiredAtOnce at a time.
const (
	MaxHoldsSettled      = 10_000
	MaxLotsExpiredAtOnce = 1_000
)

// expireLots expires every lot of the account due at now, reading
// MaxLotsExpiredAtOnce at a time: a settlement that left some for the next
// one would count their credits as available, which no lot can give.
func expireLots(locked LockedAccount, account Account, now time.Time) (Account, error) {
	for {
		lots, err := locked.ExpiringLots(now, MaxLotsExpiredAtOnce)
		if err != nil {
			return account, err
		}
		if account, err = expireLotBatch(locked, account, lots, now); err != nil || len(lots) < MaxLotsExpiredAtOnce {
			return account, err
		}
	}
}

func expireLotBatch(locked LockedAccount, account Account, lots []Lot, now time.Time) (Account, error) {
	for _, lot := range lots {
		expired := lot.Spendable()
		if err := locked.SetLot(lot.ID, lot.Reserved, lot.Reserved); err != nil {
			return account, err
		}
		account.Balance -= expired
		entry := Entry{AccountID: account.ID, Amount: -expired, Kind: EntryExpiry, Reference: fmt.Sprintf("lot_%d", lot.ID),
			Description: "credits expired", CreatedAt: now}
		entry, err := addEntry(locked, account, entry)
		if err != nil {
			return account, err
		}
		if err := locked.AddLotDraws(entry.ID, []LotAmount{{LotID: lot.ID, Amount: expired}}); err != nil {
			return account, err
		}
		if lot.Source == EntryPurchase {
			// The payment that bought the lot counts what of it expired,
			// here or in an account a transfer moved it to: a take-back
			// never takes those credits again (toPost, takeBackFrom).
			if err := locked.LinkPurchaseLotEntry(entry.ID, lot.Reference); err != nil {
				return account, err
			}
		}
		if err := emit(locked, OutCreditsExpired, map[string]any{"lot_id": lot.ID, "amount": expired, "entry": entry}, now); err != nil {
			return account, err
		}
	}
	account.Available = account.Balance - account.Held
	return account, nil
}

// SweepExpired settles every account that has something due; it returns how
// many accounts it settled.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	now := s.now()
	var due []string
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		due, err = tx.DueAccounts(now, 100)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("find due accounts: %w", err)
	}
	for _, id := range due {
		err := s.update(ctx, func(tx Tx) error {
			_, _, err := s.settle(tx, id, now)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("settle account %s: %w", id, err)
		}
	}
	if err := s.noticeExpiring(ctx, now); err != nil {
		return len(due), err
	}
	err = s.update(ctx, func(tx Tx) error {
		if _, err := tx.DeleteIdempotencyRecordsBefore(now.Add(-IdempotencyKeyRetention)); err != nil {
			return err
		}
		if _, err := tx.DeleteWebSessionsBefore(now); err != nil {
			return err
		}
		if s.IgnoredPayloadRetention <= 0 {
			return nil
		}
		_, err := tx.DropIgnoredPayloads(now.Add(-s.IgnoredPayloadRetention))
		return err
	})
	return len(due), err
}

// noticeExpiring writes credits.expiring, once per lot, for lots whose
// credits expire within ExpiringNotice.
func (s *Service) noticeExpiring(ctx context.Context, now time.Time) error {
	if s.ExpiringNotice <= 0 {
		return nil
	}
	until := now.Add(s.ExpiringNotice)
	var due []string
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		due, err = tx.NoticeDueAccounts(now, until, 100)
		return err
	})
	if err != nil {
		return fmt.Errorf("find accounts with credits expiring soon: %w", err)
	}
	for _, id := range due {
		err := s.update(ctx, func(tx Tx) error {
			locked, err := tx.LockAccount(id)
			if err != nil {
				return err
			}
			lots, err := locked.LotsToNotice(now, until, MaxLotsExpiredAtOnce)
			if err != nil {
				return err
			}
			for _, lot := range lots {
				if err := emit(locked, OutCreditsExpiring, map[string]any{"lot_id": lot.ID, "amount": lot.Spendable(),
					"expires_at": lot.ExpiresAt.UTC().Format(time.RFC3339), "source": lot.Source}, now); err != nil {
					return err
				}
				if err := locked.MarkLotNoticed(lot.ID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("tell account %s of credits expiring: %w", id, err)
		}
	}
	return nil
}

// RunSweeper settles due accounts every interval, and when the test clock
// moves, until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if s.TestClock != nil {
			// Another replica may have moved the clock: follow it.
			if _, err := s.ReadTestClock(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Error("read the test clock", "error", err)
			}
		}
		if settled, err := s.SweepExpired(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("sweep expired holds and lots", "error", err)
		} else if settled > 0 {
			wake(s.dispatchWake) // what expired tells the application now, not at the next tick
		}
		select {
		case <-ctx.Done():
			return
		case <-s.sweepWake:
		case <-ticker.C:
		}
	}
}

// GetHold returns one hold, its account settled first (in a write
// transaction only when something is due).
func (s *Service) GetHold(ctx context.Context, holdID string) (Hold, error) {
	if err := lookupID("hold", holdID); err != nil {
		return Hold{}, err
	}
	read := func() (hold Hold, err error) {
		err = s.Store.View(ctx, func(tx Tx) error {
			hold, err = tx.Hold(holdID)
			if errors.Is(err, ErrNotFound) {
				return Errorf(ENOTFOUND, "hold %s not found", holdID)
			}
			return err
		})
		return hold, err
	}
	hold, err := read()
	if err != nil || hold.Status != HoldHeld {
		return hold, err
	}
	if err := s.settleIfDue(ctx, hold.AccountID); err != nil {
		return hold, err
	}
	return read()
}

// ListHolds lists an account's holds, newest first.
func (s *Service) ListHolds(ctx context.Context, accountID, status string, limit int) ([]Hold, error) {
	switch status {
	case "", HoldHeld, HoldCaptured, HoldReleased, HoldExpired:
	default:
		return nil, Errorf(EINVALID, "status must be one of held, captured, released, expired")
	}
	limit, err := PageSize(limit)
	if err != nil {
		return nil, err
	}
	if err := s.settleIfDue(ctx, accountID); err != nil {
		return nil, err
	}
	var holds []Hold
	err = s.Store.View(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		var err error
		holds, err = tx.Holds(accountID, status, limit)
		return err
	})
	return holds, err
}

// settleIfDue settles an account before a read, in a write transaction only
// when something is due.
func (s *Service) settleIfDue(ctx context.Context, accountID string) error {
	if err := lookupID("account", accountID); err != nil {
		return err
	}
	now := s.now()
	var due bool
	err := s.Store.View(ctx, func(tx Tx) error {
		a, err := tx.Account(accountID)
		due = err == nil && a.due(now)
		if errors.Is(err, ErrNotFound) {
			return nil // the caller answers not found
		}
		return err
	})
	if err != nil || !due {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		_, _, err := s.settle(tx, accountID, now)
		return err
	})
}
