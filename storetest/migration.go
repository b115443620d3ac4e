package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// Migrator is a store whose migrations can be applied up to a version, and
// that runs raw SQL: what a test of a data migration needs.
type Migrator interface {
	credits.Store
	Exec(ctx context.Context, query string, args ...any) error
	MigrateTo(ctx context.Context, version int64) (int, error)
	MigrateDownTo(ctx context.Context, version int64) (int, error)
	Migrate(ctx context.Context) (int, error)
}

// TestPaymentsMigration builds a database of the schema before payments
// (version before) as the service then wrote it — a purchase of 200 credits
// for $10.00, a refund that took 50 of them, an open dispute that took 100 —
// migrates it, and wants every balance kept, verify clean, the facts that
// owe what was posted, and new events applied on top. now is the store's
// literal for a time.
func TestPaymentsMigration(t *testing.T, db Migrator, before int64, now string) {
	ctx := context.Background()
	if _, err := db.MigrateTo(ctx, before); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO packs (id, name, credits, unit_amount, currency, active, created_at) VALUES ('starter', 'Starter', 100, 500, 'usd', TRUE, NOW)`,
		`INSERT INTO accounts (id, email, balance, held, debt, trial, created_at) VALUES ('u1', 'u1@example.com', 50, 0, 0, FALSE, NOW)`,
		`INSERT INTO accounts (id, email, balance, held, debt, trial, created_at) VALUES ('u2', 'u2@example.com', 100, 0, 0, FALSE, NOW)`,
		`INSERT INTO purchases (account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, refunded_credits, created_at)
			VALUES ('u1', 'starter', 2, 200, 1000, 'usd', 'cs_1', 'pi_1', 'evt_1', 50, NOW)`,
		`INSERT INTO purchases (account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, refunded_credits, created_at)
			VALUES ('u2', 'starter', 1, 100, 500, 'usd', 'cs_2', '', 'evt_2', 0, NOW)`,
		`INSERT INTO lots (account_id, amount, remaining, reserved, priority, source, reference, created_at) VALUES ('u1', 200, 50, 0, 0, 'purchase', 'cs_1', NOW)`,
		`INSERT INTO lots (account_id, amount, remaining, reserved, priority, source, reference, created_at) VALUES ('u2', 100, 100, 0, 0, 'purchase', 'cs_2', NOW)`,
		`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at) VALUES ('u1', 200, 'purchase', 'cs_1', '2 × Starter', 200, NOW)`,
		`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at) VALUES ('u2', 100, 'purchase', 'cs_2', '1 × Starter', 100, NOW)`,
		`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at) VALUES ('u1', -50, 'refund', 'ch_1', 'refund of 50 credits of session cs_1', 150, NOW)`,
		`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at) VALUES ('u1', -100, 'dispute', 'dp_1', 'disputed payment of session cs_1', 50, NOW)`,
		`INSERT INTO disputes (id, account_id, session_id, credits, status, created_at, updated_at) VALUES ('dp_1', 'u1', 'cs_1', 100, 'open', NOW, NOW)`,
	} {
		if err := db.Exec(ctx, strings.ReplaceAll(stmt, "NOW", now)); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := credits.NewService(db)
	for id, want := range map[string]int64{"u1": 50, "u2": 100} {
		if a, err := svc.GetAccount(ctx, id); err != nil || a.Balance != want {
			t.Errorf("account %s after the migration: %+v (%v), want balance %d", id, a, err, want)
		}
	}
	if violations, err := svc.Verify(ctx); err != nil || len(violations) > 0 {
		t.Errorf("verify after the migration: %+v (%v)", violations, err)
	}
	p, err := svc.GetPayment(ctx, "pi_1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Payment.Posted != 50 || p.Owed != 50 || len(p.Entries) != 3 || len(p.Disputes) != 1 || p.Disputes[0].Status != "needs_response" {
		t.Errorf("payment pi_1 = %+v", p)
	}
	if free, err := svc.GetPayment(ctx, "cs_2"); err != nil || free.Payment.Posted != 100 || free.Owed != 100 {
		t.Errorf("payment of cs_2 = %+v (%v)", free, err)
	}
	// The dispute is won: the 100 credits it took come back, the refund's stay taken.
	won := stripeEvent("evt_won", credits.EventDisputeClosed, 1_800_000_000, map[string]any{"id": "dp_1", "object": "dispute",
		"amount": 500, "currency": "usd", "status": "won", "payment_intent": "pi_1"})
	ev, err := svc.HandleEvent(ctx, testkit.MustEvent(t, won))
	if err != nil || ev.Status != credits.EventProcessed {
		t.Fatalf("dispute won after the migration: %+v (%v)", ev, err)
	}
	if a, err := svc.GetAccount(ctx, "u1"); err != nil || a.Balance != 150 {
		t.Errorf("u1 after the dispute was won: %+v (%v), want 150", a, err)
	}
	if violations, err := svc.Verify(ctx); err != nil || len(violations) > 0 {
		t.Errorf("verify at the end: %+v (%v)", violations, err)
	}
}

// TestExpiryEntriesMigration leaves a database as the service left it before
// expiry entries were linked to their payment — a purchase whose credits
// expired unused, its expiry entry not linked — rolls it back to the schema
// before that migration (version before), migrates it again, and wants the
// entry linked: a full refund then takes nothing back, and verify is clean.
// (The state is made with today's code on today's schema, then rolled back:
// today's code cannot write an older schema.)
func TestExpiryEntriesMigration(t *testing.T, db Migrator, before int64) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, now: fixtureNow}
	f.svc = credits.NewService(db)
	f.svc.Now = func() time.Time { return f.now }
	f.expiringPack()
	f.account("u1", "u1@example.com")
	f.grant("u1", 40, 0, 0)
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	f.pastExpiry(expires)
	if err := db.Exec(ctx, `DELETE FROM payment_entries WHERE entry_id IN (SELECT id FROM entries WHERE kind = 'expiry')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MigrateDownTo(ctx, before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.GetPayment(ctx, "pi_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%d %s", len(p.Entries), p.Entries[len(p.Entries)-1].Kind); got != "2 expiry" {
		t.Errorf("payment pi_1's entries after the migration: %+v, want the purchase and its expiry", p.Entries)
	}
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.wantDebt("u1", 40, 40, 0)
	f.verify()
}

