package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/credits/credits"
)

// Features, rate cards and usages (pricing).

func (t *Tx) CreateFeature(f credits.Feature) error {
	_, err := t.exec("create feature "+f.ID, `INSERT INTO features (id, name, unit, created_at) VALUES (?, ?, ?, ?)`,
		f.ID, f.Name, f.Unit, t.d.Time(f.CreatedAt))
	return err
}

func scanFeature(s scanner) (credits.Feature, error) {
	var f credits.Feature
	return f, s.Scan(&f.ID, &f.Name, &f.Unit, timeValue{&f.CreatedAt})
}

func (t *Tx) Feature(id string) (credits.Feature, error) {
	return queryOne(t, "read feature "+id, scanFeature, `SELECT id, name, unit, created_at FROM features WHERE id = ?`, id)
}

func (t *Tx) Features() ([]credits.Feature, error) {
	return queryAll(t, "list features", scanFeature, `SELECT id, name, unit, created_at FROM features ORDER BY id`)
}

func (t *Tx) CreateRateCard(c credits.RateCard) error {
	_, err := t.exec("create rate card "+c.ID, `INSERT INTO rate_cards (id, name, created_at) VALUES (?, ?, ?)`,
		c.ID, c.Name, t.d.Time(c.CreatedAt))
	return err
}

func (t *Tx) RateCard(id string) (credits.RateCard, error) {
	return queryOne(t, "read rate card "+id, func(s scanner) (credits.RateCard, error) {
		var c credits.RateCard
		return c, s.Scan(&c.ID, &c.Name, timeValue{&c.CreatedAt})
	}, `SELECT id, name, created_at FROM rate_cards WHERE id = ?`, id)
}

