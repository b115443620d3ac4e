// Package sqlite is the embedded Store: SQLite through the pure-Go driver
// modernc.org/sqlite, so that the binary stays static and needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a Store on one SQLite file.
//
// SQLite allows one writer at a time. Rather than let writers fight over the
// lock (and fail with SQLITE_BUSY), all writes go through one connection, in
// BEGIN IMMEDIATE transactions that group concurrent writes (groupcommit.go); reads use a separate pool and, thanks to WAL,
// never wait for the writer. synchronous=FULL makes every commit durable: the
// WAL is synced before COMMIT returns, so an acknowledged event survives a
// crash or power loss.
type DB struct {
	write      *sql.DB
	read       *sql.DB
	migrateDSN string // the writer's, without its in-memory temporary files

	writes  chan *writeRequest
	closing chan struct{}
	stopped chan struct{}

	// dir is the database's directory, whose free space lowSpace watches;
	// lowSpace is set by the committer when a write failed for lack of space
	// (see space.go).
	dir      string
	lowSpace bool
}

var _ credits.Store = (*DB)(nil)

// walCheckpointPages is how many pages the WAL holds before the writer
// checkpoints it (see Open).
const walCheckpointPages = 4000

// Open opens (and creates) the database at path. It does not migrate: call
// Migrate.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		pragmas.Add("_pragma", p)
	}
	pragmas.Set("_txlock", "immediate")
	migrateDSN := path + "?" + pragmas.Encode()
	// The writer's sub-journal (what a savepoint rolls back to) stays in
	// memory: SQLite spills one past 64 KiB to a temporary file, which it then
	// writes with a system call per page for the rest of the transaction. A
	// purchase touches about 16 pages, so most webhook batches spilled
	// (webhooks 2,596 -> 3,231/s with it in memory). It holds at most the
	// pages one batch changes, and is no part of durability: the WAL is.
	// Migrations, whose index builds may sort large tables in temporary
	// files, run on a connection of their own without it.
	pragmas.Add("_pragma", "temp_store(MEMORY)")
	// The writer checkpoints the WAL into the database file once it holds
	// walCheckpointPages pages rather than SQLite's 1,000: a page that every
	// batch changes (an account's, an index's last leaf) is copied once per
	// checkpoint however often it was written since, and a purchase writes
	// about eleven pages, so at 1,000 the writer checkpointed every third
	// webhook batch (webhooks 4,658 -> 5,219/s, 6 alternating runs). The WAL
	// stays bounded (about 16 MiB) and is reset after each checkpoint, as
	// before. Only the writer's setting changes: other processes keep theirs.
	pragmas.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
	write := openPool(path + "?" + pragmas.Encode())
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	readQuery := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "query_only(1)"} {
		readQuery.Add("_pragma", p)
	}
	read := openPool(path + "?" + readQuery.Encode())
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8) // idle connections keep their prepared statements
	db := &DB{write: write, read: read, migrateDSN: migrateDSN, dir: filepath.Dir(path)}
	db.startCommitter()
	// Opening the writer first makes the file and switches it to WAL.
	if err := write.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// OpenExisting opens a database that must exist already (a missing file is
// an error naming the path, and no file is made). readOnly opens it for
// reading only, as a read-only file allows: its writes fail.
func OpenExisting(path string, readOnly bool) (*DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no database at %s: run `credits migrate` to create one there, or set --database-url", path)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !readOnly {
		return Open(path)
	}
	query := url.Values{}
	query.Set("mode", "ro")
	for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "query_only(1)"} {
		query.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + query.Encode()
	write := openPool(dsn)
	write.SetMaxOpenConns(1)
	read := openPool(dsn)
	db := &DB{write: write, read: read, migrateDSN: dsn}
	db.startCommitter()
	if err := read.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Pending reports whether the database's schema is behind the binary's.
func (db *DB) Pending(ctx context.Context) (bool, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return false, err
	}
	provider, err := goose.NewProvider(goose.DialectSQLite3, db.read, sub)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrations: %w", err)
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("sqlite: read the schema version: %w", err)
	}
	return pending, nil
}

// Migrate applies the embedded migrations that are not yet applied and
// returns how many it applied.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	return db.MigrateTo(ctx, math.MaxInt64)
}

// MigrateTo applies the migrations up to a version (tests build a database
// of an older schema with it).
func (db *DB) MigrateTo(ctx context.Context, version int64) (int, error) {
	return db.migrate(ctx, version, false)
}

// MigrateDownTo rolls the schema back to a version (tests roll a database
// back to redo a migration).
func (db *DB) MigrateDownTo(ctx context.Context, version int64) (int, error) {
	return db.migrate(ctx, version, true)
}

func (db *DB) migrate(ctx context.Context, version int64, down bool) (int, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	conn := openPool(db.migrateDSN)
	conn.SetMaxOpenConns(1)
	defer conn.Close()
	provider, err := goose.NewProvider(goose.DialectSQLite3, conn, sub)
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrations: %w", err)
	}
	run := provider.UpTo
	if down {
		run = provider.DownTo
	}
	results, err := run(ctx, version)
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	return len(results), nil
}

// Close stops the writer and closes both pools.
func (db *DB) Close() error {
	db.stopCommitter()
	return errors.Join(db.write.Close(), db.read.Close())
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Exec runs a statement on the writer outside the service; tests use it to
// corrupt a database on purpose.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	sqlConn, err := db.write.Conn(ctx)
	if err != nil {
		return mapError(err)
	}
	defer sqlConn.Close()
	if err := sqlConn.Raw(func(dc any) error {
		dc.(*cachingConn).forgetMemo() // what it changes, the writer has not written
		return nil
	}); err != nil {
		return err
	}
	_, err = sqlConn.ExecContext(ctx, query, args...)
	return err
}

// View runs fn in one read transaction, on a consistent snapshot, with the
// connection's prepared statements.
func (db *DB) View(ctx context.Context, fn func(credits.Tx) error) error {
	sqlConn, err := db.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", mapError(err))
	}
	defer sqlConn.Close()
	return sqlConn.Raw(func(dc any) (err error) {
		c := dc.(*cachingConn)
		if err := c.run(ctx, "BEGIN"); err != nil {
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		committed := false
		defer func() {
			if !committed {
				// A read changed nothing; the rollback ends the snapshot
				// (even after a panic in fn, which goes on up).
				_ = c.run(context.WithoutCancel(ctx), "ROLLBACK")
			}
		}()
		if err := fn(sqlstore.NewTx(ctx, c, sqlstore.SQLite, false)); err != nil {
			return err
		}
		if err := c.run(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("sqlite: commit: %w", err)
		}
		committed = true
		return nil
	})
}

// mapError turns the driver's errors into the domain's sentinel errors.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return credits.ErrNotFound
	}
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", credits.ErrConflict, err)
		}
		// The storage failing is not our bug: answer 503, so that clients and
		// Stripe retry once it is fixed.
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return &credits.Error{Code: credits.EUNAVAILABLE, Message: "the database cannot write: its disk is full", Cause: fmt.Errorf("%w: %w", credits.ErrDiskFull, err)}
		case sqlite3.SQLITE_READONLY:
			return &credits.Error{Code: credits.EUNAVAILABLE, Message: "the database cannot write: its file is read-only", Cause: err}
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return credits.Unavailable("the database", err)
		}
	}
	return err
}
