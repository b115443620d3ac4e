package sqlstore

import (
	"fmt"
	"time"

	"github.com/credits/credits"
)

// BatchAhead is what a batch of grouped writes (PostgreSQL's group commit)
// reads for all its writes at once, under the batch's account locks and
// before any of its writes: each account's row, its first spendable lots
// and an id for its next entry, and each idempotency key's record. A write
// that finds its answers here (LockAhead, IdempotencyRecord) needs no round
// trip before its statements, which then go out together with the other
// writes' and the COMMIT: a batch of writes of distinct accounts takes two
// round trips, not one per write.
//
// Each answer is taken once, by the first write that asks for it. A write
// that succeeds hands its account's back (Tx.HandBack) as it left them: the
// row with every change mirrored, and the lots when its only change to them
// was a draw from the first that left it spendable; the account's next
// write in the batch takes them from there, so a batch of writes of one
// account takes two round trips too. Nobody else can change the batch's
// accounts while it holds their locks. A later write of the same key reads
// for itself; so does every write once a write's held-back statements
// failed (Spoil): what it handed back was never so.
type BatchAhead struct {
	since    time.Time // the lots read are those spendable at since
	accounts map[string]*aheadAccount
	keys     map[[2]string]*aheadKey
	// members are the members the writes spend as (by account and member
	// id), each with its spending in the periods that start at
	// memberStarts (MemberPeriodStarts at since).
	members      map[[2]string]*aheadMember
	memberStarts credits.PeriodStarts
	entryIDs     []int64
	spoiled      bool
}

type aheadAccount struct {
	found   bool
	account credits.Account
	// lots are up to lotsReadAhead lots, in burn-down order, the first
	// spendable at since (or at lotsAt, when a write handed them back);
	// lotsKnown is false when a write handed the account back without them.
	lots      []credits.Lot
	lotsAt    time.Time
	lotsKnown bool
	taken     bool
	// pricing is the account's rate card and version, which no write of
	// the batch changes (else pricingChanged forgets it).
	pricing *aheadPricing
}

type aheadMember struct {
	found     bool
	member    credits.Member
	spendings []credits.MemberSpending
	taken     bool
}

type aheadKey struct {
	found  bool
	record credits.IdempotencyRecord
	taken  bool
}

// Ahead is a connection that holds what its batch read ahead.
type Ahead interface {
	Ahead() *BatchAhead // nil: nothing
}

// ReadAhead returns a batch's read-ahead and the statements that fill it
// (PostgreSQL's SQL), to go out after the batch's lock on its accounts: a
// statement taken after the lock sees every commit before it. A write with
// a zero Now says nothing of what it reads, and may write anything of its
// account: a batch that has one reads nothing ahead.
func ReadAhead(d *Dialect, writes []credits.AccountWrite) (*BatchAhead, []Write) {
	a := &BatchAhead{accounts: map[string]*aheadAccount{}, keys: map[[2]string]*aheadKey{}, members: map[[2]string]*aheadMember{}}
	for _, w := range writes {
		if w.Now.IsZero() {
			return a, nil
		}
	}
	var ids, scopes, keys, memberAccounts, memberIDs []string
	for _, w := range writes {
		if m := [2]string{w.AccountID, w.MemberID}; w.MemberID != "" && a.members[m] == nil {
			a.members[m] = &aheadMember{}
			memberAccounts, memberIDs = append(memberAccounts, w.AccountID), append(memberIDs, w.MemberID)
		}
		if _, ok := a.accounts[w.AccountID]; !ok {
			a.accounts[w.AccountID] = &aheadAccount{lotsKnown: true}
			ids = append(ids, w.AccountID)
		}
		if a.since.IsZero() || w.Now.Before(a.since) {
			a.since = w.Now
		}
		k := [2]string{w.Scope, w.Key}
		if _, ok := a.keys[k]; w.Key != "" && !ok {
			a.keys[k] = &aheadKey{}
			scopes, keys = append(scopes, w.Scope), append(keys, w.Key)
		}
	}
	if len(ids) == 0 {
		return a, nil
	}
	reads := a.accountsRead(d, ids, len(writes))
	if len(keys) > 0 {
		reads = append(reads, a.keysRead(scopes, keys))
	}
	if len(memberIDs) > 0 {
		reads = append(reads, a.membersRead(d, memberAccounts, memberIDs))
	}
	return a, reads
}

