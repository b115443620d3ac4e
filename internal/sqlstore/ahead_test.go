package sqlstore

import (
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
			a := &BatchAhead{since: since, accounts: map[string]*aheadAccount{"a": {found: true, lots: tt.lots}}, entryIDs: []int64{7}}
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
