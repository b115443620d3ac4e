package credits

import (
	"context"
	"time"
)

// Balance events and states: each crossing is told once, and low again only
// after the balance recovered.
const (
	OutBalanceLow       = "balance.low"
	OutBalanceDepleted  = "balance.depleted"
	OutBalanceRecovered = "balance.recovered"

	BalanceNew      = "" // never funded yet
	BalanceOK       = "ok"
	BalanceLow      = "low"
	BalanceDepleted = "depleted"
)

// MaxLowBalanceThreshold bounds a threshold.
const MaxLowBalanceThreshold = MaxAmount

// alertAndRechargeIfLow follows every change of an account's available
// credits: it starts an auto-recharge when they fell below the account's
// recharge threshold (maybeRecharge), and writes balance.low,
// balance.depleted or balance.recovered when they cross the low-balance
// threshold. The state lives in the account's
// row, which the transaction has locked, so concurrent debits crossing
// together tell it once.
func (s *Service) alertAndRechargeIfLow(tx Tx, locked LockedAccount, account Account, now time.Time) error {
	threshold := locked.Account().LowBalanceThreshold
	if threshold < 0 {
		threshold = s.LowBalanceThreshold
	}
	available := account.Balance - account.Held
	target := BalanceOK
	switch {
	case available <= 0:
		target = BalanceDepleted
	case threshold > 0 && available < threshold:
		target = BalanceLow
	}
	if err := s.maybeRecharge(tx, locked, available, now); err != nil {
		return err
	}
	current := locked.Account().BalanceState
	if current == BalanceNew {
		// An account never funded: its first credits tell nothing.
		if target == BalanceDepleted {
			return nil
		}
		return locked.SetBalanceState(target)
	}
	if target == current {
		return nil
	}
	event := ""
	switch {
	case target == BalanceDepleted:
		event = OutBalanceDepleted
	case target == BalanceLow && current == BalanceOK:
		event = OutBalanceLow
	case target == BalanceOK:
		event = OutBalanceRecovered
	} // depleted → low tells nothing: low again only after recovered
	if err := locked.SetBalanceState(target); err != nil {
		return err
	}
	if event == "" {
		return nil
	}
	return emit(locked, event, map[string]any{"available": available, "balance": account.Balance, "threshold": threshold}, now)
}

// SetLowBalanceThreshold sets an account's threshold for balance.low (-1:
// the service's default, 0: off) and returns the account.
func (s *Service) SetLowBalanceThreshold(ctx context.Context, accountID string, threshold int64) (Account, error) {
	if threshold < -1 || threshold > MaxLowBalanceThreshold {
		return Account{}, Errorf(EINVALID, "low_balance_threshold must be -1 (the default), 0 (off) or up to %d", int64(MaxLowBalanceThreshold))
	}
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return err
		}
		if err := locked.SetLowBalanceThreshold(threshold); err != nil {
			return err
		}
		// The next alertAndRechargeIfLow reads the new threshold from the row.
		relocked, err := tx.LockAccount(accountID)
		if err != nil {
			return err
		}
		return s.alertAndRechargeIfLow(tx, relocked, account, now)
	})
	if err != nil {
		return Account{}, err
	}
	return s.GetAccount(ctx, accountID)
}

// watchAgain reads an account as the transaction has left it, then watches
// its balance (for paths that do not carry the account along).
func (s *Service) watchAgain(tx Tx, accountID string, now time.Time) error {
	locked, err := tx.LockAccount(accountID)
	if err != nil {
		return err
	}
	return s.alertAndRechargeIfLow(tx, locked, locked.Account(), now)
}