// accountsRead reads the batch's accounts (ids): each one's row, its first
// spendable lots at since, and its rate card and version in effect; and an
// id for each of the batch's n writes' entries.
func (a *BatchAhead) accountsRead(d *Dialect, ids []string, n int) []Write {
	return []Write{
		{Op: "read the batch's accounts", Query: `SELECT ` + accountColumns + ` FROM accounts WHERE id = ANY($1)`, Args: []any{ids},
			Scan: func(rows Rows) error {
				return eachRow(rows, scanAccount, func(acc credits.Account) {
					if e := a.accounts[acc.ID]; e != nil {
						e.found, e.account = true, acc
					}
				})
			}},
		{Op: "read the batch's first spendable lots", Query: `SELECT ` + lotColumns + ` FROM unnest($1::text[]) AS batch (id)
			CROSS JOIN LATERAL (SELECT * FROM lots WHERE lots.account_id = batch.id AND spendable AND (expires_at IS NULL OR expires_at > $2)
				ORDER BY ` + burnDownOrder + ` LIMIT $3) AS lots
			ORDER BY lots.account_id, ` + burnDownOrder, Args: []any{ids, d.Time(a.since), lotsReadAhead},
			Scan: func(rows Rows) error {
				return eachRow(rows, scanLot, func(lot credits.Lot) {
					if e := a.accounts[lot.AccountID]; e != nil {
						e.lots = append(e.lots, lot)
					}
				})
			}},
		// An id for each write's entry: the writes of one account in the
		// batch take one each.
		{Op: "take ids for the batch's entries", Query: d.NextEntryID + ` FROM generate_series(1, $1::int)`, Args: []any{n},
			Scan: func(rows Rows) error {
				if err := eachRow(rows, scanInt64, func(id int64) { a.entryIDs = append(a.entryIDs, id) }); err != nil {
					return err
				}
				if len(a.entryIDs) != n {
					return fmt.Errorf("%d entry ids for %d writes", len(a.entryIDs), n)
				}
				return nil
			}},
		readPricingAhead(d, ids, a.since, func(id string, p *aheadPricing) {
			if e := a.accounts[id]; e != nil {
				e.pricing = p
			}
		}),
	}
}

// membersRead reads the members the batch's writes spend as, each with its
// spending in the periods that hold at since.
func (a *BatchAhead) membersRead(d *Dialect, accounts, members []string) Write {
	a.memberStarts = credits.MemberPeriodStarts(a.since)
	return Write{Op: "read the batch's members",
		Query: `SELECT ` + prefixed("m", memberColumns) + `, s.period_start, s.spent, s.held, s.cap_reached
			FROM unnest($1::text[], $2::text[]) AS batch (account_id, member_id)
			JOIN members m ON m.account_id = batch.account_id AND m.member_id = batch.member_id
			LEFT JOIN member_spending s ON s.account_id = m.account_id AND s.member_id = m.member_id
				AND s.period_start = ` + periodStartOf("m", [4]string{"$3::timestamptz", "$4::timestamptz", "$5::timestamptz", "$6::timestamptz"}),
		Args: append([]any{accounts, members}, periodStartArgs(d, a.memberStarts)...),
		Scan: func(rows Rows) error {
			for rows.Next() {
				m, sp, err := scanMemberAt(rows)
				if err != nil {
					return err
				}
				if e := a.members[[2]string{m.AccountID, m.MemberID}]; e != nil {
					e.found, e.member = true, m
					if sp != nil {
						e.spendings = append(e.spendings, *sp)
					}
				}
			}
			return nil
		}}
}

// takeMember returns what was read ahead of a member and its spending in
// the periods that start at starts; ok false when nothing was, another
// write took it, a write of the batch changed it, the batch is spoiled, or
// it was read for other periods.
func (a *BatchAhead) takeMember(accountID, memberID string, starts credits.PeriodStarts) (e *aheadMember, ok bool) {
	e = a.members[[2]string{accountID, memberID}]
	if e == nil || e.taken {
		return nil, false
	}
	e.taken = true // a later write of the member reads for itself
	if a.spoiled || !starts.Equal(a.memberStarts) {
		return nil, false
	}
	return e, true
}

// memberChanged stops the batch from answering for a member that a write
// changed.
func (a *BatchAhead) memberChanged(accountID, memberID string) {
	if e := a.members[[2]string{accountID, memberID}]; e != nil {
		e.taken = true
	}
}

