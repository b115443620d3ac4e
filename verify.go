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
// 1. balance = sum of entries = sum of lots' remaining amounts − debt, and every
// entry is of an account that exists;
// 2. every entry's balance_after is the running sum (no entry was changed),
// and names the account's entry before it, and the account its latest; an
// entry that names the lot it drew from names a lot of its account (1);
// 3. no checkout session was credited twice, and every account's purchases
// are chained (each naming the one before; the account its latest);
// 4. no balance or available amount is below zero, except by a debt (left by
// a refund or a dispute), and then no unreserved credits are left but those
// unbacked holds will capture, or by what holds hold unbacked (credits a
// take-back took from under them); the held amount is the sum of active
// holds, and of the lots' reservations and what the holds hold unbacked; no
// account's due time is later than its earliest expiry;
// 6. every payment's purchase, take-back and give-back entries sum to what
// its facts owe, or more by at most what its expiry entries took (toPost),
// and its lot holds no more than that: a take-back takes the lot's own
// credits first, so no refunded credit is left in it to expire or be spent;
// 9. every usage re-prices to its own credits from its pinned rate card
// version (verifyUsages).
func (s *Service) Verify(ctx context.Context) ([]Violation, error) {
	return s.VerifyProgress(ctx, nil)
}

// verifyChecks are Verify's checks, each over the whole ledger, by name.
var verifyChecks = []struct {
	name  string
	check func(Tx) ([]Violation, error)
}{
	{"balances", verifyBalances}, {"entry chains", verifyChains}, {"lot draws", verifyDraws}, {"holds", verifyHolds},
	{"purchase keys", verifyPurchaseKeys}, {"due times", verifyDue}, {"lot flags", verifyLotFlags}, {"payments", verifyPayments},
	{"usages", verifyUsages},
	{"members", verifyMembers}, {"transfers", verifyTransfers},
}

// VerifyProgress is Verify, telling progress of each check done.
func (s *Service) VerifyProgress(ctx context.Context, progress Progress) ([]Violation, error) {
	var out []Violation
	err := s.Store.View(ctx, func(tx Tx) error {
		for i, c := range verifyChecks {
			progress.report(int64(i), int64(len(verifyChecks)), "checking "+c.name)
			found, err := c.check(tx)
			out = append(out, found...)
			if err != nil {
				return err
			}
		}
		progress.report(int64(len(verifyChecks)), int64(len(verifyChecks)), fmt.Sprintf("%d violation(s)", len(out)))
		return nil
	})
	return out, err
}

// verifyBalances checks invariants 1 and 4 on every account's totals.
func verifyBalances(tx Tx) ([]Violation, error) {
	var out []Violation
	held, err := tx.HeldTotals()
	if err != nil {
		return nil, err
	}
	unbacked, reserved := make(map[string]int64), make(map[string]int64)
	for _, h := range held {
		unbacked[h.AccountID], reserved[h.AccountID] = h.Unbacked, h.Reserved
	}
	totals, err := tx.AccountTotals()
	for _, t := range totals {
		// Unreserved credits first back what holds hold unbacked, then pay a debt.
		b, unreserved := unbacked[t.AccountID], t.LotSum-reserved[t.AccountID]
		if t.Balance != t.EntrySum {
			out = append(out, Violation{1, t.AccountID, fmt.Sprintf("balance %d but entries sum to %d", t.Balance, t.EntrySum)})
		}
		if t.LotSum-t.Debt != t.EntrySum {
			out = append(out, Violation{1, t.AccountID, fmt.Sprintf("lots hold %d and debt is %d, but entries sum to %d", t.LotSum, t.Debt, t.EntrySum)})
		}
		switch available := t.Balance - t.Held; {
		case t.Debt < 0:
			out = append(out, Violation{4, t.AccountID, fmt.Sprintf("debt %d is below zero", t.Debt)})
		case t.Debt == 0 && (t.Balance < 0 || available < -b):
			out = append(out, Violation{4, t.AccountID, fmt.Sprintf("balance %d, available %d: below zero without a debt", t.Balance, available) + unbackedNote(b)})
		case t.Debt > 0 && available != -t.Debt-max(0, b-unreserved):
			out = append(out, Violation{4, t.AccountID, fmt.Sprintf("debt %d, but available is %d: unreserved credits must pay a debt", t.Debt, available) + unbackedNote(b)})
		}
	}
	return out, err
}

// verifyChains checks invariants 2 and 3 on the entries' and purchases'
// chains.
func verifyChains(tx Tx) ([]Violation, error) {
	var out []Violation
	broken, err := tx.BrokenEntryChains()
	if err != nil {
		return out, err
	}
	for _, e := range broken {
		out = append(out, Violation{2, e.AccountID, fmt.Sprintf("entry %d says balance_after %d, which is not the running sum", e.ID, e.BalanceAfter)})
	}
	unlinked, err := tx.BrokenEntryLinks()
	if err != nil {
		return out, err
	}
	for _, id := range unlinked {
		out = append(out, Violation{2, id, "the entries' chain (each naming the one before; the account naming the latest) is broken: the ledger would list wrong"})
	}
	unlinkedPurchases, err := tx.BrokenPurchaseLinks()
	for _, id := range unlinkedPurchases {
		out = append(out, Violation{3, id, "the purchases' chain (each naming the one before; the account naming the latest) is broken: the account's purchases would list wrong"})
	}
	return out, err
}

