// Package postgres is the Store on PostgreSQL (pgx v5), for several
// stateless replicas sharing one database.
//
// Concurrency control works at PostgreSQL's default isolation, READ
// COMMITTED: exactly-once keys are unique constraints (event id, session id of
// a purchase, idempotency key); every change of an account's balance, lots or
// holds first locks the account row (SELECT … FOR UPDATE), so that writers of
// one account queue and re-read what the previous one committed; the event
// queue is claimed with FOR UPDATE SKIP LOCKED. Serialization failures and
// deadlocks, should they occur, are retried here, a bounded number of times.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Limits of the connection pool.
const (
	connectTimeout   = 5 * time.Second
	maxTxAttempts    = 5
	defaultPoolConns = 16
)

// DB is a Store on a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// roundTrips counts the round trips to the server that transactions
	// made: the unit a write's cost on PostgreSQL is counted in, which
	// credits bench's round-trip guards hold to (docs/performance.md).
	roundTrips atomic.Int64

	// The group commit of writes confined to one account (groupcommit.go).
	queues     []chan *accountWrite
	committers sync.WaitGroup
	alone      sync.WaitGroup // writes run on their own after a batch (runAlone)
	closing    chan struct{}
	closeOnce  sync.Once
	// Accounts whose writes stay out of batches until a time (a batch that
	// had them waited too long for a lock).
	contendedMu    sync.Mutex
	contendedUntil map[string]time.Time
}

var (
	_ credits.Store = (*DB)(nil)
)

// IsURL reports whether a database URL names PostgreSQL.
func IsURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open connects to the database at url. pgx prepares and caches each
// statement on each connection.
func Open(ctx context.Context, url string) (*DB, error) {
	config, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: the database URL is not valid") // the URL may hold a password: never echo it
	}
	config.ConnConfig.ConnectTimeout = connectTimeout
	if config.MaxConns < defaultPoolConns && !strings.Contains(url, "pool_max_conns") {
		config.MaxConns = defaultPoolConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool}
	db.startCommitters()
	return db, nil
}

// Migrate applies the embedded migrations that are not yet applied. An
// advisory lock lets several replicas start at once.
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
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, err
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, fmt.Errorf("postgres: migrations: %w", err)
	}
	run := provider.UpTo
	if down {
		run = provider.DownTo
	}
	results, err := run(ctx, version)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", mapError(err))
	}
	return len(results), nil
}

// Pending reports whether the database's schema is behind the binary's.
func (db *DB) Pending(ctx context.Context) (bool, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return false, err
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub)
	if err != nil {
		return false, fmt.Errorf("postgres: migrations: %w", err)
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: read the schema version: %w", mapError(err))
	}
	return pending, nil
}

// Close closes the pool.
func (db *DB) Close() error {
	db.stopCommitters()
	db.alone.Wait() // their callers wait for them: they end soon
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return mapError(db.pool.Ping(ctx))
}

// Exec runs a statement outside the service; tests use it.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.pool.Exec(ctx, query, args...)
	return mapError(err)
}

// Update runs fn in one read-write transaction; account reads lock the row.
func (db *DB) Update(ctx context.Context, fn func(credits.Tx) error) error {
	return db.run(ctx, "BEGIN", true, credits.AccountWrite{}, fn)
}

// View runs fn in one read-only transaction on one snapshot.
func (db *DB) View(ctx context.Context, fn func(credits.Tx) error) error {
	return db.run(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", false, credits.AccountWrite{}, fn)
}

// ReadAccount reads one account's row in one statement, outside a
// transaction (credits.Store): a statement reads one snapshot, and a
// read transaction's BEGIN and COMMIT made a read two round trips, not one.
func (db *DB) ReadAccount(ctx context.Context, id string) (credits.Account, error) {
	var a credits.Account
	err := db.run(ctx, "", false, credits.AccountWrite{}, func(tx credits.Tx) (err error) {
		a, err = tx.Account(id)
		return err
	})
	return a, err
}

// run runs fn in a transaction begun by begin, or in none when begin is ""
// (each statement on its own: reads only), with w's account's lock (and
// its lots spendable at w.Now) sent ahead when w says when it spends
// (UpdateAccount's writes). A transaction that met a
// deadlock or a serialization failure runs again; one whose held-back insert
// met a unique key at the commit runs again at once, sending such inserts as
// they are made, so that fn sees the conflict where it made the insert.
func (db *DB) run(ctx context.Context, begin string, write bool, w credits.AccountWrite, fn func(credits.Tx) error) error {
	var err error
	conflictsNow := false
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = db.runOnce(ctx, begin, write, func(tx *sqlstore.Tx) error {
			if conflictsNow {
				tx.SendConflictsNow()
			}
			if !w.Now.IsZero() {
				tx.LockAhead(w.AccountID, w.Now)
			}
			return fn(tx)
		})
		switch {
		case errors.Is(err, sqlstore.ErrConflictAtCommit) && !conflictsNow:
			conflictsNow = true
		case !retryable(err):
			return err
		default:
			if err := backOff(ctx, attempt); err != nil {
				return err
			}
		}
	}
	return err
}

// backOff waits before a transaction's next attempt (attempt ≥ 1), or until
// ctx ends.
func backOff(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) runOnce(ctx context.Context, begin string, write bool, fn func(*sqlstore.Tx) error) error {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return mapError(err)
	}
	defer pooled.Release()
	c := newConn(pooled, begin, &db.roundTrips)
	committed := false
	defer func() {
		if !committed {
			// Also after a panic in fn, which goes on up: the connection
			// goes back to the pool with no transaction open.
			if err := c.end(context.WithoutCancel(ctx), false); err != nil {
				pooled.Conn().Close(context.WithoutCancel(ctx))
			}
		}
	}()
	if err := fn(newTx(ctx, c, write)); err != nil {
		return err
	}
	if err := c.end(ctx, true); err != nil {
		return mapError(err) // the transaction, if still open, is rolled back above
	}
	committed = true
	return nil
}

// retryable reports a serialization failure or a deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapError turns driver errors into the domain's: no rows, unique violation,
// and a database that cannot be reached (503, so that clients and Stripe retry).
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return credits.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %v", credits.ErrConflict, err)
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return credits.Unavailable("the database", err) // connection lost, or the server shutting down or starting
		case pgErr.Code == "53100":
			return &credits.Error{Code: credits.EUNAVAILABLE, Message: "the database cannot write: its disk is full", Cause: fmt.Errorf("%w: %w", credits.ErrDiskFull, err)}
		case pgErr.Code == "25006":
			return &credits.Error{Code: credits.EUNAVAILABLE, Message: "the database cannot write: it is read-only (a standby?)", Cause: err}
		case strings.HasPrefix(pgErr.Code, "53"), strings.HasPrefix(pgErr.Code, "58"):
			return credits.Unavailable("the database", err) // out of memory or connections, or an I/O error
		}
		return err
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return credits.Unavailable("the database", err)
	}
	return err
}