// keysRead reads the batch's idempotency keys.
func (a *BatchAhead) keysRead(scopes, keys []string) Write {
	return Write{Op: "read the batch's idempotency keys",
		// A lookup by the key's index for each key, whatever the planner
		// thinks of the table: as (scope, key) IN (SELECT … unnest),
		// PostgreSQL planned a new table (not yet analyzed) as a
		// sequential scan probing a hash of the keys, and kept that plan
		// while the table grew (1,554 scans reading 38 million rows in
		// one bench run of 49,416 debits). The LIMIT keeps the subquery
		// a per-key lookup rather than a join it may plan again.
		Query: `SELECT k.* FROM unnest($1::text[], $2::text[]) AS batch (batch_scope, batch_key)
			CROSS JOIN LATERAL (SELECT ` + idempotencyColumns + ` FROM idempotency_keys
				WHERE scope = batch.batch_scope AND key = batch.batch_key LIMIT 1) AS k`,
		Args: []any{scopes, keys},
		Scan: func(rows Rows) error {
			return eachRow(rows, scanIdempotencyRecord, func(r credits.IdempotencyRecord) {
				if e := a.keys[[2]string{r.Scope, r.Key}]; e != nil {
					e.found, e.record = true, r
				}
			})
		}}
}

// takeAccount returns what was read ahead for the account, as LockAhead
// would have read it at now; nil when nothing was, another write has it,
// or the batch is spoiled.
func (a *BatchAhead) takeAccount(id string, now time.Time) *lockAhead {
	e := a.accounts[id]
	if e == nil || e.taken {
		return nil
	}
	// Taken either way: a write refused here reads for itself and may change
	// the account, and no later write may be answered from before it.
	e.taken = true
	if a.spoiled || len(a.entryIDs) == 0 || now.Before(a.since) || now.Before(e.lotsAt) {
		return nil
	}
	ahead := &lockAhead{id: id, at: now, answered: true, found: e.found, account: e.account, lotsRead: e.lotsKnown, batch: true, pricing: e.pricing}
	ahead.entryID, a.entryIDs = a.entryIDs[0], a.entryIDs[1:]
	// The lots spendable at since that are still spendable at now are, in
	// order, the first of those spendable at now, unless the read was cut
	// off at its limit: then one past it may be missing.
	for _, lot := range e.lots {
		if lot.ExpiresAt != nil && !lot.ExpiresAt.After(now) {
			ahead.lotsRead = ahead.lotsRead && len(e.lots) < lotsReadAhead
			continue
		}
		ahead.lots = append(ahead.lots, lot)
	}
	if !ahead.lotsRead {
		ahead.lots = nil
	}
	return ahead
}

// HandBack gives the batch back the account that the write took from it
// (LockAhead), as the write left it, for the account's next write in the
// batch: the row with the write's changes (each statement that changes an
// account's row mirrors itself: lockedAccount.changed), and the lots unless
// the write changed them other than by a draw from the first (lotsChanged).
// The store calls it when the write succeeded, before its savepoint's
// release; a write that fails hands nothing back, and its account's next
// write reads for itself.
func (t *Tx) HandBack() {
	la, a := t.ahead, t.batchAhead()
	if la == nil || !la.batch || a == nil || a.spoiled || la.newID {
		return // the account's next write reads for itself (and takes an id after this write's)
	}
	e := a.accounts[la.id]
	if e == nil || !e.taken || !la.found {
		return
	}
	t.ahead = nil
	e.taken, e.account = false, la.account
	e.lots, e.lotsAt, e.lotsKnown = la.lots, la.at, la.lotsRead
}

// Spoil stops the batch from answering any more writes: a held-back write
// failed, so what the writes after it were handed back may never have been.
func (a *BatchAhead) Spoil() { a.spoiled = true }

// takeKey returns what was read ahead for an idempotency key; ok false when
// nothing was, or another write took it.
func (a *BatchAhead) takeKey(scope, key string) (r credits.IdempotencyRecord, found, ok bool) {
	e := a.keys[[2]string{scope, key}]
	if e == nil || e.taken {
		return r, false, false
	}
	e.taken = true
	return e.record, e.found, true
}

// batchAhead is the read-ahead of the transaction's connection, if any.
func (t *Tx) batchAhead() *BatchAhead {
	if c, ok := t.conn.(Ahead); ok && t.write {
		return c.Ahead()
	}
	return nil
}

// eachRow scans every row with scan and hands it to use.
func eachRow[T any](rows Rows, scan func(scanner) (T, error), use func(T)) error {
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return err
		}
		use(item)
	}
	return nil
}
