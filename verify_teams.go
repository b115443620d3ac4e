package credits

import "fmt"

// verifyMembers checks invariant 10 for members: in every period, what a
// member's tagged entries spent is its spent, and what its active holds
// hold is its held.
func verifyMembers(tx Tx) ([]Violation, error) {
	totals, err := tx.MemberSpendingTotals()
	if err != nil {
		return nil, err
	}
	var out []Violation
	for _, m := range totals {
		period := m.PeriodStart.Format("2006-01-02")
		if m.EntrySum != m.Spent {
			out = append(out, Violation{10, m.AccountID, fmt.Sprintf("member %s spent %d in the period from %s, but its entries sum to %d",
				m.MemberID, m.Spent, period, m.EntrySum)})
		}
		if m.HoldSum != m.Held {
			out = append(out, Violation{10, m.AccountID, fmt.Sprintf("member %s holds %d in the period from %s, but its active holds hold %d",
				m.MemberID, m.Held, period, m.HoldSum)})
		}
	}
	return out, nil
}

// verifyTransfers checks invariant 10 for transfers: each one's parts sum
// to its credits and move lots of its sender to lots of its receiver, and
// each lot a transfer made names its origin and keeps what the lot it came
// from was.
func verifyTransfers(tx Tx) ([]Violation, error) {
	broken, err := tx.BrokenTransfers()
	var out []Violation
	for _, b := range broken {
		out = append(out, Violation{10, "", b})
	}
	return out, err
}
