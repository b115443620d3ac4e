// Package sqlstore is the SQL that the SQLite and the PostgreSQL stores share:
// every statement is written here once, in one text for both databases, and a
// small Dialect says what differs between them (placeholders, row locks, the
// encoding of times, the "never" time). The stores keep only what is theirs:
// opening the database, transactions, migrations and their drivers' errors.
//
// Statements are written with ? placeholders and a few tokens:
//
//	{for_update}   a row lock: FOR UPDATE on PostgreSQL; nothing on SQLite,
//	               where the one writer already holds the database's lock
//	{for_no_key_update} FOR NO KEY UPDATE on PostgreSQL (a row lock that
//	               lets others insert rows naming this one by foreign key);
//	               nothing on SQLite
//	{skip_locked}  FOR UPDATE SKIP LOCKED on PostgreSQL; nothing on SQLite
//	{never}        a time before every other: '-infinity' or 0
//	{overriding}   OVERRIDING SYSTEM VALUE on PostgreSQL, where an INSERT
//	               names an entry id taken ahead (Dialect.NextEntryID);
//	               nothing on SQLite
//	{in_list}      after a column, tests it against a list of texts given
//	               as one parameter (Dialect.List): IN json_each(?) on
//	               SQLite, = ANY(?::text[]) on PostgreSQL
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credits/credits"
)

// Conn is one transaction of a database driver. Implementations map their
// driver's errors to the domain's (credits.ErrConflict, credits.Unavailable)
// in every method, and in the Rows they return.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Deferrer is a Conn that can hold a write back and send it with its next
// statement, or with the commit, in the same round trip. Its failure fails
// that statement, or the commit; a conflict or a missing row it meets is
// reported as a plain failure, never as the later statement's own
// credits.ErrConflict or credits.ErrNotFound, except that a conflict of a
// MayConflict write is ErrConflictAtCommit.
type Deferrer interface {
	Defer(w Write)
}

// ErrConflictAtCommit is a held-back MayConflict write's unique key, met when
// it went out with a later statement or the commit. The store runs the
// transaction again with SendConflictsNow, so that the write's own call
// returns credits.ErrConflict, as Tx promises; nothing above the store sees it.
var ErrConflictAtCommit = errors.New("an insert held back met a unique key")

// Write is a statement held back.
type Write struct {
	Op    string // what it does, for errors
	Query string
	Args  []any
	// One says it must touch exactly one row.
	One bool
	// MayConflict marks an insert whose unique key another transaction may
	// hold (credits.ErrConflict is a likely answer): its conflict is
	// ErrConflictAtCommit, and after SendConflictsNow it is not held back.
	MayConflict bool
	// Scan, when set, reads the statement's rows (an UPDATE … RETURNING)
	// when they come back: with the next statement's answer, before that
	// statement returns.
	Scan func(Rows) error
}

// Rows is a driver's result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what differs between the databases.
type Dialect struct {
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered    bool
	ForUpdate   string
	NoKeyUpdate string
	SkipLocked  string
	Never       string
	// Overriding lets an INSERT name the id of a table whose ids the
	// database generates ({overriding}, before VALUES).
	Overriding string
	// NextEntryID takes an id for a ledger entry ahead of its INSERT; ""
	// where the database has no sequence to take it from.
	NextEntryID string
	// Time encodes a time as the database stores it; TimeCast ({time},
	// after a placeholder) gives a parameter the type of a stored time where
	// the statement does not say it (a CASE of parameters).
	Time     func(time.Time) any
	TimeCast string
	// InList ({in_list}, after a column) tests the column against a list
	// of texts given as one parameter, made by List: one statement however
	// long the list.
	InList string
	List   func([]string) any

	cache sync.Map // statement template → statement in this dialect
}

// SQLite stores times as microseconds since the epoch (INTEGER), so that they
// compare and sort as numbers; its one writer makes row locks needless.
var SQLite = &Dialect{
	Never:  "0",
	Time:   func(t time.Time) any { return t.UnixMicro() },
	InList: " IN (SELECT value FROM json_each(?))",
	List: func(texts []string) any {
		list, _ := json.Marshal(texts) // texts always marshal
		return string(list)
	},
}

// Postgres stores times as TIMESTAMPTZ and locks rows.
var Postgres = &Dialect{
	Numbered:    true,
	ForUpdate:   " FOR UPDATE",
	NoKeyUpdate: " FOR NO KEY UPDATE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
	Never:       "'-infinity'",
	Overriding:  " OVERRIDING SYSTEM VALUE",
	// The identity's sequence, as PostgreSQL named it when postgres 00001
	// made the table: looking the name up (pg_get_serial_sequence) was 3 %
	// of the batches' backend, once per id of a batch.
	NextEntryID: `SELECT nextval('entries_id_seq')`,
	Time:        func(t time.Time) any { return t.UTC() },
	TimeCast:    "::timestamptz",
	InList:      " = ANY(?::text[])",
	List:        func(texts []string) any { return texts },
}

// statement turns a template into this dialect's SQL, once per template.
func (d *Dialect) statement(template string) string {
	if s, ok := d.cache.Load(template); ok {
		return s.(string)
	}
	s := strings.NewReplacer("{for_update}", d.ForUpdate, "{for_no_key_update}", d.NoKeyUpdate, "{skip_locked}", d.SkipLocked, "{never}", d.Never, "{overriding}", d.Overriding, "{time}", d.TimeCast, "{in_list}", d.InList).Replace(template)
	if d.Numbered {
		s = numberPlaceholders(s)
	}
	d.cache.Store(template, s)
	return s
}

