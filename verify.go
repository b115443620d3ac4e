package credits

import (
	"context"
	"fmt"
)

// Violation is one broken invariant found by Verify.
type Violation struct {
	Invariant int    `json:"invariant"`
	AccountID string `json:"account_id,omitempty"`
	Message   string `json:"message"`
}

// Verify checks the invariants of the ledger over the whole store:
// 1. balance = sum of entries = sum of lots' remaining amounts;
// 2. every entry's balance_after is the running sum (no entry was changed);
// 3. no checkout session was credited twice;
// 4. no balance, and no available amount, is below zero; the held amount
// is the sum of active holds and of the lots' reservations.
func (s *Service) Verify(ctx context.Context) ([]Violation, error) {
	var out []Violation
	err := s.Store.View(ctx, func(tx Tx) error {
		totals, err := tx.AccountTotals()
		if err != nil {
			return err
		}
		for _, t := range totals {
			if t.Balance != t.EntrySum {
				out = append(out, Violation{1, t.AccountID, fmt.Sprintf("balance %d but entries sum to %d", t.Balance, t.EntrySum)})
			}
			if t.LotSum != t.EntrySum {
				out = append(out, Violation{1, t.AccountID, fmt.Sprintf("lots hold %d but entries sum to %d", t.LotSum, t.EntrySum)})
			}
			if t.Balance < 0 {
				out = append(out, Violation{4, t.AccountID, fmt.Sprintf("balance %d is below zero", t.Balance)})
			}
		}
		broken, err := tx.BrokenEntryChains()
		if err != nil {
			return err
		}
		for _, e := range broken {
			out = append(out, Violation{2, e.AccountID, fmt.Sprintf("entry %d says balance_after %d, which is not the running sum", e.ID, e.BalanceAfter)})
		}
		held, err := tx.HeldTotals()
		if err != nil {
			return err
		}
		for _, h := range held {
			if h.Held != h.HoldSum || h.Held != h.Reserved {
				out = append(out, Violation{1, h.AccountID, fmt.Sprintf("held %d, but active holds sum to %d and lots reserve %d", h.Held, h.HoldSum, h.Reserved)})
			}
		}
		heldBy := make(map[string]int64, len(held))
		for _, h := range held {
			heldBy[h.AccountID] = h.Held
		}
		for _, t := range totals {
			if available := t.Balance - heldBy[t.AccountID]; t.Balance >= 0 && available < 0 {
				out = append(out, Violation{4, t.AccountID, fmt.Sprintf("available %d is below zero", available)})
			}
		}
		dups, err := tx.DuplicatePurchaseReferences()
		if err != nil {
			return err
		}
		for _, id := range dups {
			out = append(out, Violation{3, "", fmt.Sprintf("checkout session %s was credited more than once", id)})
		}
		return nil
	})
	return out, err
}
