package credits

import (
	"context"
	"sort"
	"time"
)

// Limits of usage totals.
const (
	MaxUsageRange       = 366 * 24 * time.Hour
	DefaultUsageRange   = 30 * 24 * time.Hour
	MaxUsagesTotalled   = 100_000
	UsageGroupByFeature = "feature"
	UsageGroupByDay     = "day"
)

// UsageTotal is what an account's usages of one group (a feature, a UTC
// day, or both) cost, and their units by quantity.
type UsageTotal struct {
	Feature string           `json:"feature,omitempty"`
	Day     string           `json:"day,omitempty"`
	Credits int64            `json:"credits"`
	Units   map[string]int64 `json:"units"`
	Usages  int64            `json:"usages"`
}

// UsageTotals totals an account's usages created in [from, to) (the last 30
// days when both are zero) by feature, by UTC day, or by both ("feature,day").
func (s *Service) UsageTotals(ctx context.Context, accountID string, from, to time.Time, groupBy string) ([]UsageTotal, error) {
	byFeature, byDay := false, false
	switch groupBy {
	case UsageGroupByFeature, "":
		byFeature = true
	case UsageGroupByDay:
		byDay = true
	case "feature,day", "day,feature":
		byFeature, byDay = true, true
	default:
		return nil, Errorf(EINVALID, "group_by must be feature, day or feature,day")
	}
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-DefaultUsageRange)
	}
	if !from.Before(to) || to.Sub(from) > MaxUsageRange {
		return nil, Errorf(EINVALID, "from must be before to, at most %d days before it", int(MaxUsageRange/(24*time.Hour)))
	}
	var usages []Usage
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		usages, err = tx.UsagesBetween(accountID, from, to, MaxUsagesTotalled+1)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(usages) > MaxUsagesTotalled {
		return nil, Errorf(EINVALID, "more than %d usages in the range: ask for a shorter one", MaxUsagesTotalled)
	}
	return totalUsages(usages, byFeature, byDay), nil
}

func totalUsages(usages []Usage, byFeature, byDay bool) []UsageTotal {
	totals := map[[2]string]*UsageTotal{}
	for _, u := range usages {
		var key [2]string
		if byFeature {
			key[0] = u.Feature
		}
		if byDay {
			key[1] = u.CreatedAt.UTC().Format(time.DateOnly)
		}
		t := totals[key]
		if t == nil {
			t = &UsageTotal{Feature: key[0], Day: key[1], Units: map[string]int64{}}
			totals[key] = t
		}
		t.Credits = addCapped(t.Credits, u.Credits)
		t.Usages++
		for q, n := range u.Quantities {
			t.Units[q] = addCapped(t.Units[q], n)
		}
	}
	out := make([]UsageTotal, 0, len(totals))
	for _, t := range totals {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].Feature < out[j].Feature
	})
	return out
}

// addCapped adds units, stopping at the largest int64 rather than wrapping.
func addCapped(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}
