package sqlstore

import (
	"testing"
	"time"

	"github.com/credits/credits"
)

// A rate card read with the lock at since answers for the times until its
// next version takes effect, and for no other.
func TestAheadPricingHoldsUntilTheNextVersion(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := since.Add(time.Hour)
	ref := credits.RateCardRef{ID: "default", Version: 3}
	tests := []struct {
		name    string
		pricing *aheadPricing
		now     time.Time
		ok      bool
	}{
		{"not read", nil, since, false},
		{"at since", &aheadPricing{since: since, ref: ref, next: &next}, since, true},
		{"before the next version", &aheadPricing{since: since, ref: ref, next: &next}, next.Add(-time.Microsecond), true},
		{"when the next version takes effect", &aheadPricing{since: since, ref: ref, next: &next}, next, false},
		{"after it", &aheadPricing{since: since, ref: ref, next: &next}, next.Add(time.Second), false},
		{"before since", &aheadPricing{since: since, ref: ref}, since.Add(-time.Microsecond), false},
		{"no next version", &aheadPricing{since: since, ref: ref}, since.Add(24 * time.Hour), true},
	}
	for _, tt := range tests {
		got, ok := tt.pricing.at(tt.now)
		if ok != tt.ok || ok && got != ref {
			t.Errorf("%s: at(%s) = %v, %v; want %v, %v", tt.name, tt.now, got, ok, ref, tt.ok)
		}
	}
}
