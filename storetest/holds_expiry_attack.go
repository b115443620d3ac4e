package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// holdsExpiryAttackTests attack the settlement that expires due holds
// together (expireHolds): it must end as closing them one by one would.
var holdsExpiryAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"HoldsAttackDueHoldsPayDebt", testHoldsAttackDueHoldsPayDebt},
	{"HoldsAttackUnbackedDueHoldPaysDebt", testHoldsAttackUnbackedDueHoldPaysDebt},
	{"HoldsAttackOddHoldIDsExpire", testHoldsAttackOddHoldIDsExpire},
	{"HoldsAttackDueHoldsOnAnExpiredLotAndDebt", testHoldsAttackDueHoldsOnAnExpiredLotAndDebt},
	{"HoldsAttackOtherAccountsHoldsStay", testHoldsAttackOtherAccountsHoldsStay},
	{"HoldsAttackExpiryRaceTwoReplicas", testHoldsAttackExpiryRaceTwoReplicas},
}

// testHoldsAttackDueHoldsPayDebt: an account owes credits (a refund took
// back a purchase it had spent) while a hold reserves all of a grant. When
// the hold expires, what it frees pays the debt back, as a release would:
// no credit is left spendable while a debt is owed.
func testHoldsAttackDueHoldsPayDebt(t *testing.T, open Opener) {
	ctx := context.Background()
	for _, settle := range []string{"sweep", "read", "release"} {
		t.Run(settle, func(t *testing.T) {
			f := newFixture(t, open)
			f.boughtAndSpent()
			f.grant("u1", 50, 0, 0)
			h := f.hold("u1", 50, time.Minute)
			f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
			f.wantDebt("u1", -50, -100, 100) // the grant is all held: none of it paid
			f.now = f.now.Add(2 * time.Minute)
			switch settle {
			case "sweep":
				if _, err := f.svc.SweepExpired(ctx); err != nil {
					t.Fatal(err)
				}
			case "read":
			case "release":
				if _, err := f.svc.ReleaseHold(ctx, h.ID); credits.ErrorCode(err) != credits.ECONFLICT {
					t.Errorf("release of an expired hold: %v; want conflict", err)
				}
			}
			f.wantDebt("u1", -50, -50, 50)
			if got, err := f.svc.GetHold(ctx, h.ID); err != nil || got.Status != credits.HoldExpired {
				t.Errorf("hold: %+v, %v; want expired", got, err)
			}
			f.verify()
		})
	}
}

// testHoldsAttackUnbackedDueHoldPaysDebt: a refund takes the credits a hold
// reserved (the hold keeps them unbacked) and leaves a debt; the account's
// other credits back the unbacked hold first. When the hold expires, they
// back nothing, and pay the debt.
func testHoldsAttackUnbackedDueHoldPaysDebt(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	f.hold("u1", 60, time.Minute)
	if _, err := f.debit("u1", 40); err != nil {
		t.Fatal(err)
	}
	f.grant("u1", 30, 0, 0)
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	// 60 of the purchase's lot were under the hold, 40 spent: all taken
	// back, the 40 spent owed; the grant's 30 back the hold's unbacked 60.
	f.wantDebt("u1", -10, -70, 40)
	f.now = f.now.Add(2 * time.Minute)
	f.wantDebt("u1", -10, -10, 10) // the grant's 30 paid 30 of the 40
}

