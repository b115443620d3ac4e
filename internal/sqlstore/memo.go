package sqlstore

import (
	"time"

	"github.com/credits/credits"
)

// WriterMemo is what a database's one writer remembers of the members it
// read, so that a member's next spend needs no statement to read it:
// SQLite's writer connection, the only connection that writes, keeps one
// across its writes and batches. It is kept true by the writer's own
// writes: SaveMember forgets the member, SaveMemberSpending updates the
// spending it remembers. The store forgets it all whenever that might not
// hold: when a write is rolled back (what it wrote is undone), when a
// transaction does not commit, and when another connection has committed
// (PRAGMA data_version moved: another process, a migration).
type WriterMemo struct {
	members map[[2]string]*memoMember
	// pricing is each account's rate card and the version in effect, and
	// until when (PricingVersion), as read; forgotten whenever the writer
	// changes an account's card or adds a version (pricingChanged).
	pricing map[string]*aheadPricing
}

// memoMember is a member as MemberAt read it at starts, and its spending
// in the period of its cap that starts at start (nil: none yet).
type memoMember struct {
	starts   credits.PeriodStarts
	start    time.Time
	member   credits.Member
	spending *credits.MemberSpending
}

// maxMemoMembers bounds how many members, and accounts' rate cards, a
// writer remembers; past it, it starts again.
const maxMemoMembers = 10_000

// Forget drops everything remembered.
func (m *WriterMemo) Forget() { m.members, m.pricing = nil, nil }

// Memoer is a connection that keeps a writer's memo.
type Memoer interface {
	WriterMemo() *WriterMemo // nil: none
}

// writerMemo is the memo of the transaction's connection, if it writes and
// keeps one.
func (t *Tx) writerMemo() *WriterMemo {
	if c, ok := t.conn.(Memoer); ok && t.write {
		return c.WriterMemo()
	}
	return nil
}

// member answers MemberAt from the memo: ok false when the member was not
// read at the same starts since the memo last forgot.
func (m *WriterMemo) member(accountID, memberID string, starts credits.PeriodStarts) (credits.Member, []credits.MemberSpending, bool) {
	e := m.members[[2]string{accountID, memberID}]
	if e == nil || !e.starts.Equal(starts) {
		return credits.Member{}, nil, false
	}
	member := copyMember(e.member)
	if e.spending == nil {
		return member, nil, true
	}
	return member, []credits.MemberSpending{*e.spending}, true
}

// keepMember remembers what MemberAt read.
func (m *WriterMemo) keepMember(member credits.Member, starts credits.PeriodStarts, spendings []credits.MemberSpending) {
	if m.members == nil || len(m.members) >= maxMemoMembers {
		m.members = map[[2]string]*memoMember{}
	}
	e := &memoMember{starts: starts, start: periodStartAt(member, starts), member: copyMember(member)}
	for _, sp := range spendings {
		if sp.PeriodStart.Equal(e.start) {
			kept := sp
			e.spending = &kept
		}
	}
	m.members[[2]string{member.AccountID, member.MemberID}] = e
}

// copyMember is m with a cap of its own: the memo's never changes with a
// caller's.
func copyMember(m credits.Member) credits.Member {
	if m.Cap != nil {
		c := *m.Cap
		m.Cap = &c
	}
	return m
}

// forgetMember drops a member that a write changed.
func (m *WriterMemo) forgetMember(accountID, memberID string) {
	delete(m.members, [2]string{accountID, memberID})
}

// spendingSaved updates the spending remembered of the period sp is of.
func (m *WriterMemo) spendingSaved(accountID string, sp credits.MemberSpending) {
	if e := m.members[[2]string{accountID, sp.MemberID}]; e != nil && e.start.Equal(sp.PeriodStart) {
		kept := sp
		kept.AccountID = accountID
		e.spending = &kept
	}
}

// periodStartAt is the start of the period of member's cap among starts:
// periodStartOf's SQL, in Go.
func periodStartAt(m credits.Member, starts credits.PeriodStarts) time.Time {
	switch {
	case m.Cap == nil || m.Cap.Period == credits.PeriodTotal:
		return starts.Total
	case m.Cap.Period == credits.PeriodDay:
		return starts.Day
	case m.Cap.Period == credits.PeriodWeek:
		return starts.Week
	default:
		return starts.Month
	}
}

// pricingAt answers PricingVersion from the memo (none: ok false).
func (m *WriterMemo) pricingAt(accountID string, now time.Time) (credits.RateCardRef, bool) {
	if m == nil {
		return credits.RateCardRef{}, false
	}
	return m.pricing[accountID].at(now)
}

// keepPricing remembers what PricingVersion read.
func (m *WriterMemo) keepPricing(accountID string, p *aheadPricing) {
	if m == nil {
		return
	}
	if m.pricing == nil || len(m.pricing) >= maxMemoMembers {
		m.pricing = map[string]*aheadPricing{}
	}
	m.pricing[accountID] = p
}

// forgetPricing forgets every account's rate card and version.
func (m *WriterMemo) forgetPricing() {
	if m != nil {
		m.pricing = nil
	}
}
