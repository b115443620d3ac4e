package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
)

var holdsAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"HoldsAttackExpiredHoldBehindManyNewer", testHoldsAttackExpiredHoldBehindManyNewer},
}

// testHoldsAttackExpiredHoldBehindManyNewer: a client makes a short hold,
// then more than MaxHoldsSettled long ones. A settlement reads a bounded
// number of held holds; it must read the ones that came due, not the newest,
// or the short hold never expires and its credits stay reserved for good.
// (The long holds are copied with SQL: making them one by one is slow.)
func testHoldsAttackExpiredHoldBehindManyNewer(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 2*credits.MaxHoldsSettled, 0, 0)
	short := f.hold("u1", 1, time.Minute)
	f.now = f.now.Add(time.Second)
	long := f.hold("u1", 1, 24*time.Hour)
	n := credits.MaxHoldsSettled
	f.rawExec(
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO holds (id, account_id, amount, captured, status, description, expires_at, created_at, updated_at)
			SELECT 'hold_copy' || CAST(i AS TEXT), account_id, amount, captured, status, description, expires_at, created_at, updated_at
			FROM holds, n WHERE holds.id = '%s'`, n, long.ID),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO hold_lots (hold_id, lot_id, amount)
			SELECT 'hold_copy' || CAST(i AS TEXT), lot_id, amount FROM hold_lots, n WHERE hold_lots.hold_id = '%s'`, n, long.ID),
		fmt.Sprintf(`UPDATE lots SET reserved = reserved + %d WHERE account_id = 'u1'`, n),
		fmt.Sprintf(`UPDATE accounts SET held = held + %d WHERE id = 'u1'`, n),
	)
	total := int64(2 * credits.MaxHoldsSettled)
	f.wantAccount("u1", total, total-int64(n)-2)

	f.now = f.now.Add(2 * time.Minute) // the short hold expired
	h, err := f.svc.GetHold(context.Background(), short.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != credits.HoldExpired {
		t.Errorf("hold %s, past its expiry behind %d newer holds, is %s; want expired", h.ID, n+1, h.Status)
	}
	f.wantAccount("u1", total, total-int64(n)-1)
	if _, err := f.debit("u1", total-int64(n)-1); err != nil {
		t.Errorf("debit of all that is available once the short hold expired: %v", err)
	}
}
