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

var transferTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"TransferKeepsLots", testTransferKeepsLots},
	{"TransferMovesGrantsOnlyWhenAsked", testTransferMovesGrantsOnlyWhenAsked},
	{"MovedCreditsExpireOnTheirDate", testMovedCreditsExpireOnTheirDate},
	{"OpposingTransfersAtOnce", testOpposingTransfersAtOnce},
	{"TransferPaysTheReceiversDebt", testTransferPaysTheReceiversDebt},
	{"VerifyFindsABrokenTransfer", testVerifyFindsABrokenTransfer},
	{"RefundOfMovedCredits", testRefundOfMovedCredits},
	{"RefundAfterMovedCreditsMovedOn", testRefundAfterMovedCreditsMovedOn},
}

func (f *fixture) transfer(req credits.TransferRequest, key string) (credits.Transfer, bool, error) {
	f.t.Helper()
	var idem *credits.Idempotency
	if key != "" {
		idem = &credits.Idempotency{Scope: "k/transfers", Key: key, RequestHash: fmt.Sprint(req)}
	}
	return f.svc.Transfer(context.Background(), req, idem)
}

func (f *fixture) lot(accountID string, id int64) credits.Lot {
	f.t.Helper()
	var lot credits.Lot
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		locked, err := tx.LockAccount(accountID)
		if err != nil {
			return err
		}
		lot, err = locked.Lot(id)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return lot
}

func testTransferKeepsLots(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	expires := f.buyExpiring("cs_1", "a", "pi_1")
	own := f.ownLot("a", "cs_1")
	req := credits.TransferRequest{From: "a", To: "b", Credits: 80, Description: "to the team"}
	tr, replayed, err := f.transfer(req, "t1")
	if err != nil || replayed {
		t.Fatalf("transfer: %+v, replayed %v, %v", tr, replayed, err)
	}
	if len(tr.Parts) != 1 || tr.Parts[0].FromLot != own.ID || tr.Parts[0].Credits != 80 || tr.Parts[0].OriginLot != own.ID ||
		tr.Parts[0].ExpiresAt == nil || !tr.Parts[0].ExpiresAt.Equal(expires) {
		t.Fatalf("parts %+v, want 80 credits from lot %d expiring %v", tr.Parts, own.ID, expires)
	}
	moved := f.lot("b", tr.Parts[0].ToLot)
	if moved.Source != credits.EntryPurchase || moved.Reference != "cs_1" || moved.Remaining != 80 || moved.Priority != own.Priority {
		t.Errorf("moved lot %+v, want 80 credits of purchase cs_1", moved)
	}
	f.wantAccount("a", 20, 20)
	f.wantAccount("b", 80, 80)
	again, replayed, err := f.transfer(req, "t1")
	if err != nil || !replayed || again.ID != tr.ID {
		t.Errorf("replay: %s, replayed %v, %v; want %s again", again.ID, replayed, err, tr.ID)
	}
	f.wantAccount("a", 20, 20)
	got, err := f.svc.GetTransfer(context.Background(), tr.ID)
	if err != nil || got.Credits != 80 || len(got.Parts) != 1 || !samePart(got.Parts[0], tr.Parts[0]) {
		t.Errorf("read back: %+v, %v; want %+v", got, err, tr)
	}
	for _, id := range []string{"a", "b"} {
		list, err := f.svc.ListTransfers(context.Background(), id, 10)
		if err != nil || len(list) != 1 || list[0].ID != tr.ID {
			t.Errorf("transfers of %s: %+v, %v", id, list, err)
		}
	}
	// Back again: the lot b moves names the purchase's lot as its origin.
	back, _, err := f.transfer(credits.TransferRequest{From: "b", To: "a", Credits: 30}, "")
	if err != nil || back.Parts[0].OriginLot != own.ID {
		t.Errorf("transfer back: %+v, %v; want origin lot %d", back, err, own.ID)
	}
	if types := f.outboxTypes(credits.OutTransferCreated); len(types) != 4 {
		t.Errorf("%d transfer.created events, want 4 (one per account per transfer)", len(types))
	}
}

