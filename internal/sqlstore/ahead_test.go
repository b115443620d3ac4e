package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/credits/credits"
)

// TestTakeAccountExpiry: the batch reads lots spendable at its earliest
// write's now; a later write gets those still spendable at its own now, and
// none (it reads for itself) when the read was cut off at its limit and a
// lot dropped out, since the next lot may be missing.
func TestTakeAccountExpiry(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := since.Add(d); return &x }
	lot := func(id int64, expires *time.Time) credits.Lot {
		return credits.Lot{ID: id, AccountID: "a", Remaining: 5, ExpiresAt: expires}
	}
	tests := []struct {
		name     string
		lots     []credits.Lot
		now      time.Time
		wantIDs  []int64
		wantRead bool
	}{
		{"all still spendable", []credits.Lot{lot(1, at(time.Hour)), lot(2, nil)}, since.Add(time.Minute), []int64{1, 2}, true},
		{"one expired, fewer than the limit read", []credits.Lot{lot(1, at(time.Second))}, since.Add(time.Minute), nil, true},
		{"one expired at its limit", []credits.Lot{lot(1, at(time.Second)), lot(2, nil)}, since.Add(time.Minute), nil, false},
		{"expiring at now is expired", []credits.Lot{lot(1, at(time.Minute))}, since.Add(time.Minute), nil, true},
		{"none", nil, since, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &BatchAhead{since: since, accounts: map[string]*aheadAccount{"a": {found: true, lots: tt.lots, lotsKnown: true}}, entryIDs: []int64{7}}
			got := a.takeAccount("a", tt.now)
			if got == nil {
				t.Fatal("nothing taken")
			}
			var ids []int64
			for _, l := range got.lots {
				ids = append(ids, l.ID)
			}
			if got.lotsRead != tt.wantRead || len(ids) != len(tt.wantIDs) || (len(ids) > 0 && ids[0] != tt.wantIDs[0]) || got.entryID != 7 {
				t.Errorf("lots %v read %v entry %d, want %v read %v entry 7", ids, got.lotsRead, got.entryID, tt.wantIDs, tt.wantRead)
			}
			if again := a.takeAccount("a", tt.now); again != nil {
				t.Errorf("taken twice: %+v", again)
			}
		})
	}
}

// aheadConn is a connection that holds a batch's read-ahead and runs nothing.
type aheadConn struct{ ahead *BatchAhead }

func (c aheadConn) Ahead() *BatchAhead { return c.ahead }
func (aheadConn) Defer(Write)          {} // a write that reads for itself sends its lock so
func (aheadConn) Exec(context.Context, string, ...any) (int64, error) {
	panic("no statement runs here")
}
func (aheadConn) Query(context.Context, string, ...any) (Rows, error) {
	panic("no statement runs here")
}

// TestHandBack: a write that succeeded hands its account back as it left it,
// and the account's next write in the batch takes that, with an entry id of
// its own; a write earlier than the lots handed back, a spoiled batch, and
// lots that changed other than by a draw make the next write read for
// itself, and nobody after it is answered from the batch.
func TestHandBack(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := func() *BatchAhead {
		return &BatchAhead{since: since, entryIDs: []int64{7, 8, 9}, accounts: map[string]*aheadAccount{"a": {found: true, lotsKnown: true,
			account: credits.Account{ID: "a", Balance: 10},
			lots:    []credits.Lot{{ID: 1, AccountID: "a", Remaining: 6}, {ID: 2, AccountID: "a", Remaining: 4}}}}}
	}
	// take runs a write of account a at now: it takes what the batch has,
	// changes it as change says, and hands it back.
	take := func(a *BatchAhead, now time.Time, change func(*lockedAccount)) *lockAhead {
		t.Helper()
		tx := &Tx{conn: aheadConn{a}, d: Postgres, write: true}
		tx.LockAhead("a", now)
		took := tx.ahead
		if took == nil || !took.batch {
			return nil // it reads for itself
		}
		if change != nil {
			change(&lockedAccount{t: tx, account: took.account})
		}
		tx.HandBack()
		return took
	}
	drawTwo := func(l *lockedAccount) {
		lots, ok := l.aheadLots(l.t.ahead.at, 1)
		if !ok || len(lots) == 0 {
			t.Fatal("no lots read ahead")
		}
		lots[0].Remaining -= 2 // what addEntryTakingFromFirstLot does to the lot it draws from
		_ = l.changed(nil, func(a *credits.Account) { a.Balance -= 2 })
	}

	a := batch()
	first := take(a, since.Add(time.Minute), drawTwo)
	second := take(a, since.Add(2*time.Minute), nil)
	if first == nil || second == nil {
		t.Fatalf("taken %v, %v: want both", first, second)
	}
	if second.account.Balance != 8 || !second.lotsRead || len(second.lots) != 2 || second.lots[0].Remaining != 4 || second.entryID != 8 {
		t.Errorf("the second write took balance %d, lots %+v (read %v), entry %d; want 8, lot 1 with 4 left, entry 8",
			second.account.Balance, second.lots, second.lotsRead, second.entryID)
	}
	if got := a.accounts["a"].lots[0].Remaining; got != 4 {
		t.Errorf("the batch's lot 1 has %d left after a write took it again, want 4 (each write has its own copy)", got)
	}

	// A write earlier than the lots handed back (lots that expired in
	// between would be missing) reads for itself, and so does every write
	// of the account after it.
	a = batch()
	take(a, since.Add(time.Hour), drawTwo)
	if got := take(a, since.Add(time.Minute), nil); got != nil {
		t.Errorf("a write earlier than the handed-back lots took them: %+v", got)
	}
	if got := take(a, since.Add(2*time.Hour), nil); got != nil {
		t.Errorf("a write after one that read for itself took from the batch: %+v", got)
	}

	a = batch()
	take(a, since, func(l *lockedAccount) { l.lotsChanged() })
	if got := take(a, since, nil); got == nil || got.lotsRead || got.lots != nil || got.account.Balance != 10 {
		t.Errorf("after a write that changed lots: %+v, want the row without lots", got)
	}

	a = batch()
	take(a, since, drawTwo)
	a.Spoil()
	if got := take(a, since, nil); got != nil {
		t.Errorf("a spoiled batch answered: %+v", got)
	}
}