// numberPlaceholders replaces each ? outside a string literal with $1, $2, ….
func numberPlaceholders(s string) string {
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (d *Dialect) nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// timeValue scans a time as either database stores it.
type timeValue struct{ t *time.Time }

func (v timeValue) Scan(src any) error {
	switch src := src.(type) {
	case int64:
		*v.t = time.UnixMicro(src).UTC()
	case time.Time:
		*v.t = src.UTC()
	case string: // PostgreSQL's -infinity and infinity, as pgx hands them to a Scanner
		switch src {
		case "-infinity":
			*v.t = time.Time{}
		case "infinity":
			*v.t = time.Unix(1<<62, 0).UTC()
		default:
			return fmt.Errorf("cannot scan %q into a time", src)
		}
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

// nullTimeValue scans a time that may be NULL.
type nullTimeValue struct{ t **time.Time }

func (v nullTimeValue) Scan(src any) error {
	if src == nil {
		*v.t = nil
		return nil
	}
	var t time.Time
	if err := (timeValue{&t}).Scan(src); err != nil {
		return err
	}
	*v.t = &t
	return nil
}

// Tx implements credits.Tx on one transaction of either database.
type Tx struct {
	ctx   context.Context
	conn  Conn
	d     *Dialect
	write bool
	ahead *lockAhead // an account lock sent ahead (LockAhead), and what was read with it
	// conflictsNow: MayConflict writes go out at once (SendConflictsNow).
	conflictsNow bool
	// sequences is each locked account's last outbox event number, as this
	// transaction has counted it.
	sequences map[string]int64
}

var _ credits.Tx = (*Tx)(nil)

// NewTx returns the store's transaction on conn; write says whether it may
// write (and lock accounts).
func NewTx(ctx context.Context, conn Conn, d *Dialect, write bool) *Tx {
	return &Tx{ctx: ctx, conn: conn, d: d, write: write}
}

// SendConflictsNow has the transaction send its MayConflict writes at once,
// where it held them back: a store runs a transaction again so after
// ErrConflictAtCommit.
func (t *Tx) SendConflictsNow() { t.conflictsNow = true }

type scanner interface{ Scan(dest ...any) error }

// exec runs a statement; op names it in errors.
func (t *Tx) exec(op, template string, args ...any) (int64, error) {
	n, err := t.conn.Exec(t.ctx, t.d.statement(template), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// execOne runs an update that must touch exactly one row.
func (t *Tx) execOne(op, template string, args ...any) error {
	n, err := t.exec(op, template, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", op, credits.ErrNotFound)
	}
	return nil
}

// later runs a write whose answer nobody reads, and whose failure fails the
// transaction. On PostgreSQL it goes out with the next statement (each
// statement its own round trip was most of a debit's time there); on SQLite
// it runs now, and a conflict is credits.ErrConflict as usual.
func (t *Tx) later(w Write, template string) error {
	w.Query = t.d.statement(template)
	if d, ok := t.conn.(Deferrer); ok && t.write && !(w.MayConflict && t.conflictsNow) {
		d.Defer(w)
		return nil
	}
	if w.Scan != nil {
		return t.scanNow(w)
	}
	n, err := t.conn.Exec(t.ctx, w.Query, w.Args...)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Op, err)
	}
	if w.One && n != 1 {
		return fmt.Errorf("%s: %w", w.Op, credits.ErrNotFound)
	}
	return nil
}

// scanNow runs a held-back query at once, where nothing is held back.
func (t *Tx) scanNow(w Write) error {
	rows, err := t.conn.Query(t.ctx, w.Query, w.Args...)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Op, err)
	}
	defer rows.Close()
	if err := w.Scan(rows); err != nil {
		return fmt.Errorf("%s: %w", w.Op, err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", w.Op, err)
	}
	return nil
}

// Inserter is a Conn that can answer an INSERT's new row id without
// RETURNING: SQLite's last insert rowid comes with the statement's result,
// where RETURNING would make it a query (rows and their columns to set up
// and read; 4 of a purchase's statements are inserts).
type Inserter interface {
	Insert(ctx context.Context, query string, args ...any) (id int64, err error)
}

// insert runs an INSERT into a table whose id the database assigns, and
// returns the id.
func (t *Tx) insert(op, template string, args ...any) (int64, error) {
	ins, ok := t.conn.(Inserter)
	if !ok {
		return queryOne(t, op, scanInt64, template+" RETURNING id", args...)
	}
	id, err := ins.Insert(t.ctx, t.d.statement(template), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return id, nil
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](t *Tx, op string, scan func(scanner) (T, error), template string, args ...any) ([]T, error) {
	rows, err := t.conn.Query(t.ctx, t.d.statement(template), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, item)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// queryOne runs a query and scans its first row; credits.ErrNotFound when
// there is none.
func queryOne[T any](t *Tx, op string, scan func(scanner) (T, error), template string, args ...any) (T, error) {
	var zero T
	rows, err := t.conn.Query(t.ctx, t.d.statement(template), args...)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return zero, fmt.Errorf("%s: %w", op, err)
		}
		return zero, fmt.Errorf("%s: %w", op, credits.ErrNotFound)
	}
	item, err := scan(rows)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	rows.Close() // a statement's own error (a constraint of INSERT … RETURNING) may come with its end
	if err := rows.Err(); err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	return item, nil
}

func scanInt64(s scanner) (int64, error) {
	var v int64
	return v, s.Scan(&v)
}

func scanString(s scanner) (string, error) {
	var v string
	return v, s.Scan(&v)
}

func nullInt64(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

// prefixed qualifies each of a comma-separated list of columns with a table
// alias, for joins.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