// TestEntryMembersMigration spends as a member (a debit, and the capture of
// a hold made as the member) and as no member, rolls the schema back to
// before entries named their member (version before: its Down copies them
// into member_entries), migrates again, and wants every entry spent as the
// member to name it once more: the member's history lists exactly those,
// its spending is kept, and verify (which sums them against spent) is clean.
func TestEntryMembersMigration(t *testing.T, db Migrator, before int64) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, now: fixtureNow}
	f.svc = credits.NewService(db)
	f.svc.Now = func() time.Time { return f.now }
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	if _, err := f.svc.PutMember(ctx, "u1", "m", credits.MemberRequest{SetCap: true, Cap: &credits.MemberCap{Credits: 50, Period: credits.PeriodDay}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 7, MemberID: "m"}, nil); err != nil {
		t.Fatal(err)
	}
	hold, _, err := f.svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 10, MemberID: "m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	four := int64(4)
	if _, err := f.svc.CaptureHold(ctx, hold.ID, &four); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 3}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MigrateDownTo(ctx, before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := memberHistory(t, db, "u1", "m"); got != "capture -4, debit -7" {
		t.Errorf("member m's entries after the migration: %s, want the capture of 4 and the debit of 7", got)
	}
	m, err := f.svc.GetMember(ctx, "u1", "m")
	if err != nil || m.Spent != 11 || m.Held != 0 {
		t.Errorf("member m after the migration: %+v (%v), want 11 spent, none held", m, err)
	}
	f.verify()
}

