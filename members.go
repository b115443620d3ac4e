package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Cap periods of a member: a UTC day, an ISO week (from Monday 00:00 UTC), a
// UTC calendar month, or all time.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
	PeriodTotal = "total"
)

// MaxMembers bounds the members one account may have (a list reads them all).
const MaxMembers = 1000

// OutMemberCapReached is written once per member and period, by the first
// spend that leaves the member nothing to spend, or that the cap refuses.
const OutMemberCapReached = "member.cap_reached"

// MemberCap is how many credits a member may spend per period.
type MemberCap struct {
	Credits int64  `json:"credits"`
	Period  string `json:"period"`
}

// Member is someone (a person, a key, an agent) who spends from an account,
// under a cap when it has one.
type Member struct {
	AccountID string     `json:"account_id"`
	MemberID  string     `json:"member_id"`
	Name      string     `json:"name"`
	Email     string     `json:"email"`
	Cap       *MemberCap `json:"cap"`
	// Deleted members keep their history; spends naming them are refused.
	Deleted   bool      `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemberSpending is what a member spent (debits and captures) and holds in
// one period of its cap; a member without a cap, or with a cap over all
// time, counts in one period that starts at the epoch.
type MemberSpending struct {
	AccountID   string
	MemberID    string
	PeriodStart time.Time
	Spent       int64
	Held        int64
	// CapReached says member.cap_reached was written for this period.
	CapReached bool
}

// MemberView is a member with its spending in the current period.
type MemberView struct {
	Member
	Spent int64 `json:"spent"`
	Held  int64 `json:"held"`
	// Remaining is cap − spent − held (nil without a cap).
	Remaining   *int64     `json:"remaining"`
	PeriodStart *time.Time `json:"period_start"`
	PeriodEnd   *time.Time `json:"period_end"`
}

// MemberLocked is the members' part of LockedAccount: a member's spending
// changes only under its account's lock, in the transaction of the spend.
type MemberLocked interface {
	// Member reads one of the account's members, deleted or not.
	Member(memberID string) (Member, error)
	// MemberAt reads one of the account's members (deleted or not) with
	// its spending in the period of its cap among starts (none when it spent
	// nothing in it), in one statement (a spend's first read).
	MemberAt(memberID string, starts PeriodStarts) (Member, []MemberSpending, error)
	// SaveMember writes a member (created or replaced).
	SaveMember(m Member) error
	// MemberSpending reads a member's spending in the period that starts at
	// periodStart (ErrNotFound when it spent nothing in it).
	MemberSpending(memberID string, periodStart time.Time) (MemberSpending, error)
	// SaveMemberSpending writes a member's spending in one period.
	SaveMemberSpending(sp MemberSpending) error
	// TagMemberHold records that a hold holds its credits as the member of
	// sp, in its period; MemberHold reads that period's spending back
	// (ErrNotFound for a hold of no member).
	TagMemberHold(holdID string, sp MemberSpending) error
	MemberHold(holdID string) (MemberSpending, error)
	// MemberHoldsOf is MemberHold of many holds in one read, by hold id (a
	// hold of no member is not in it).
	MemberHoldsOf(holdIDs []string) (map[string]MemberSpending, error)
}

// MemberTx is the members' part of Tx: reads.
type MemberTx interface {
	// Members lists an account's members that are not deleted, by id.
	Members(accountID string, limit int) ([]Member, error)
	// MemberOf reads a member without the account's lock.
	MemberOf(accountID, memberID string) (Member, error)
	// MemberSpendingOf reads a member's spending in one period without the
	// account's lock (ErrNotFound when it spent nothing in it).
	MemberSpendingOf(accountID, memberID string, periodStart time.Time) (MemberSpending, error)
	// HoldMemberOf names the member a hold was made as ("" for none).
	HoldMemberOf(holdID string) (string, error)
	// MemberEntries lists the entries spent as a member, newest first, with
	// ids below before (0: from the newest), at most limit.
	MemberEntries(accountID, memberID string, before int64, limit int) ([]Entry, error)
	// MemberSpendingTotals returns, for every member and period, its spent
	// and held credits, what its tagged entries sum to, and what its active
	// holds hold (verify).
	MemberSpendingTotals() ([]MemberSpendingTotal, error)
}

// MemberSpendingTotal is what verify compares of a member's period.
type MemberSpendingTotal struct {
	MemberSpending
	EntrySum int64
	HoldSum  int64
}

// periodOf returns the bounds of the period of cap that holds now: its
// start, and its end (nil for all time). No cap counts over all time.
func periodOf(c *MemberCap, now time.Time) (start time.Time, end *time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var e time.Time
	switch {
	case c == nil || c.Period == PeriodTotal:
		return time.Unix(0, 0).UTC(), nil
	case c.Period == PeriodDay:
		start, e = day, day.AddDate(0, 0, 1)
	case c.Period == PeriodWeek:
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // back to Monday
		e = start.AddDate(0, 0, 7)
	default: // PeriodMonth
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		e = start.AddDate(0, 1, 0)
	}
	return start, &e
}

func validateCap(c *MemberCap) error {
	if c == nil {
		return nil
	}
	switch c.Period {
	case PeriodDay, PeriodWeek, PeriodMonth, PeriodTotal:
	default:
		return Errorf(EINVALID, "cap.period must be day, week, month or total")
	}
	if c.Credits < 0 || c.Credits > MaxAmount {
		return Errorf(EINVALID, "cap.credits must be a whole number between 0 and %d", int64(MaxAmount))
	}
	return nil
}

// activeMember reads a member of the locked account that may spend.
func activeMember(locked LockedAccount, memberID string) (Member, error) {
	if err := lookupID("member", memberID); err != nil {
		return Member{}, err
	}
	m, err := locked.Member(memberID)
	if errors.Is(err, ErrNotFound) || (err == nil && m.Deleted) {
		return m, Errorf(ENOTFOUND, "member %s of account %s not found", memberID, locked.Account().ID)
	}
	return m, err
}

// spendingNow reads a member's spending in the period of its cap that holds
// at now (zero when it spent nothing in it).
func spendingNow(locked LockedAccount, m Member, now time.Time) (MemberSpending, *time.Time, error) {
	start, end := periodOf(m.Cap, now)
	sp, err := locked.MemberSpending(m.MemberID, start)
	if errors.Is(err, ErrNotFound) {
		return MemberSpending{AccountID: m.AccountID, MemberID: m.MemberID, PeriodStart: start}, end, nil
	}
	return sp, end, err
}

// PeriodStarts is the start of each period that holds at one time, one per
// kind of cap. Total (the epoch) is also the period of a member without a
// cap.
type PeriodStarts struct {
	Day, Week, Month, Total time.Time
}

// MemberPeriodStarts returns the start of each period that holds at now.
func MemberPeriodStarts(now time.Time) PeriodStarts {
	start := func(period string) time.Time {
		s, _ := periodOf(&MemberCap{Period: period}, now)
		return s
	}
	return PeriodStarts{Day: start(PeriodDay), Week: start(PeriodWeek), Month: start(PeriodMonth), Total: start(PeriodTotal)}
}

// Equal reports whether two sets of starts are the same instants.
func (p PeriodStarts) Equal(q PeriodStarts) bool {
	return p.Day.Equal(q.Day) && p.Week.Equal(q.Week) && p.Month.Equal(q.Month) && p.Total.Equal(q.Total)
}

// memberNow reads a member of the locked account that may spend, with its
// spending in the period of its cap that holds at now, in one statement.
func memberNow(locked LockedAccount, memberID string, now time.Time) (Member, MemberSpending, *time.Time, error) {
	if err := lookupID("member", memberID); err != nil {
		return Member{}, MemberSpending{}, nil, err
	}
	m, spendings, err := locked.MemberAt(memberID, MemberPeriodStarts(now))
	if errors.Is(err, ErrNotFound) || (err == nil && m.Deleted) {
		return m, MemberSpending{}, nil, Errorf(ENOTFOUND, "member %s of account %s not found", memberID, locked.Account().ID)
	} else if err != nil {
		return m, MemberSpending{}, nil, err
	}
	start, end := periodOf(m.Cap, now)
	for _, sp := range spendings {
		if sp.PeriodStart.Equal(start) {
			return m, sp, end, nil
		}
	}
	return m, MemberSpending{AccountID: m.AccountID, MemberID: m.MemberID, PeriodStart: start}, end, nil
}

// remaining is what a member may still spend in sp's period (-1: no cap).
func remaining(m Member, sp MemberSpending) int64 {
	if m.Cap == nil {
		return -1
	}
	return max(m.Cap.Credits-sp.Spent-sp.Held, 0)
}

// MemberCharge is a spend counted toward a member's cap: the member, its
// spending in the period after the spend, and when the period ends.
type MemberCharge struct {
	Member    Member
	Spending  MemberSpending
	PeriodEnd *time.Time
}

// chargeMember counts amount credits toward memberID's spending in the
// current period, spent (held false) or held (held true), and refuses with
// EMEMBERCAP when the cap does not allow them. It must run under the
// account's lock, in the transaction that takes the credits (so that two
// spends of one member cannot both pass the check), before anything else
// is written: a refusal writes nothing but member.cap_reached. The caller
// then names the member on what it writes: the entry (Entry.spentAs: a
// debit, a usage, a capture) or the hold (TagMemberHold).
func chargeMember(locked LockedAccount, memberID string, amount int64, held bool, now time.Time) (MemberCharge, error) {
	m, sp, end, err := memberNow(locked, memberID, now)
	if err != nil {
		return MemberCharge{}, err
	}
	charge := MemberCharge{Member: m, PeriodEnd: end}
	if left := remaining(m, sp); left >= 0 && amount > left {
		if err := capReached(locked, m, &sp, end, now); err != nil {
			return charge, err
		}
		return charge, capError(m, sp, end, amount)
	}
	if _, err := AddCredits(sp.Spent+sp.Held, amount); err != nil {
		return charge, Errorf(EINVALID, "amount would overflow the spending of member %s", memberID)
	}
	if held {
		sp.Held += amount
	} else {
		sp.Spent += amount
	}
	if remaining(m, sp) == 0 {
		if err := capReached(locked, m, &sp, end, now); err != nil {
			return charge, err
		}
	}
	charge.Spending = sp
	return charge, locked.SaveMemberSpending(sp)
}

func capError(m Member, sp MemberSpending, end *time.Time, amount int64) error {
	until := "over all time"
	if end != nil {
		until = "until " + end.Format(time.RFC3339)
	}
	return Errorf(EMEMBERCAP, "member %s may spend %d credits per %s; it has spent %d and holds %d, so %d more exceed its cap %s",
		m.MemberID, m.Cap.Credits, m.Cap.Period, sp.Spent, sp.Held, amount, until)
}

// capReached writes member.cap_reached once per member and period.
func capReached(locked LockedAccount, m Member, sp *MemberSpending, end *time.Time, now time.Time) error {
	if sp.CapReached {
		return nil
	}
	sp.CapReached = true
	if err := locked.SaveMemberSpending(*sp); err != nil {
		return err
	}
	return emit(locked, OutMemberCapReached, map[string]any{"member_id": m.MemberID, "cap": m.Cap, "spent": sp.Spent,
		"held": sp.Held, "period_start": sp.PeriodStart, "period_end": end}, now)
}

// holdMember reads the spending of the member a hold was made as, in the
// period the hold counts in (nil for a hold of no member).
func holdMember(locked LockedAccount, hold Hold) (*MemberSpending, error) {
	sp, err := locked.MemberHold(hold.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return &sp, err
}

// closeMemberHold gives a closing hold's share back to its member's period
// (sp, from holdMember): what it held is no longer held, and what was
// captured is spent (the capture's entry names the member). A hold of no
// member changes nothing.
func closeMemberHold(locked LockedAccount, hold Hold, sp *MemberSpending, captured int64) error {
	if sp == nil {
		return nil
	}
	if sp.Held < hold.Amount {
		panic(fmt.Sprintf("member %s of account %s holds %d credits, fewer than hold %s's %d", sp.MemberID, sp.AccountID, sp.Held, hold.ID, hold.Amount))
	}
	sp.Held -= hold.Amount
	sp.Spent += captured
	return locked.SaveMemberSpending(*sp)
}

// MemberRequest changes a member: nil fields stay as they are; SetCap says
// that Cap is given (nil: no cap).
type MemberRequest struct {
	Name   *string
	Email  *string
	SetCap bool
	Cap    *MemberCap
}

// PutMember creates or changes a member of an account (a deleted one comes
// back, with its history).
func (s *Service) PutMember(ctx context.Context, accountID, memberID string, req MemberRequest) (MemberView, error) {
	if err := ValidateID("member_id", memberID); err != nil {
		return MemberView{}, err
	}
	if err := validateCap(req.Cap); err != nil {
		return MemberView{}, err
	}
	if req.Name != nil {
		name, err := validateText("name", *req.Name, false)
		if err != nil {
			return MemberView{}, err
		}
		req.Name = &name
	}
	if req.Email != nil && *req.Email != "" {
		email, err := ValidateEmail("email", *req.Email)
		if err != nil {
			return MemberView{}, err
		}
		req.Email = &email
	}
	view, _, err := idempotent(s, ctx, nil, accountID, func(tx Tx, now time.Time) (MemberView, error) {
		locked, _, err := s.settle(tx, accountID, now)
		if err != nil {
			return MemberView{}, err
		}
		m, err := locked.Member(memberID)
		if errors.Is(err, ErrNotFound) {
			if err := s.checkMemberCount(tx, accountID); err != nil {
				return MemberView{}, err
			}
			m = Member{AccountID: accountID, MemberID: memberID, CreatedAt: now}
		} else if err != nil {
			return MemberView{}, err
		}
		m = req.apply(m)
		m.Deleted, m.UpdatedAt = false, now
		if err := locked.SaveMember(m); err != nil {
			return MemberView{}, err
		}
		sp, end, err := spendingNow(locked, m, now)
		return memberView(m, sp, end), err
	})
	return view, err
}

func (req MemberRequest) apply(m Member) Member {
	if req.Name != nil {
		m.Name = *req.Name
	}
	if req.Email != nil {
		m.Email = *req.Email
	}
	if req.SetCap {
		m.Cap = req.Cap
	}
	return m
}

func (s *Service) checkMemberCount(tx Tx, accountID string) error {
	members, err := tx.Members(accountID, MaxMembers)
	if err != nil {
		return err
	}
	if len(members) >= MaxMembers {
		return Errorf(EINVALID, "account %s has %d members, the most it may have", accountID, MaxMembers)
	}
	return nil
}

func memberView(m Member, sp MemberSpending, end *time.Time) MemberView {
	v := MemberView{Member: m, Spent: sp.Spent, Held: sp.Held, PeriodEnd: end}
	if m.Cap != nil {
		left := remaining(m, sp)
		v.Remaining = &left
		if m.Cap.Period != PeriodTotal {
			start := sp.PeriodStart
			v.PeriodStart = &start
		}
	}
	return v
}

// DeleteMember removes a member: spends naming it are refused from now on;
// what it spent stays in the ledger.
func (s *Service) DeleteMember(ctx context.Context, accountID, memberID string) error {
	_, _, err := idempotent(s, ctx, nil, accountID, func(tx Tx, now time.Time) (struct{}, error) {
		locked, _, err := s.settle(tx, accountID, now)
		if err != nil {
			return struct{}{}, err
		}
		m, err := activeMember(locked, memberID)
		if err != nil {
			return struct{}{}, err
		}
		m.Deleted, m.UpdatedAt = true, now
		return struct{}{}, locked.SaveMember(m)
	})
	return err
}

// GetMember reads a member with its spending in the current period.
func (s *Service) GetMember(ctx context.Context, accountID, memberID string) (MemberView, error) {
	if err := lookupID("member", memberID); err != nil {
		return MemberView{}, err
	}
	var view MemberView
	err := s.Store.View(ctx, func(tx Tx) error {
		m, err := tx.MemberOf(accountID, memberID)
		if errors.Is(err, ErrNotFound) || (err == nil && m.Deleted) {
			return Errorf(ENOTFOUND, "member %s of account %s not found", memberID, accountID)
		} else if err != nil {
			return err
		}
		view, err = readMemberView(tx, m, s.now())
		return err
	})
	return view, err
}

func readMemberView(tx Tx, m Member, now time.Time) (MemberView, error) {
	start, end := periodOf(m.Cap, now)
	sp, err := tx.MemberSpendingOf(m.AccountID, m.MemberID, start)
	if errors.Is(err, ErrNotFound) {
		sp, err = MemberSpending{AccountID: m.AccountID, MemberID: m.MemberID, PeriodStart: start}, nil
	}
	return memberView(m, sp, end), err
}

// ListMembers lists an account's members with their spending in the current
// period.
func (s *Service) ListMembers(ctx context.Context, accountID string) ([]MemberView, error) {
	if err := lookupID("account", accountID); err != nil {
		return nil, err
	}
	views := []MemberView{}
	err := s.Store.View(ctx, func(tx Tx) error {
		views = views[:0]
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		found, err := membersNow(tx, accountID, s.now())
		views = append(views, found...)
		return err
	})
	return views, err
}

// membersNow reads an account's members with their spending at now.
func membersNow(tx Tx, accountID string, now time.Time) ([]MemberView, error) {
	members, err := tx.Members(accountID, MaxMembers)
	if err != nil {
		return nil, err
	}
	views := make([]MemberView, 0, len(members))
	for _, m := range members {
		v, err := readMemberView(tx, m, now)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// checkKeyMember checks a key's member: one of its account's, for a spend
// key (a read key has nothing to spend; an admin key could make any key).
func (s *Service) checkKeyMember(ctx context.Context, scope, accountID, memberID string) error {
	if memberID == "" {
		return nil
	}
	if scope != ScopeSpend || accountID == "" {
		return Errorf(EINVALID, "a key bound to a member has scope spend and names the member's account_id")
	}
	_, err := s.GetMember(ctx, accountID, memberID)
	return err
}

// memberDashboard makes an account's page a member's: its allowance, and
// its own history instead of the account's; the packs it may buy stay the
// account's (purchases credit the account).
func memberDashboard(tx Tx, d *Dashboard, q DashboardQuery, pageSize int, now time.Time) error {
	m, err := tx.MemberOf(d.Account.ID, q.MemberID)
	if errors.Is(err, ErrNotFound) || (err == nil && m.Deleted) {
		return Errorf(ENOTFOUND, "member %s of account %s not found", q.MemberID, d.Account.ID)
	} else if err != nil {
		return err
	}
	view, err := readMemberView(tx, m, now)
	if err != nil {
		return err
	}
	entries, err := tx.MemberEntries(d.Account.ID, m.MemberID, q.Before, pageSize+1)
	if err != nil {
		return err
	}
	d.Member, d.Entries = &view, page(entries, pageSize)
	d.Purchases, d.Holds, d.ExpiringSoon, d.History = nil, nil, nil, nil
	return nil
}

// HoldMember names the member a hold was made as ("" for none).
func (s *Service) HoldMember(ctx context.Context, holdID string) (string, error) {
	var memberID string
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		memberID, err = tx.HoldMemberOf(holdID)
		return err
	})
	return memberID, err
}
