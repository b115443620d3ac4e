package credits

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// HoldRequest reserves credits for a while.
type HoldRequest struct {
	Amount           int64
	ExpiresInSeconds int64
	Description      string
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
	return idempotent(s, ctx, idem, func(tx Tx, now time.Time) (Hold, error) {
		account, err := s.settle(tx, accountID, now)
		if err != nil {
			return Hold{}, err
		}
		if available := account.Balance - account.Held; req.Amount > available {
			return Hold{}, Errorf(EINSUFFICIENT, "account %s has %d credits available; %d requested", accountID, available, req.Amount)
		}
		hold := Hold{
			ID: NewID("hold_"), AccountID: accountID, Amount: req.Amount, Status: HoldHeld, Description: description,
			ExpiresAt: now.Add(time.Duration(req.ExpiresInSeconds) * time.Second), CreatedAt: now, UpdatedAt: now,
		}
		reserved, err := reserveLots(tx, accountID, req.Amount, now)
		if err != nil {
			return Hold{}, err
		}
		if err := tx.CreateHold(hold, reserved); err != nil {
			return Hold{}, err
		}
		return hold, tx.SetAccountHeld(accountID, account.Held+req.Amount)
	})
}

func reserveLots(tx Tx, accountID string, amount int64, now time.Time) ([]LotAmount, error) {
	var reserved []LotAmount
	err := eachSpendableLot(tx, accountID, now, amount, func(lot Lot, take int64) error {
		reserved = append(reserved, LotAmount{LotID: lot.ID, Amount: take})
		return tx.SetLot(lot.ID, lot.Remaining, lot.Reserved+take)
	})
	return reserved, err
}

// CaptureHold takes amount (all of the hold when 0) of a hold's credits out
// of the balance and frees the rest. Capturing a captured hold again with the
// same amount answers the same; anything else on a closed hold is a conflict.
func (s *Service) CaptureHold(ctx context.Context, holdID string, amount int64) (Hold, error) {
	if amount < 0 || amount > MaxAmount {
		return Hold{}, Errorf(EINVALID, "amount must be a whole number between 1 and %d", int64(MaxAmount))
	}
	var hold Hold
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		var err error
		if hold, err = s.openHold(tx, holdID, now); err != nil {
			return err
		}
		switch {
		case hold.Status == HoldCaptured && (amount == 0 || amount == hold.Captured):
			return nil
		case hold.Status != HoldHeld:
			return Errorf(ECONFLICT, "hold %s is %s; it can no longer be captured", holdID, hold.Status)
		case amount > hold.Amount:
			return Errorf(EINVALID, "amount %d is more than the %d credits held", amount, hold.Amount)
		}
		if amount == 0 {
			amount = hold.Amount
		}
		hold, err = s.closeHold(tx, hold, amount, HoldCaptured, now)
		return err
	})
	return hold, err
}

// ReleaseHold frees all of a hold's credits. Releasing a released hold again
// answers the same; releasing a captured or expired hold is a conflict.
func (s *Service) ReleaseHold(ctx context.Context, holdID string) (Hold, error) {
	var hold Hold
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		var err error
		if hold, err = s.openHold(tx, holdID, now); err != nil {
			return err
		}
		switch hold.Status {
		case HoldReleased:
			return nil
		case HoldHeld:
			hold, err = s.closeHold(tx, hold, 0, HoldReleased, now)
			return err
		default:
			return Errorf(ECONFLICT, "hold %s is %s; it can no longer be released", holdID, hold.Status)
		}
	})
	return hold, err
}

// openHold reads a hold after settling its account, so that a hold past its
// expiry reads as expired.
func (s *Service) openHold(tx Tx, holdID string, now time.Time) (Hold, error) {
	hold, err := tx.Hold(holdID)
	if errors.Is(err, ErrNotFound) {
		return hold, Errorf(ENOTFOUND, "hold %s not found", holdID)
	} else if err != nil {
		return hold, err
	}
	if _, err := s.settle(tx, hold.AccountID, now); err != nil {
		return hold, err
	}
	return tx.Hold(holdID)
}

