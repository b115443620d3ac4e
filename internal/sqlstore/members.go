package sqlstore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/credits/credits"
)

const memberColumns = `account_id, member_id, name, email, cap_credits, cap_period, deleted, created_at, updated_at`

func scanMember(s scanner) (credits.Member, error) {
	var m credits.Member
	var capCredits sql.NullInt64
	var capPeriod string
	err := s.Scan(&m.AccountID, &m.MemberID, &m.Name, &m.Email, &capCredits, &capPeriod, &m.Deleted, timeValue{&m.CreatedAt}, timeValue{&m.UpdatedAt})
	if capCredits.Valid {
		m.Cap = &credits.MemberCap{Credits: capCredits.Int64, Period: capPeriod}
	}
	return m, err
}

const memberSpendingColumns = `account_id, member_id, period_start, spent, held, cap_reached`

func scanMemberSpending(s scanner) (credits.MemberSpending, error) {
	var sp credits.MemberSpending
	return sp, s.Scan(&sp.AccountID, &sp.MemberID, timeValue{&sp.PeriodStart}, &sp.Spent, &sp.Held, &sp.CapReached)
}

func (l *lockedAccount) Member(memberID string) (credits.Member, error) {
	return l.t.MemberOf(l.id(), memberID)
}

func (t *Tx) MemberOf(accountID, memberID string) (credits.Member, error) {
	return queryOne(t, fmt.Sprintf("read member %s of account %s", memberID, accountID), scanMember,
		`SELECT `+memberColumns+` FROM members WHERE account_id = ? AND member_id = ?`, accountID, memberID)
}

// MemberAt answers from what the batch read ahead (BatchAhead.takeMember)
// when it can; else it reads.
func (l *lockedAccount) MemberAt(memberID string, starts credits.PeriodStarts) (credits.Member, []credits.MemberSpending, error) {
	op := "read member " + memberID + " of account " + l.id()
	if a := l.t.batchAhead(); a != nil {
		if e, ok := a.takeMember(l.id(), memberID, starts); ok {
			if !e.found {
				return credits.Member{}, nil, fmt.Errorf("%s: %w", op, credits.ErrNotFound)
			}
			return e.member, append([]credits.MemberSpending(nil), e.spendings...), nil
		}
	}
	memo := l.t.writerMemo()
	if memo != nil {
		if m, spendings, ok := memo.member(l.id(), memberID, starts); ok {
			return m, spendings, nil
		}
	}
	args := append(periodStartArgs(l.t.d, starts), l.id(), memberID)
	var m credits.Member
	var spendings []credits.MemberSpending
	rows, err := queryAll(l.t, op, func(s scanner) (struct{}, error) {
		read, sp, err := scanMemberAt(s)
		m = read
		if sp != nil {
			spendings = append(spendings, *sp)
		}
		return struct{}{}, err
	}, memberAtQuery, args...)
	if err == nil && len(rows) == 0 {
		err = fmt.Errorf("%s: %w", op, credits.ErrNotFound)
	}
	if err == nil && memo != nil {
		memo.keepMember(m, starts, spendings)
	}
	return m, spendings, err
}

var memberAtQuery = `SELECT ` + prefixed("m", memberColumns) + `, s.period_start, s.spent, s.held, s.cap_reached FROM members m
	LEFT JOIN member_spending s ON s.account_id = m.account_id AND s.member_id = m.member_id
		AND s.period_start = ` + periodStartOf("m", [4]string{"?{time}", "?{time}", "?{time}", "?{time}"}) + `
	WHERE m.account_id = ? AND m.member_id = ?`

// periodStartOf is the start of the period of the cap of the member row
// alias, among four starts, each placeholder used once (and typed as a
// time: {time}), in the order of periodStartArgs: the SQL of credits'
// periodOf (no cap or a cap over all time: Total; an unknown period:
// Month), so that a member's spending is read by its primary key alone,
// without a list of starts to search.
func periodStartOf(alias string, placeholders [4]string) string {
	capped := alias + `.cap_credits IS NOT NULL AND ` + alias + `.cap_period = `
	return `CASE WHEN ` + capped + `'` + credits.PeriodDay + `' THEN ` + placeholders[0] +
		` WHEN ` + capped + `'` + credits.PeriodWeek + `' THEN ` + placeholders[1] +
		` WHEN ` + alias + `.cap_credits IS NULL OR ` + alias + `.cap_period = '` + credits.PeriodTotal + `' THEN ` + placeholders[2] +
		` ELSE ` + placeholders[3] + ` END`
}