func samePart(a, b credits.TransferPart) bool {
	return a.FromLot == b.FromLot && a.ToLot == b.ToLot && a.Credits == b.Credits && a.OriginLot == b.OriginLot &&
		(a.ExpiresAt == nil) == (b.ExpiresAt == nil) && (a.ExpiresAt == nil || a.ExpiresAt.Equal(*b.ExpiresAt))
}

func testTransferMovesGrantsOnlyWhenAsked(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buyExpiring("cs_1", "a", "pi_1")
	f.grant("a", 50, 0, 0)
	_, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 120}, "")
	wantCode(t, "more than the purchased credits", err, credits.EINSUFFICIENT)
	f.wantAccount("a", 150, 150) // nothing moved
	f.wantAccount("b", 0, 0)
	tr, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 120, IncludeGranted: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range tr.Parts {
		got = append(got, fmt.Sprintf("%d expiring %v", p.Credits, p.ExpiresAt != nil))
	}
	if want := "100 expiring true, 20 expiring false"; strings.Join(got, ", ") != want {
		t.Errorf("parts %s, want %s (burn-down order)", strings.Join(got, ", "), want)
	}
	f.wantAccount("a", 30, 30)
	f.wantAccount("b", 120, 120)
	_, _, err = f.transfer(credits.TransferRequest{From: "a", To: "a", Credits: 1}, "")
	wantCode(t, "to itself", err, credits.EINVALID)
	_, _, err = f.transfer(credits.TransferRequest{From: "a", To: "nobody", Credits: 1, IncludeGranted: true}, "")
	wantCode(t, "to an unknown account", err, credits.ENOTFOUND)
	f.wantAccount("a", 30, 30)
}

func testMovedCreditsExpireOnTheirDate(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	expires := f.buyExpiring("cs_1", "a", "pi_1")
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 60}, ""); err != nil {
		t.Fatal(err)
	}
	f.grant("b", 5, 0, 0)
	f.pastExpiry(expires)
	f.wantAccount("a", 0, 0)
	f.wantAccount("b", 5, 5)
}

// testOpposingTransfersAtOnce: transfers each way between two accounts at
// once wait for each other (both accounts are locked by id), never forever.
func testOpposingTransfersAtOnce(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.grant("a", 1000, 0, 0)
	f.grant("b", 1000, 0, 0)
	var wg sync.WaitGroup
	const each = 16
	errs := make(chan error, 2*each)
	for i := range 2 * each {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := credits.TransferRequest{From: "a", To: "b", Credits: 3, IncludeGranted: true}
			if i%2 == 1 {
				req = credits.TransferRequest{From: "b", To: "a", Credits: 2, IncludeGranted: true}
			}
			_, _, err := f.svc.Transfer(context.Background(), req, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	f.wantAccount("a", 1000-each, 1000-each)
	f.wantAccount("b", 1000+each, 1000+each)
}

func testTransferPaysTheReceiversDebt(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buy("cs_b", "b", "pi_b", 1)
	if _, err := f.debit("b", 100); err != nil {
		t.Fatal(err)
	}
	f.receive(testkit.ChargeRefunded("evt_r", "ch_b", "pi_b", 500, 500))
	f.wantDebt("b", -100, -100, 100)
	f.buy("cs_a", "a", "pi_a", 2)
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 150}, ""); err != nil {
		t.Fatal(err)
	}
	f.wantDebt("a", 50, 50, 0)
	f.wantDebt("b", 50, 50, 0)
}