// testHoldsAttackOddHoldIDsExpire: holds whose ids hold what a list of
// texts must quote or escape (quotes, commas, braces, a backslash, NULL,
// spaces, a tab, HTML and non-ASCII letters, an empty id, a long one; copied
// with SQL: the service makes plain ids) expire with the others, as ann's,
// in one settlement: {in_list} matches each id as written.
func testHoldsAttackOddHoldIDsExpire(t *testing.T, open Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	g := f.grant("u1", 100, 0, 0)
	f.member("u1", "ann", capOf(1000, credits.PeriodMonth))
	h, err := f.memberHold("u1", "ann", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{`hold_q'uote`, `hold_dq"uote`, `hold_com,ma`, `hold_{br}ace`, `hold_back\slash`, `NULL`, `null`,
		`hold_ sp ace `, "hold_\ttab", `hold_<&>`, "hold_ü✓日本\u2028", ``, "hold_" + strings.Repeat("x", 250), `"hold_quoted"`}
	var stmts []string
	for _, id := range ids {
		q := strings.ReplaceAll(id, "'", "''")
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO holds (id, account_id, amount, captured, status, description, expires_at, created_at, updated_at)
				SELECT '%s', account_id, amount, captured, status, description, expires_at, created_at, updated_at FROM holds WHERE id = '%s'`, q, h.ID),
			fmt.Sprintf(`INSERT INTO hold_lots (hold_id, lot_id, amount) SELECT '%s', lot_id, amount FROM hold_lots WHERE hold_id = '%s'`, q, h.ID),
			fmt.Sprintf(`INSERT INTO member_holds (hold_id, account_id, member_id, period_start)
				SELECT '%s', account_id, member_id, period_start FROM member_holds WHERE hold_id = '%s'`, q, h.ID))
	}
	n := len(ids)
	stmts = append(stmts,
		fmt.Sprintf(`UPDATE lots SET reserved = reserved + %d WHERE id = %d`, n, g.LotID),
		fmt.Sprintf(`UPDATE accounts SET held = held + %d WHERE id = 'u1'`, n),
		fmt.Sprintf(`UPDATE member_spending SET held = held + %d WHERE account_id = 'u1' AND member_id = 'ann'`, n))
	f.rawExec(stmts...)
	f.wantAccount("u1", 100, 100-int64(n)-1)
	f.wantMember("u1", "ann", 0, int64(n)+1, 1000-int64(n)-1)
	f.now = f.now.Add(2 * time.Minute)
	if _, err := f.debit("u1", 1); err != nil {
		t.Fatalf("a debit once %d holds with odd ids are due: %v", n+1, err)
	}
	f.wantAccount("u1", 99, 99)
	f.wantMember("u1", "ann", 0, 0, 1000)
	if l := f.lot("u1", g.LotID); l.Reserved != 0 {
		t.Errorf("the lot keeps %d reserved, want none", l.Reserved)
	}
	expired, err := f.svc.ListHolds(ctx, "u1", credits.HoldExpired, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range expired {
		got[e.ID] = true
	}
	for _, id := range append(ids, h.ID) {
		if !got[id] {
			t.Errorf("hold %q did not expire", id)
		}
	}
}

// testHoldsAttackDueHoldsOnAnExpiredLotAndDebt: an account in debt has two
// holds due at once, one on a lot that expired while it held it, one on a
// lot that never expires. What the first frees expires; what the second
// frees pays the debt.
func testHoldsAttackDueHoldsOnAnExpiredLotAndDebt(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.boughtAndSpent()
	soon := f.grant("u1", 40, 30*time.Minute, 0)
	never := f.grant("u1", 40, 0, 0)
	f.hold("u1", 40, time.Hour) // all of soon's
	f.hold("u1", 30, time.Hour) // 30 of never's
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.wantDebt("u1", -20, -90, 90) // never's 10 unreserved paid 10 of the 100 spent
	f.now = f.now.Add(time.Hour + time.Minute)
	f.wantDebt("u1", -60, -60, 60) // soon's 40 expired, never's 30 paid
	if l := f.lot("u1", soon.LotID); l.Remaining != 0 || l.Reserved != 0 {
		t.Errorf("the lot that expired: %+v, want nothing left", l)
	}
	if l := f.lot("u1", never.LotID); l.Remaining != 0 || l.Reserved != 0 {
		t.Errorf("the lot that never expires: %+v, want all of it paid to the debt", l)
	}
}

// testHoldsAttackOtherAccountsHoldsStay: two accounts have holds due on the
// same instant; settling one (its debit) expires its holds alone: the other
// keeps its holds, lots and held credits until it settles itself.
func testHoldsAttackOtherAccountsHoldsStay(t *testing.T, open Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	var lots [2]int64
	var holds [2][]credits.Hold
	for i, a := range []string{"a", "b"} {
		f.account(a, a+"@example.com")
		lots[i] = f.grant(a, 100, 0, 0).LotID
		f.member(a, "ann", nil)
		for range 3 {
			holds[i] = append(holds[i], f.hold(a, 10, time.Minute))
			h, err := f.memberHold(a, "ann", 5, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			holds[i] = append(holds[i], h)
		}
	}
	f.now = f.now.Add(2 * time.Minute)
	if _, err := f.debit("a", 1); err != nil {
		t.Fatal(err)
	}
	var b credits.Account
	if err := f.db.View(ctx, func(tx credits.Tx) (err error) { b, err = tx.Account("b"); return err }); err != nil {
		t.Fatal(err)
	}
	if b.Held != 45 {
		t.Errorf("account b holds %d before it settles, want its 45", b.Held)
	}
	if l := f.lot("b", lots[1]); l.Reserved != 45 {
		t.Errorf("b's lot: %d reserved before b settles, want 45", l.Reserved)
	}
	for _, h := range holds[1] {
		var got credits.Hold
		if err := f.db.View(ctx, func(tx credits.Tx) (err error) { got, err = tx.Hold(h.ID); return err }); err != nil || got.Status != credits.HoldHeld {
			t.Errorf("b's hold before b settles: %+v, %v; want held", got, err)
		}
	}
	f.wantAccount("a", 99, 99)
	f.wantMember("a", "ann", 0, 0, -1)
	f.wantAccount("b", 100, 100) // read: b settles now
	f.wantMember("b", "ann", 0, 0, -1)
	for _, hs := range holds {
		for _, h := range hs {
			if got, err := f.svc.GetHold(ctx, h.ID); err != nil || got.Status != credits.HoldExpired {
				t.Errorf("hold %s: %+v, %v; want expired", h.ID, got, err)
			}
		}
	}
}

// testHoldsAttackExpiryRaceTwoReplicas: 40 holds (of ann, bob and no
// member, on a lot that expires later and one that never does) are due
// while 20 are not; two replicas then sweep, capture and release the due
// ones (conflicts), release and capture the others, read and debit, all at
// once. Every due hold expires once (one event each), the others close as
// asked, and the account and members end as closing them one by one would.
func testHoldsAttackExpiryRaceTwoReplicas(t *testing.T, open Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 300, 3*time.Hour, 0)
	f.grant("u1", 1000, 0, 0)
	f.member("u1", "ann", capOf(10000, credits.PeriodMonth))
	f.member("u1", "bob", nil)
	members := []string{"", "ann", "bob"}
	var due, later []credits.Hold
	for i := range 60 {
		expires := time.Minute
		if i >= 40 {
			expires = time.Hour
		}
		h, _, err := f.svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 5, ExpiresInSeconds: int64(expires / time.Second), MemberID: members[i%3]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i < 40 {
			due = append(due, h)
		} else {
			later = append(later, h)
		}
	}
	f.now = f.now.Add(2 * time.Minute)
	replica := credits.NewService(f.db)
	replica.Now = f.svc.Now
	svcs := []*credits.Service{f.svc, replica}
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if _, err := svcs[i].SweepExpired(ctx); err != nil {
				fail("sweep: %v", err)
			}
		})
	}
	for i, h := range due {
		wg.Go(func() {
			if _, err := svcs[i%2].CaptureHold(ctx, h.ID, nil); credits.ErrorCode(err) != credits.ECONFLICT {
				fail("capture of due hold %d: %v; want conflict", i, err)
			}
		})
		wg.Go(func() {
			if _, err := svcs[(i+1)%2].ReleaseHold(ctx, h.ID); credits.ErrorCode(err) != credits.ECONFLICT {
				fail("release of due hold %d: %v; want conflict", i, err)
			}
		})
		wg.Go(func() {
			if got, err := svcs[i%2].GetHold(ctx, h.ID); err != nil || got.Status != credits.HoldExpired {
				fail("due hold %d: %+v, %v; want expired", i, got, err)
			}
		})
	}
	var spent sync.Map
	for i, h := range later {
		wg.Go(func() {
			var err error
			if i < 10 {
				_, err = svcs[i%2].ReleaseHold(ctx, h.ID)
			} else if _, err = svcs[i%2].CaptureHold(ctx, h.ID, nil); err == nil {
				spent.Store(h.ID, members[(i+40)%3])
			}
			if err != nil {
				fail("close of hold %d not due: %v", i, err)
			}
		})
	}
	for i := range 10 {
		wg.Go(func() {
			if _, _, err := svcs[i%2].Debit(ctx, "u1", credits.DebitRequest{Amount: 1}, nil); err != nil {
				fail("debit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, s := range failures {
		t.Error(s)
	}
	f.wantAccount("u1", 1300-50-10, 1300-50-10)
	byMember := map[string]int64{}
	spent.Range(func(_, m any) bool { byMember[m.(string)] += 5; return true })
	f.wantMember("u1", "ann", byMember["ann"], 0, 10000-byMember["ann"])
	f.wantMember("u1", "bob", byMember["bob"], 0, -1)
	var events []credits.OutboxEvent
	if err := f.db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 1000); return err }); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		count[ev.Type]++
	}
	if count[credits.OutHoldExpired] != 40 || count[credits.OutHoldReleased] != 10 || count[credits.OutHoldCaptured] != 10 {
		t.Errorf("events: %d expired, %d released, %d captured; want 40, 10 and 10", count[credits.OutHoldExpired],
			count[credits.OutHoldReleased], count[credits.OutHoldCaptured])
	}
}

// boughtAndSpent makes account u1, which buys a pack of 100 credits
// (payment pi_1) and spends them all: a refund of it leaves debt.
func (f *fixture) boughtAndSpent() {
	f.t.Helper()
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	if _, err := f.debit("u1", 100); err != nil {
		f.t.Fatal(err)
	}
}
