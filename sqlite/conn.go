package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"

	"modernc.org/sqlite"

	"github.com/credits/credits/internal/sqlstore"
)

// Prepared statements. Parsing a statement costs more than running it: in a
// profile of debits, SQLite's parser took a quarter of the CPU, because
// database/sql prepares a statement inside a transaction anew each time.
// So each connection keeps its statements prepared, by SQL text (the store's
// statements are a fixed set of templates), and the service's transactions
// run on the driver's connection directly (sql.Conn.Raw), using them.

// connector opens modernc.org/sqlite connections that cache their statements.
type connector struct {
	dsn    string
	driver *sqlite.Driver
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: conn, stmts: map[string]driver.Stmt{}}, nil
}

func (c connector) Driver() driver.Driver { return c.driver }

func openPool(dsn string) *sql.DB {
	return sql.OpenDB(connector{dsn: dsn, driver: &sqlite.Driver{}})
}

// maxCachedStatements bounds a connection's cache: the store has fewer
// templates than this; anything beyond (SQL built at run time) is not kept.
const maxCachedStatements = 512

// cachingConn is one driver connection and its prepared statements. It is
// used by one goroutine at a time (database/sql hands a connection to one
// user), so the cache needs no lock.
type cachingConn struct {
	driver.Conn
	stmts    map[string]driver.Stmt
	accounts readAccounts // a read connection's rows (reads.go)
	memo     *writerMemo  // the writer's memo (memo.go); nil on read connections
}

// WriterMemo implements sqlstore.Memoer: the writer's memo, nil elsewhere.
func (c *cachingConn) WriterMemo() *sqlstore.WriterMemo {
	if c.memo == nil {
		return nil
	}
	return &c.memo.WriterMemo
}

func (c *cachingConn) Close() error {
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts = nil
	return c.Conn.Close()
}

func (c *cachingConn) stmt(ctx context.Context, query string) (driver.Stmt, bool, error) {
	if s, ok := c.stmts[query]; ok {
		return s, true, nil
	}
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	if len(c.stmts) >= maxCachedStatements {
		return s, false, nil // the caller closes it after use
	}
	c.stmts[query] = s
	return s, true, nil
}

func namedValues(args []any) ([]driver.NamedValue, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named, nil
}

// Exec runs a statement; it implements sqlstore.Conn.
func (c *cachingConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.exec(ctx, query, args)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, mapError(err)
}

// Insert runs an INSERT into a rowid table and returns the new row's id; it
// implements sqlstore.Inserter. The statement must insert one row (no
// ON CONFLICT DO NOTHING, which would leave an earlier insert's id).
func (c *cachingConn) Insert(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.exec(ctx, query, args)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	return id, mapError(err)
}

func (c *cachingConn) exec(ctx context.Context, query string, args []any) (driver.Result, error) {
	named, err := namedValues(args)
	if err != nil {
		return nil, err
	}
	s, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, mapError(err)
	}
	if !cached {
		defer s.Close()
	}
	res, err := s.(driver.StmtExecContext).ExecContext(ctx, named)
	return res, mapError(err)
}

// Query runs a query; it implements sqlstore.Conn. Its rows must be closed
// before the same statement runs again (the store reads every row, then
// closes).
func (c *cachingConn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	named, err := namedValues(args)
	if err != nil {
		return nil, err
	}
	s, cached, err := c.stmt(ctx, query)
	if err != nil {
		return nil, mapError(err)
	}
	r, err := s.(driver.StmtQueryContext).QueryContext(ctx, named)
	if err != nil {
		if !cached {
			s.Close()
		}
		return nil, mapError(err)
	}
	out := &driverRows{rows: r, values: make([]driver.Value, len(r.Columns()))}
	if !cached {
		out.stmt = s
	}
	return out, nil
}

// run executes a statement that takes no arguments (BEGIN, SAVEPOINT, …).
func (c *cachingConn) run(ctx context.Context, query string) error {
	_, err := c.Exec(ctx, query)
	return err
}

// driverRows reads a driver's rows into the store's destinations, as
// database/sql would.
type driverRows struct {
	rows   driver.Rows
	stmt   driver.Stmt // closed with the rows when it is not cached
	values []driver.Value
	err    error
	closed bool
}

func (r *driverRows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	if err := r.rows.Next(r.values); err != nil {
		if err != io.EOF {
			r.err = mapError(err)
		}
		return false
	}
	return true
}

func (r *driverRows) Scan(dest ...any) error {
	if len(dest) != len(r.values) {
		return fmt.Errorf("sqlite: %d destinations for %d columns", len(dest), len(r.values))
	}
	for i, d := range dest {
		if err := assign(d, r.values[i]); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i, err)
		}
	}
	return nil
}

func (r *driverRows) Err() error { return r.err }

// Close ends the statement; an error of its end (a constraint that INSERT …
// RETURNING reports there) becomes Err.
func (r *driverRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	if err := r.rows.Close(); err != nil && r.err == nil {
		r.err = mapError(err)
	}
	if r.stmt != nil {
		_ = r.stmt.Close()
	}
}

var errNull = errors.New("NULL into a value that cannot hold it")

// assign stores a driver value into a destination of the kinds the store
// scans into.
func assign(dest, src any) error {
	if scanner, ok := dest.(sql.Scanner); ok {
		return scanner.Scan(src)
	}
	switch d := dest.(type) {
	case *string:
		return assignString(d, src)
	case *int64:
		return assignInt64(d, src)
	case *int:
		v, ok := src.(int64)
		if !ok {
			return fmt.Errorf("cannot scan %T into an int", src)
		}
		*d = int(v)
	case *bool:
		switch s := src.(type) {
		case int64:
			*d = s != 0
		case bool:
			*d = s
		default:
			return fmt.Errorf("cannot scan %T into a bool", src)
		}
	case *[]byte:
		return assignBytes(d, src)
	case *float64:
		switch s := src.(type) {
		case float64:
			*d = s
		case int64:
			*d = float64(s)
		default:
			return fmt.Errorf("cannot scan %T into a float64", src)
		}
	case *any:
		if b, ok := src.([]byte); ok {
			src = append([]byte(nil), b...)
		}
		*d = src
	default:
		return fmt.Errorf("cannot scan into %T", dest)
	}
	return nil
}

func assignString(d *string, src any) error {
	switch s := src.(type) {
	case string:
		*d = s
	case []byte:
		*d = string(s)
	case int64:
		*d = strconv.FormatInt(s, 10)
	case nil:
		return errNull
	default:
		return fmt.Errorf("cannot scan %T into a string", src)
	}
	return nil
}

func assignInt64(d *int64, src any) error {
	switch s := src.(type) {
	case int64:
		*d = s
	case bool:
		*d = 0
		if s {
			*d = 1
		}
	case nil:
		return errNull
	default:
		return fmt.Errorf("cannot scan %T into an int64", src)
	}
	return nil
}

func assignBytes(d *[]byte, src any) error {
	switch s := src.(type) {
	case []byte:
		*d = append([]byte(nil), s...) // the driver reuses its buffer
	case string:
		*d = []byte(s)
	case nil:
		*d = nil
	default:
		return fmt.Errorf("cannot scan %T into bytes", src)
	}
	return nil
}