// testVerifyFindsABrokenTransfer: parts that do not sum to the transfer's
// credits are reported, and so are parts whose lots are not of the
// transfer's accounts.
func testVerifyFindsABrokenTransfer(t *testing.T, open Opener) {
	// Without newFixture's check at the end: the store keeps what it breaks.
	f := &fixture{t: t, db: open(t), now: fixtureNow}
	f.svc = credits.NewService(f.db)
	f.svc.Now = func() time.Time { return f.now }
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.grant("a", 100, 0, 0)
	tr, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 10, IncludeGranted: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	broken := tr
	broken.ID, broken.Credits = "tr_broken", 11
	if err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		broken.Parts = nil
		return tx.CreateTransfer(broken)
	}); err != nil {
		t.Fatal(err)
	}
	violations, err := f.svc.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || violations[0].Invariant != 10 || !strings.Contains(violations[0].Message, "tr_broken") {
		t.Errorf("violations %+v, want one naming tr_broken", violations)
	}
	// The same parts recorded again as a transfer from c: its lots are a's.
	f.account("c", "c@example.com")
	elsewhere := tr
	elsewhere.ID, elsewhere.From = "tr_elsewhere", "c"
	if err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		return tx.CreateTransfer(credits.Transfer{ID: elsewhere.ID, From: "c", To: "b", Credits: tr.Credits, CreatedAt: f.now})
	}); err != nil {
		t.Fatal(err)
	}
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec: the test needs raw SQL to record a wrong part", f.db)
	}
	if err := raw.Exec(context.Background(), `INSERT INTO transfer_parts (transfer_id, seq, from_lot, to_lot, credits, expires_at)
		SELECT 'tr_elsewhere', seq, from_lot, to_lot, credits, expires_at FROM transfer_parts WHERE transfer_id = '`+tr.ID+`'`); err != nil {
		t.Fatal(err)
	}
	violations, err = f.svc.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("part 0 of transfer tr_elsewhere moves lot %d of a to lot %d of b, not from c to b", tr.Parts[0].FromLot, tr.Parts[0].ToLot)
	if len(violations) != 2 || violations[1].Message != want {
		t.Errorf("violations %+v, want a second: %s", violations, want)
	}
}

// testRefundOfMovedCredits: a refund of a payment whose credits partly
// moved takes back what its lot holds, then what the moved lot holds, and
// what the receiver spent of them becomes the receiver's debt; a partial
// refund first ends at the same balances.
func testRefundOfMovedCredits(t *testing.T, open Opener) {
	for _, refunds := range [][]int64{{500}, {250, 500}} {
		t.Run(fmt.Sprint(refunds), func(t *testing.T) {
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("a", "a@example.com")
			f.account("b", "b@example.com")
			f.buy("cs_1", "a", "pi_1", 1)
			if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 80}, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := f.debit("b", 50); err != nil {
				t.Fatal(err)
			}
			for i, refunded := range refunds {
				if ev := f.receive(testkit.ChargeRefunded(fmt.Sprint("evt_r", i), "ch_1", "pi_1", 500, refunded)); ev.Status != credits.EventProcessed {
					t.Fatalf("refund: %+v", ev)
				}
			}
			f.wantDebt("a", 0, 0, 0)
			f.wantDebt("b", -50, -50, 50)
		})
	}
}

// testRefundAfterMovedCreditsMovedOn: credits moved twice (a to b to c)
// are taken back from c, and what b spent is b's debt.
func testRefundAfterMovedCreditsMovedOn(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	for _, id := range []string{"a", "b", "c"} {
		f.account(id, id+"@example.com")
	}
	f.buy("cs_1", "a", "pi_1", 1)
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 100}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.transfer(credits.TransferRequest{From: "b", To: "c", Credits: 60}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.debit("b", 10); err != nil {
		t.Fatal(err)
	}
	f.grant("b", 5, 0, 0)
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.wantDebt("a", 0, 0, 0)
	f.wantDebt("b", -5, -5, 5) // 30 left in its lot, 10 spent: its 5 granted credits, then 5 of debt
	f.wantDebt("c", 0, 0, 0)
}