// closeHold captures captured credits of a held hold (none for a release or an
// expiry) and frees the rest of its reservations.
func (s *Service) closeHold(tx Tx, hold Hold, captured int64, status string, now time.Time) (Hold, error) {
	account, err := tx.Account(hold.AccountID)
	if err != nil {
		return hold, err
	}
	reserved, err := tx.HoldLots(hold.ID)
	if err != nil {
		return hold, err
	}
	lots := make([]Lot, 0, len(reserved))
	heldOn := map[int64]int64{} // what this hold reserved on each lot
	for _, r := range reserved {
		lot, err := tx.Lot(r.LotID)
		if err != nil {
			return hold, err
		}
		lot.Reserved -= r.Amount
		heldOn[lot.ID] = r.Amount
		lots = append(lots, lot)
	}
	sortBurnDown(lots)
	var draws []LotAmount
	left := captured
	for _, lot := range lots {
		take := min(left, heldOn[lot.ID])
		left -= take
		if take > 0 {
			draws = append(draws, LotAmount{LotID: lot.ID, Amount: take})
		}
		if err := tx.SetLot(lot.ID, lot.Remaining-take, lot.Reserved); err != nil {
			return hold, err
		}
	}
	account.Held -= hold.Amount
	if err := tx.SetAccountHeld(account.ID, account.Held); err != nil {
		return hold, err
	}
	if captured > 0 {
		account.Balance -= captured
		entry := Entry{AccountID: account.ID, Amount: -captured, Kind: EntryCapture, Reference: hold.ID, Description: hold.Description, CreatedAt: now}
		if entry, err = addEntry(tx, account, entry); err != nil {
			return hold, err
		}
		if err := tx.AddLotDraws(entry.ID, draws); err != nil {
			return hold, err
		}
	}
	hold.Status, hold.Captured, hold.UpdatedAt = status, captured, now
	if err := tx.UpdateHold(hold); err != nil {
		return hold, err
	}
	// Credits freed on a lot that expired meanwhile expire now; the rest pay
	// back any debt.
	if account, err = s.expireLots(tx, account, now); err != nil {
		return hold, err
	}
	_, err = payDebt(tx, account, now)
	return hold, err
}

func sortBurnDown(lots []Lot) {
	sort.SliceStable(lots, func(i, j int) bool {
		a, b := lots[i], lots[j]
		switch {
		case (a.ExpiresAt == nil) != (b.ExpiresAt == nil):
			return a.ExpiresAt != nil
		case a.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt):
			return a.ExpiresAt.Before(*b.ExpiresAt)
		case a.Priority != b.Priority:
			return a.Priority < b.Priority
		default:
			return a.ID < b.ID
		}
	})
}

// settle applies what came due for an account at now: holds past their
// expiry are released, and what is left of expired lots (but for credits an
// active hold reserves) leaves the balance through expiry entries. It returns
// the account as settled.
func (s *Service) settle(tx Tx, accountID string, now time.Time) (Account, error) {
	account, err := tx.Account(accountID)
	if errors.Is(err, ErrNotFound) {
		return account, Errorf(ENOTFOUND, "account %s not found", accountID)
	} else if err != nil {
		return account, err
	}
	holds, err := tx.Holds(accountID, HoldHeld, MaxHoldsSettled)
	if err != nil {
		return account, err
	}
	for _, hold := range holds {
		if hold.ExpiresAt.After(now) {
			continue
		}
		if _, err := s.closeHold(tx, hold, 0, HoldExpired, now); err != nil {
			return account, err
		}
	}
	if account, err = tx.Account(accountID); err != nil {
		return account, err
	}
	return s.expireLots(tx, account, now)
}

// Bounds of one settlement; what is left is settled by the next one.
const (
	MaxHoldsSettled      = 10_000
	MaxLotsExpiredAtOnce = 10_000
)

func (s *Service) expireLots(tx Tx, account Account, now time.Time) (Account, error) {
	lots, err := tx.ExpiringLots(account.ID, now, MaxLotsExpiredAtOnce)
	if err != nil {
		return account, err
	}
	for _, lot := range lots {
		expired := lot.Spendable()
		if err := tx.SetLot(lot.ID, lot.Reserved, lot.Reserved); err != nil {
			return account, err
		}
		account.Balance -= expired
		entry := Entry{AccountID: account.ID, Amount: -expired, Kind: EntryExpiry, Reference: fmt.Sprintf("lot_%d", lot.ID),
			Description: "credits expired", CreatedAt: now}
		if entry, err = addEntry(tx, account, entry); err != nil {
			return account, err
		}
		if err := tx.AddLotDraws(entry.ID, []LotAmount{{LotID: lot.ID, Amount: expired}}); err != nil {
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
			_, err := s.settle(tx, id, now)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("settle account %s: %w", id, err)
		}
	}
	err = s.update(ctx, func(tx Tx) error {
		_, err := tx.DeleteIdempotencyRecordsBefore(now.Add(-IdempotencyKeyRetention))
		return err
	})
	return len(due), err
}

// RunSweeper settles due accounts every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if _, err := s.SweepExpired(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("sweep expired holds and lots", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// GetHold returns one hold, settled.
func (s *Service) GetHold(ctx context.Context, holdID string) (Hold, error) {
	var hold Hold
	err := s.update(ctx, func(tx Tx) (err error) {
		hold, err = s.openHold(tx, holdID, s.now())
		return err
	})
	return hold, err
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
	now := s.now()
	var due bool
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		due, err = tx.AccountDue(accountID, now)
		return err
	})
	if err != nil || !due {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		_, err := s.settle(tx, accountID, now)
		return err
	})
}