// TestEntryMembersMigrationMany is TestEntryMembersMigration with more of
// what a ledger holds: debits, captures, usages (one from a hold, costing
// more than the hold, across two days), members of one id in two accounts,
// a member without a cap, spends as no member, and a hold still open. It
// rolls back and forth twice, and wants each member's history, its
// spending in every period and verify intact; the open hold, captured after
// the migration, still counts in the day it was made.
func TestEntryMembersMigrationMany(t *testing.T, db Migrator, before int64) {
	ctx := context.Background()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC) // a Tuesday
	f := &fixture{t: t, db: db, now: day1}
	f.svc = credits.NewService(db)
	f.svc.Now = func() time.Time { return f.now }
	f.pricing()
	for _, a := range []string{"u1", "u2"} {
		f.account(a, a+"@example.com")
		f.grant(a, 1000, 0, 0)
	}
	f.member("u1", "m", capOf(50, credits.PeriodDay))
	f.member("u1", "n", nil)
	f.member("u2", "m", capOf(100, credits.PeriodMonth))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.memberDebit("u1", "m", 7))
	h, err := f.memberHold("u1", "m", 10, 72*time.Hour)
	must(err)
	four := int64(4)
	_, err = f.svc.CaptureHold(ctx, h.ID, &four)
	must(err)
	_, err = f.images("u1", "m", "use-1", 2, "") // 6
	must(err)
	forUsage, err := f.memberHold("u1", "m", 6, 72*time.Hour)
	must(err)
	open, err := f.memberHold("u1", "m", 5, 72*time.Hour)
	must(err)
	must(f.memberDebit("u1", "n", 5))
	must(f.memberDebit("u2", "m", 9))
	must(f.memberDebit("u1", "", 3))
	must(f.memberDebit("u2", "", 2))
	f.now = day1.Add(24 * time.Hour) // Wednesday
	must(f.memberDebit("u1", "m", 11))
	_, err = f.images("u1", "", "use-2", 4, forUsage.ID) // 12: 6 captured on Tuesday, 6 more on Wednesday
	must(err)
	_, err = f.images("u2", "m", "use-3", 1, "") // 3
	must(err)

	history := func(account, member string) string {
		t.Helper()
		return memberHistory(t, db, account, member)
	}
	want := map[[2]string]string{
		{"u1", "m"}: "debit -6, capture -6, debit -11, debit -6, capture -4, debit -7",
		{"u1", "n"}: "debit -5",
		{"u2", "m"}: "debit -3, debit -9",
	}
	check := func(when string) {
		t.Helper()
		for k, w := range want {
			if got := history(k[0], k[1]); got != w {
				t.Errorf("%s: %s's member %s's history: %s, want %s", when, k[0], k[1], got, w)
			}
		}
		f.now = day1
		f.wantMember("u1", "m", 7+4+6+6, 5, 50-23-5) // Tuesday: the open hold still held
		f.now = day1.Add(24 * time.Hour)
		f.wantMember("u1", "m", 11+6, 0, 50-17)
		f.wantMember("u1", "n", 5, 0, -1)
		f.wantMember("u2", "m", 12, 0, 88)
		f.verify()
	}
	check("before the migration")
	for round := range 2 {
		if _, err := db.MigrateDownTo(ctx, before); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after migration %d", round+1))
	}
	// The hold made on Tuesday is captured on Wednesday, after the
	// migration: its capture names Tuesday.
	two := int64(2)
	_, err = f.svc.CaptureHold(ctx, open.ID, &two)
	must(err)
	want[[2]string{"u1", "m"}] = "capture -2, " + want[[2]string{"u1", "m"}]
	for k, w := range want {
		if got := history(k[0], k[1]); got != w {
			t.Errorf("after the capture: %s's member %s's history: %s, want %s", k[0], k[1], got, w)
		}
	}
	f.now = day1
	f.wantMember("u1", "m", 25, 0, 25)
	f.now = day1.Add(24 * time.Hour)
	f.wantMember("u1", "m", 17, 0, 33)
	f.verify()
}

// memberHistory lists a member's entries, newest first, as "kind amount".
func memberHistory(t testing.TB, db credits.Store, accountID, memberID string) string {
	t.Helper()
	var entries []credits.Entry
	if err := db.View(context.Background(), func(tx credits.Tx) (err error) {
		entries, err = tx.MemberEntries(accountID, memberID, 0, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(entries))
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %d", e.Kind, e.Amount))
	}
	return strings.Join(got, ", ")
}