func periodStartArgs(d *Dialect, s credits.PeriodStarts) []any {
	return []any{d.Time(s.Day), d.Time(s.Week), d.Time(s.Total), d.Time(s.Month)}
}

// scanMemberAt scans a member's row joined with its spending in one
// period (nil when it spent nothing in it).
func scanMemberAt(s scanner) (credits.Member, *credits.MemberSpending, error) {
	var m credits.Member
	var start nullTimeValue
	var at *time.Time
	start.t = &at
	var spent, held sql.NullInt64
	var reached sql.NullBool
	var capCredits sql.NullInt64
	var capPeriod string
	err := s.Scan(&m.AccountID, &m.MemberID, &m.Name, &m.Email, &capCredits, &capPeriod, &m.Deleted, timeValue{&m.CreatedAt}, timeValue{&m.UpdatedAt},
		start, &spent, &held, &reached)
	if capCredits.Valid {
		m.Cap = &credits.MemberCap{Credits: capCredits.Int64, Period: capPeriod}
	}
	if err != nil || at == nil {
		return m, nil, err
	}
	return m, &credits.MemberSpending{AccountID: m.AccountID, MemberID: m.MemberID, PeriodStart: *at,
		Spent: spent.Int64, Held: held.Int64, CapReached: reached.Bool}, nil
}

