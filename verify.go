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
// 4. no balance is below zero.
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
