package credits

import (
	"sort"
	"time"
)

// DashboardUsageDays is how far back the customer page totals usage.
const DashboardUsageDays = 30

// FeatureUsage is what one feature cost an account on the customer page,
// with its share of the largest (Percent, for the bar).
type FeatureUsage struct {
	Feature Feature
	UsageTotal
	Percent int64
}

// dashboardUsage adds to a dashboard its usage of the last
// DashboardUsageDays by feature (most credits first), and names the usage
// of each entry of its history page.
func dashboardUsage(tx Tx, d *Dashboard, now time.Time) error {
	if err := attachUsages(tx, d.Entries.Data); err != nil {
		return err
	}
	features, err := tx.Features()
	if err != nil {
		return err
	}
	d.Features = make(map[string]Feature, len(features))
	for _, f := range features {
		d.Features[f.ID] = f
	}
	usages, err := tx.UsagesBetween(d.Account.ID, now.Add(-DashboardUsageDays*24*time.Hour), now.Add(time.Microsecond), MaxUsagesTotalled)
	if err != nil || len(usages) == 0 {
		return err
	}
	totals := totalUsages(usages, true, false)
	sort.SliceStable(totals, func(i, j int) bool { return totals[i].Credits > totals[j].Credits })
	top := max(totals[0].Credits, 1)
	for _, t := range totals {
		f, ok := d.Features[t.Feature]
		if !ok {
			f = Feature{ID: t.Feature, Name: t.Feature}
		}
		// credits ≤ top: where credits × 100 could overflow, divide top first.
		percent := t.Credits * 100 / top
		if t.Credits > (1<<63-1)/100 {
			percent = t.Credits / (top / 100)
		}
		d.Usage = append(d.Usage, FeatureUsage{Feature: f, UsageTotal: t, Percent: percent})
	}
	return nil
}