func (t *Tx) AddRateCardVersion(v credits.RateCardVersion) error {
	rates, err := json.Marshal(v.Rates)
	if err != nil {
		return fmt.Errorf("add version %d of rate card %s: %w", v.Version, v.RateCardID, err)
	}
	t.pricingChanged()
	_, err = t.exec(fmt.Sprintf("add version %d of rate card %s", v.Version, v.RateCardID), `INSERT INTO rate_card_versions
		(rate_card_id, version, rates, rounding, minimum, effective_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.RateCardID, v.Version, string(rates), v.Rounding, v.Minimum, t.d.Time(v.EffectiveAt), t.d.Time(v.CreatedAt))
	return err
}

const versionColumns = `rate_card_id, version, rates, rounding, minimum, effective_at, created_at`

func scanVersion(s scanner) (credits.RateCardVersion, error) {
	var v credits.RateCardVersion
	var rates string
	if err := s.Scan(&v.RateCardID, &v.Version, &rates, &v.Rounding, &v.Minimum, timeValue{&v.EffectiveAt}, timeValue{&v.CreatedAt}); err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(rates), &v.Rates); err != nil {
		return v, fmt.Errorf("rates of version %d of rate card %s: %w", v.Version, v.RateCardID, err)
	}
	return v, nil
}

func (t *Tx) RateCardVersions(id string) ([]credits.RateCardVersion, error) {
	return queryAll(t, "list versions of rate card "+id, scanVersion, `SELECT `+versionColumns+` FROM rate_card_versions
		WHERE rate_card_id = ? ORDER BY version`, id)
}

func (t *Tx) RateCardVersion(id string, version int64) (credits.RateCardVersion, error) {
	return queryOne(t, fmt.Sprintf("read version %d of rate card %s", version, id), scanVersion, `SELECT `+versionColumns+`
		FROM rate_card_versions WHERE rate_card_id = ? AND version = ?`, id, version)
}

// PricingVersion answers from what was read with the account's lock
// (pricingAhead), or from the writer's memo, when that still holds at now;
// else it reads.
func (t *Tx) PricingVersion(accountID string, now time.Time) (credits.RateCardRef, error) {
	if a := t.ahead; a != nil && a.id == accountID && a.answered {
		if ref, ok := a.pricing.at(now); ok {
			return ref, nil
		}
	}
	memo := t.writerMemo()
	if ref, ok := memo.pricingAt(accountID, now); ok {
		return ref, nil
	}
	p, err := queryOne(t, "read the rate card of account "+accountID, func(s scanner) (*aheadPricing, error) {
		p := &aheadPricing{since: now}
		return p, s.Scan(&p.ref.ID, &p.ref.Version, nullTimeValue{&p.next})
	}, `SELECT c.id, COALESCE((SELECT MAX(version) FROM rate_card_versions WHERE rate_card_id = c.id AND effective_at <= ?), 0),
			(SELECT MIN(effective_at) FROM rate_card_versions WHERE rate_card_id = c.id AND effective_at > ?)
		FROM (SELECT COALESCE((SELECT rate_card_id FROM account_rate_cards WHERE account_id = ?), ?) AS id) c`,
		t.d.Time(now), t.d.Time(now), accountID, credits.DefaultRateCard)
	if err != nil {
		return credits.RateCardRef{}, err
	}
	memo.keepPricing(accountID, p)
	return p.ref, nil
}

// aheadPricing is an account's rate card and the latest version of it in
// effect at since, read with the account's lock, and when the next version
// takes effect (nil: none yet): the version in effect at any time from
// since until then.
type aheadPricing struct {
	since time.Time
	ref   credits.RateCardRef
	next  *time.Time
}

func (p *aheadPricing) at(now time.Time) (credits.RateCardRef, bool) {
	if p == nil || now.Before(p.since) || p.next != nil && !now.Before(*p.next) {
		return credits.RateCardRef{}, false
	}
	return p.ref, true
}

// pricingAhead reads, for each of the accounts $1, its rate card ($3 for
// none of its own), the latest version in effect at $2 and when the next
// takes effect: PostgreSQL's SQL, sent with the accounts' lock.
const pricingAhead = `SELECT batch.id, c.card,
		COALESCE((SELECT MAX(version) FROM rate_card_versions WHERE rate_card_id = c.card AND effective_at <= $2), 0),
		(SELECT MIN(effective_at) FROM rate_card_versions WHERE rate_card_id = c.card AND effective_at > $2)
	FROM unnest($1::text[]) AS batch (id)
	CROSS JOIN LATERAL (SELECT COALESCE((SELECT rate_card_id FROM account_rate_cards WHERE account_id = batch.id), $3) AS card) c`

// readPricingAhead is the statement that reads pricingAhead for ids at
// since, and gives each account's answer to use.
func readPricingAhead(d *Dialect, ids []string, since time.Time, use func(id string, p *aheadPricing)) Write {
	return Write{Op: "read the rate cards of accounts", Query: pricingAhead, Args: []any{ids, d.Time(since), credits.DefaultRateCard},
		Scan: func(rows Rows) error {
			for rows.Next() {
				var id string
				p := &aheadPricing{since: since}
				if err := rows.Scan(&id, &p.ref.ID, &p.ref.Version, nullTimeValue{&p.next}); err != nil {
					return err
				}
				use(id, p)
			}
			return nil
		}}
}

// pricingChanged forgets what was read ahead of rate cards: the
// transaction changed an account's card or a card's versions.
func (t *Tx) pricingChanged() {
	if t.ahead != nil {
		t.ahead.pricing = nil
	}
	t.writerMemo().forgetPricing()
	if a := t.batchAhead(); a != nil {
		for _, e := range a.accounts {
			e.pricing = nil
		}
	}
}

func (t *Tx) AccountRateCard(accountID string) (string, error) {
	return queryOne(t, "read the rate card of account "+accountID, scanString,
		`SELECT rate_card_id FROM account_rate_cards WHERE account_id = ?`, accountID)
}

func (t *Tx) SetAccountRateCard(accountID, rateCardID string, now time.Time) error {
	t.pricingChanged()
	_, err := t.exec("set the rate card of account "+accountID, `INSERT INTO account_rate_cards (account_id, rate_card_id, updated_at)
		VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET rate_card_id = excluded.rate_card_id, updated_at = excluded.updated_at`,
		accountID, rateCardID, t.d.Time(now))
	return err
}

// AddUsage goes out with the next statement on PostgreSQL, after the entry
// it names (which may be held back too).
func (l *lockedAccount) AddUsage(u credits.Usage) error {
	quantities, err := json.Marshal(u.Quantities)
	if err != nil {
		return fmt.Errorf("record usage %s: %w", u.ID, err)
	}
	properties, err := json.Marshal(u.Properties)
	if err != nil {
		return fmt.Errorf("record usage %s: %w", u.ID, err)
	}
	return l.t.later(Write{Op: "record usage " + u.ID, One: true, Args: []any{u.ID, l.id(), u.Feature, string(quantities), string(properties),
		u.RateCard.ID, u.RateCard.Version, u.Credits, u.HoldID, nullID(u.EntryID), nullID(u.ExtraEntryID), l.t.d.Time(u.CreatedAt)}},
		`INSERT INTO usages (`+usageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

const usageColumns = `id, account_id, feature_id, quantities, properties, rate_card_id, rate_card_version, credits, hold_id, entry_id, extra_entry_id, created_at`

func scanUsage(s scanner, extra ...any) (credits.Usage, error) {
	var u credits.Usage
	var quantities, properties string
	var entry, extraEntry sql.NullInt64
	dest := append([]any{&u.ID, &u.AccountID, &u.Feature, &quantities, &properties, &u.RateCard.ID, &u.RateCard.Version,
		&u.Credits, &u.HoldID, &entry, &extraEntry, timeValue{&u.CreatedAt}}, extra...)
	if err := s.Scan(dest...); err != nil {
		return u, err
	}
	u.EntryID, u.ExtraEntryID = entry.Int64, extraEntry.Int64
	if err := json.Unmarshal([]byte(quantities), &u.Quantities); err != nil {
		return u, fmt.Errorf("quantities of usage %s: %w", u.ID, err)
	}
	if err := json.Unmarshal([]byte(properties), &u.Properties); err != nil {
		return u, fmt.Errorf("properties of usage %s: %w", u.ID, err)
	}
	return u, nil
}

func (t *Tx) EntryUsages(entryIDs []int64) (map[int64]credits.Usage, error) {
	out := map[int64]credits.Usage{}
	if len(entryIDs) == 0 {
		return out, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(entryIDs)), ", ")
	args := make([]any, 0, 2*len(entryIDs))
	for range 2 {
		for _, id := range entryIDs {
			args = append(args, id)
		}
	}
	// One text per number of ids (at most a page of entries).
	usages, err := queryAll(t, "read the usages of entries", func(s scanner) (credits.Usage, error) { return scanUsage(s) },
		`SELECT `+usageColumns+` FROM usages WHERE entry_id IN (`+marks+`) OR extra_entry_id IN (`+marks+`)`, args...)
	for _, u := range usages {
		for _, id := range []int64{u.EntryID, u.ExtraEntryID} {
			if id != 0 {
				out[id] = u
			}
		}
	}
	return out, err
}

func (t *Tx) UsagesBetween(accountID string, from, to time.Time, limit int) ([]credits.Usage, error) {
	return queryAll(t, "list usages of account "+accountID, func(s scanner) (credits.Usage, error) { return scanUsage(s) },
		`SELECT `+usageColumns+` FROM usages WHERE account_id = ? AND created_at >= ? AND created_at < ?
		ORDER BY created_at, id LIMIT ?`, accountID, t.d.Time(from), t.d.Time(to), limit)
}

func (t *Tx) AllUsages(after string, limit int) ([]credits.UsageEntries, error) {
	return queryAll(t, "list usages", func(s scanner) (credits.UsageEntries, error) {
		var u credits.UsageEntries
		var err error
		u.Usage, err = scanUsage(s, &u.EntrySum)
		return u, err
	}, `SELECT `+prefixed("u", usageColumns)+`, CAST(COALESCE((SELECT SUM(e.amount) FROM entries e WHERE e.id IN (u.entry_id, u.extra_entry_id)), 0) AS BIGINT)
		FROM usages u WHERE u.id > ? ORDER BY u.id LIMIT ?`, after, limit)
}