func (t *Tx) Members(accountID string, limit int) ([]credits.Member, error) {
	return queryAll(t, "list members of account "+accountID, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE account_id = ? AND NOT deleted ORDER BY member_id LIMIT ?`, accountID, limit)
}

func (l *lockedAccount) SaveMember(m credits.Member) error {
	if a := l.t.batchAhead(); a != nil {
		a.memberChanged(l.id(), m.MemberID)
	}
	if memo := l.t.writerMemo(); memo != nil {
		memo.forgetMember(l.id(), m.MemberID)
	}
	var capCredits any
	capPeriod := ""
	if m.Cap != nil {
		capCredits, capPeriod = m.Cap.Credits, m.Cap.Period
	}
	_, err := l.t.exec(fmt.Sprintf("save member %s of account %s", m.MemberID, l.id()), `INSERT INTO members (`+memberColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, member_id) DO UPDATE SET name = excluded.name, email = excluded.email,
		cap_credits = excluded.cap_credits, cap_period = excluded.cap_period, deleted = excluded.deleted, updated_at = excluded.updated_at`,
		l.id(), m.MemberID, m.Name, m.Email, capCredits, capPeriod, m.Deleted, l.t.d.Time(m.CreatedAt), l.t.d.Time(m.UpdatedAt))
	return err
}

func (l *lockedAccount) MemberSpending(memberID string, periodStart time.Time) (credits.MemberSpending, error) {
	return l.t.MemberSpendingOf(l.id(), memberID, periodStart)
}

func (t *Tx) MemberSpendingOf(accountID, memberID string, periodStart time.Time) (credits.MemberSpending, error) {
	return queryOne(t, fmt.Sprintf("read spending of member %s of account %s", memberID, accountID), scanMemberSpending,
		`SELECT `+memberSpendingColumns+` FROM member_spending WHERE account_id = ? AND member_id = ? AND period_start = ?`,
		accountID, memberID, t.d.Time(periodStart))
}

// SaveMemberSpending goes out with the next statement on PostgreSQL: the
// spend's own writes follow it.
func (l *lockedAccount) SaveMemberSpending(sp credits.MemberSpending) error {
	if a := l.t.batchAhead(); a != nil {
		a.memberChanged(l.id(), sp.MemberID)
	}
	err := l.t.later(Write{Op: "save spending of member " + sp.MemberID + " of account " + l.id(),
		Args: []any{l.id(), sp.MemberID, l.t.d.Time(sp.PeriodStart), sp.Spent, sp.Held, sp.CapReached}},
		`INSERT INTO member_spending (`+memberSpendingColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, member_id, period_start) DO UPDATE SET spent = excluded.spent, held = excluded.held,
		cap_reached = excluded.cap_reached`)
	if memo := l.t.writerMemo(); memo != nil && err == nil {
		memo.spendingSaved(l.id(), sp)
	}
	return err
}

func (l *lockedAccount) TagMemberHold(holdID string, sp credits.MemberSpending) error {
	return l.t.later(Write{Op: fmt.Sprintf("tag hold %s as member %s's", holdID, sp.MemberID),
		Args: []any{holdID, l.id(), sp.MemberID, l.t.d.Time(sp.PeriodStart)}},
		`INSERT INTO member_holds (hold_id, account_id, member_id, period_start) VALUES (?, ?, ?, ?)`)
}

func (l *lockedAccount) MemberHold(holdID string) (credits.MemberSpending, error) {
	return queryOne(l.t, "read the member of hold "+holdID, scanMemberSpending, `SELECT `+prefixed("s", memberSpendingColumns)+`
		FROM member_holds h JOIN member_spending s ON s.account_id = h.account_id AND s.member_id = h.member_id AND s.period_start = h.period_start
		WHERE h.hold_id = ? AND h.account_id = ?`, holdID, l.id())
}

// memberHoldsOf reads the members of holds by the holds' ids alone: with
// the account's id in the WHERE too, SQLite read every hold of the account
// ever tagged (member_holds_member), not the few asked for.
var memberHoldsOf = `SELECT h.hold_id, ` + prefixed("s", memberSpendingColumns) + `
	FROM member_holds h JOIN member_spending s ON s.account_id = h.account_id AND s.member_id = h.member_id AND s.period_start = h.period_start
	WHERE h.hold_id{in_list}`

func (l *lockedAccount) MemberHoldsOf(holdIDs []string) (map[string]credits.MemberSpending, error) {
	out := map[string]credits.MemberSpending{}
	_, err := queryAll(l.t, fmt.Sprintf("read the members of %d holds", len(holdIDs)), func(s scanner) (struct{}, error) {
		var holdID string
		var sp credits.MemberSpending
		err := s.Scan(&holdID, &sp.AccountID, &sp.MemberID, timeValue{&sp.PeriodStart}, &sp.Spent, &sp.Held, &sp.CapReached)
		if sp.AccountID == l.id() { // a hold of another account is none of this one's
			out[holdID] = sp
		}
		return struct{}{}, err
	}, memberHoldsOf, l.t.d.List(holdIDs))
	return out, err
}

func (t *Tx) MemberSpendingTotals() ([]credits.MemberSpendingTotal, error) {
	return queryAll(t, "sum the spending of members", func(s scanner) (credits.MemberSpendingTotal, error) {
		var m credits.MemberSpendingTotal
		err := s.Scan(&m.AccountID, &m.MemberID, timeValue{&m.PeriodStart}, &m.Spent, &m.Held, &m.CapReached, &m.EntrySum, &m.HoldSum)
		return m, err
	}, `SELECT `+prefixed("s", memberSpendingColumns)+`, CAST(COALESCE(e.spent, 0) AS BIGINT),
		CAST(COALESCE((SELECT SUM(holds.amount) FROM member_holds h JOIN holds ON holds.id = h.hold_id
			WHERE h.account_id = s.account_id AND h.member_id = s.member_id AND h.period_start = s.period_start AND holds.status = 'held'), 0) AS BIGINT)
		FROM member_spending s
		LEFT JOIN (SELECT account_id, member_id, member_period_start, -SUM(amount) AS spent FROM entries
			WHERE member_id IS NOT NULL GROUP BY account_id, member_id, member_period_start) e
			ON e.account_id = s.account_id AND e.member_id = s.member_id AND e.member_period_start = s.period_start
		ORDER BY s.account_id, s.member_id, s.period_start`)
}

// MemberEntries reads a member's entries newest first by entries_member (a
// partial index of the entries spent as a member): without it a member's
// page read the whole ledger.
func (t *Tx) MemberEntries(accountID, memberID string, before int64, limit int) ([]credits.Entry, error) {
	return queryAll(t, fmt.Sprintf("list entries of member %s of account %s", memberID, accountID), scanEntry,
		`SELECT `+entryColumns+` FROM entries
		WHERE account_id = ? AND member_id = ? AND (id < ? OR ? = 0) ORDER BY id DESC LIMIT ?`,
		accountID, memberID, before, before, limit)
}

func (t *Tx) HoldMemberOf(holdID string) (string, error) {
	members, err := queryAll(t, "read the member of hold "+holdID, scanString, `SELECT member_id FROM member_holds WHERE hold_id = ?`, holdID)
	if err != nil || len(members) == 0 {
		return "", err
	}
	return members[0], nil
}