// verifyDraws checks invariant 1 on what entries drew from, and on entries
// of no account.
func verifyDraws(tx Tx) ([]Violation, error) {
	var out []Violation
	misdrawn, err := tx.MisdrawnEntries()
	if err != nil {
		return out, err
	}
	for _, d := range misdrawn {
		out = append(out, Violation{1, d.AccountID, fmt.Sprintf("entry %d (%d credits) names lot %d as the lot it drew from, but that is not a lot of its account, or the entry took nothing", d.EntryID, d.Amount, d.LotID)})
	}
	orphans, err := tx.EntriesOfNoAccount()
	for _, e := range orphans {
		out = append(out, Violation{1, e.AccountID, fmt.Sprintf("entry %d (%d credits) is of account %s, which does not exist: no balance counts it", e.ID, e.Amount, e.AccountID)})
	}
	return out, err
}

// verifyHolds checks that held credits are what active holds and lots say.
func verifyHolds(tx Tx) ([]Violation, error) {
	var out []Violation
	held, err := tx.HeldTotals()
	for _, h := range held {
		if h.Held != h.HoldSum || h.Held != h.Reserved+h.Unbacked || h.Unbacked < 0 {
			out = append(out, Violation{1, h.AccountID, fmt.Sprintf("held %d, but active holds sum to %d and lots reserve %d", h.Held, h.HoldSum, h.Reserved) + unbackedNote(h.Unbacked)})
		}
	}
	return out, err
}

// unbackedNote says what holds hold unbacked, when they do.
func unbackedNote(unbacked int64) string {
	if unbacked == 0 {
		return ""
	}
	return fmt.Sprintf(" (holds hold %d unbacked: a take-back took them)", unbacked)
}

// verifyPurchaseKeys checks invariant 3: a session credits at most once.
func verifyPurchaseKeys(tx Tx) ([]Violation, error) {
	var out []Violation
	dups, err := tx.DuplicatePurchaseReferences()
	for _, id := range dups {
		out = append(out, Violation{3, "", fmt.Sprintf("checkout session %s was credited more than once", id)})
	}
	return out, err
}

// verifyDue checks that every account is settled before its holds and lots
// expire.
func verifyDue(tx Tx) ([]Violation, error) {
	var out []Violation
	late, err := tx.LateDueAccounts()
	for _, id := range late {
		out = append(out, Violation{4, id, "due_at is later than a hold or a lot of the account expires: it would not be settled on time"})
	}
	return out, err
}

// verifyLotFlags checks each lot's spendable flag against what it holds.
func verifyLotFlags(tx Tx) ([]Violation, error) {
	var out []Violation
	mislabelled, err := tx.MislabelledLots()
	for _, l := range mislabelled {
		out = append(out, Violation{1, l.AccountID, fmt.Sprintf("lot %d holds %d with %d reserved, but its spendable flag says otherwise: draws would not find its credits, or would look at a spent lot", l.ID, l.Remaining, l.Reserved)})
	}
	return out, err
}

// verifyPayments checks invariant 6: every payment's entries (but its
// expiry entries) sum to what it posted, and that is what its facts owe, or
// more by no more than what expired of its lot; its lot holds no more than
// it posted, now and when each of its expiries took from it.
func verifyPayments(tx Tx) ([]Violation, error) {
	var out []Violation
	sums, err := tx.PaymentEntrySums()
	if err != nil {
		return nil, err
	}
	expired := make(map[string]int64)
	for _, s := range sums {
		if s.Posted != s.EntrySum {
			out = append(out, Violation{6, "", fmt.Sprintf("payment %s says it posted %d, but its entries sum to %d", s.PaymentID, s.Posted, s.EntrySum)})
		}
		if s.Expired != 0 {
			expired[s.PaymentID] = s.Expired
		}
		if s.Lot > s.Posted {
			out = append(out, Violation{6, "", fmt.Sprintf("payment %s posted %d, but its lot still holds %d: credits taken back were left in it, to expire or be spent", s.PaymentID, s.Posted, s.Lot)})
		}
	}
	after := ""
	for {
		payments, err := tx.AllPayments(after, verifyPageSize)
		if err != nil || len(payments) == 0 {
			return out, err
		}
		for _, p := range payments {
			refunds, err := tx.PaymentRefunds(p.ID)
			if err != nil {
				return nil, err
			}
			disputes, err := tx.PaymentDisputes(p.ID)
			if err != nil {
				return nil, err
			}
			if expired[p.ID] > 0 {
				entries, err := tx.PaymentEntries(p.ID)
				if err != nil {
					return nil, err
				}
				if e, posted, late := lateExpiry(entries); late {
					out = append(out, Violation{6, p.AccountID, fmt.Sprintf("payment %s: entry %d expired %d credits of its lot when it posted %d: credits taken back were left in the lot, and expired in place of others", p.ID, e.ID, -e.Amount, posted)})
				}
			}
			owed := Owed(p, refunds, disputes)
			if p.AccountID == "" || toPost(owed, expired[p.ID], p.Posted) == p.Posted {
				continue
			}
			message := fmt.Sprintf("payment %s posted %d, but its facts owe %d", p.ID, p.Posted, owed)
			if e := expired[p.ID]; e > 0 {
				message += fmt.Sprintf(" (%d of its credits expired)", e)
			}
			out = append(out, Violation{6, p.AccountID, message})
		}
		after = payments[len(payments)-1].ID
	}
}

// lateExpiry returns the first of a payment's expiry entries (entries,
// oldest first) that took more of its lot than the payment posted then, and
// what it posted: the lot never holds more than the payment posts, since a
// take-back takes the lot's own credits first (held ones too).
func lateExpiry(entries []Entry) (Entry, int64, bool) {
	var posted int64
	for _, e := range entries {
		if e.Kind != EntryExpiry {
			posted += e.Amount
		} else if -e.Amount > posted {
			return e, posted, true
		}
	}
	return Entry{}, 0, false
}

// verifyPageSize is how many payments verify reads at a time.
const verifyPageSize = 500
