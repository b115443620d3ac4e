package credits

import (
	"testing"
	"time"
)

func TestPeriodOf(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		period, now, start, end string
	}{
		{PeriodDay, "2026-12-07T23:59:59Z", "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z"},
		{PeriodWeek, "2026-12-07T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"}, // a Monday
		{PeriodWeek, "2026-12-13T23:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"}, // the Sunday after
		{PeriodWeek, "2027-01-01T12:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"}, // across a year
		{PeriodMonth, "2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{PeriodMonth, "2028-02-29T08:00:00+05:00", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"}, // read in UTC
		{PeriodTotal, "2026-12-07T10:00:00Z", "1970-01-01T00:00:00Z", ""},
		{"", "2026-12-07T10:00:00Z", "1970-01-01T00:00:00Z", ""}, // no cap
	}
	for _, tt := range tests {
		c := &MemberCap{Credits: 1, Period: tt.period}
		if tt.period == "" {
			c = nil
		}
		start, end := periodOf(c, at(tt.now))
		gotEnd := ""
		if end != nil {
			gotEnd = end.Format(time.RFC3339)
		}
		if got, want := start.Format(time.RFC3339)+" "+gotEnd, tt.start+" "+tt.end; got != want {
			t.Errorf("%q at %s: %s, want %s", tt.period, tt.now, got, want)
		}
	}
}
