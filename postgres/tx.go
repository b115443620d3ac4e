package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

// conn runs the shared statements (internal/sqlstore) in one transaction on
// one pooled connection, mapping PostgreSQL's errors to the domain's.
//
// Every statement here is a round trip to the server, and round trips, not
// the statements' work, were most of what a debit cost on both sides (the
// profile: a third of the service's CPU in socket writes). So statements go
// out together where they can, in one pgx batch: BEGIN with the first
// statement, and the writes whose answer nobody reads (sqlstore's Deferrer)
// with the statement or the COMMIT that follows them.
type conn struct {
	c       *pgxpool.Conn
	begin   string
	begun   bool
	pending []sqlstore.Write
	sends   int           // how many times held-back writes went out
	trips   *atomic.Int64 // the store's count of round trips

	// In a batch of writes (groupcommit.go), the previous writes' held-back
	// statements and their savepoints' releases go out before this write's,
	// with its first statement. A failure among them is the first failing
	// write's (earlier, at earlierIndex in the batch), not this one's.
	previous     []heldWrite
	earlier      error
	earlierIndex int

	ahead *sqlstore.BatchAhead // what the batch read for its writes at once
}

// heldWrite is a write of a batch whose statements wait to go out.
type heldWrite struct {
	index  int // in the batch
	writes []sqlstore.Write
}

// Ahead is what the batch read ahead for its writes (sqlstore.Ahead).
func (c *conn) Ahead() *sqlstore.BatchAhead { return c.ahead }

// errEarlierWrite fails a statement that went out after a statement of the
// batch's previous write that failed: the statement did not run.
var errEarlierWrite = errors.New("postgres: the batch's previous write failed; this write runs again")

var _ sqlstore.Deferrer = (*conn)(nil)

// newConn begins its transaction with begin, with the first statement; with
// begin "" it runs each statement on its own, and end sends nothing.
func newConn(c *pgxpool.Conn, begin string, trips *atomic.Int64) *conn {
	return &conn{c: c, begin: begin, begun: begin == "", trips: trips}
}

func newTx(ctx context.Context, c *conn, write bool) *sqlstore.Tx {
	return sqlstore.NewTx(ctx, c, sqlstore.Postgres, write)
}

// Defer holds a write back until the next statement or the commit.
func (c *conn) Defer(w sqlstore.Write) { c.pending = append(c.pending, w) }

func (c *conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if c.begun && len(c.pending) == 0 && len(c.previous) == 0 {
		c.trips.Add(1)
		tag, err := c.c.Exec(ctx, query, args...)
		return tag.RowsAffected(), mapError(err)
	}
	results, err := c.sendBefore(ctx, query, args)
	if err != nil {
		return 0, err
	}
	tag, err := results.Exec()
	if closeErr := results.Close(); err == nil {
		err = closeErr
	}
	return tag.RowsAffected(), mapError(err)
}

func (c *conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if c.begun && len(c.pending) == 0 && len(c.previous) == 0 {
		c.trips.Add(1)
		r, err := c.c.Query(ctx, query, args...)
		if err != nil {
			return nil, mapError(err)
		}
		return &rows{Rows: r}, nil
	}
	results, err := c.sendBefore(ctx, query, args)
	if err != nil {
		return nil, err
	}
	r, err := results.Query()
	if err != nil {
		results.Close()
		return nil, mapError(err)
	}
	return &rows{Rows: r, batch: results}, nil
}

// sendBefore sends, in one batch, what must run before query (BEGIN, if the
// transaction has not begun, and the writes held back), then query itself,
// and reads the results up to query's, which the caller reads.
func (c *conn) sendBefore(ctx context.Context, query string, args []any) (pgx.BatchResults, error) {
	b := c.waiting()
	b.Queue(query, args...)
	c.trips.Add(1)
	results := c.c.SendBatch(ctx, b)
	if err := c.readSent(results); err != nil {
		results.Close()
		return nil, err
	}
	return results, nil
}

// waiting is a batch of what must go out before the next statement: BEGIN,
// if the transaction has not begun, the previous writes' statements and the
// ones held back (readSent reads their answers).
func (c *conn) waiting() *pgx.Batch {
	b := &pgx.Batch{}
	if !c.begun {
		b.Queue(c.begin)
	}
	for _, held := range c.previous {
		for _, w := range held.writes {
			b.Queue(w.Query, w.Args...)
		}
	}
	for _, w := range c.pending {
		b.Queue(w.Query, w.Args...)
	}
	return b
}

// readSent reads the answers to what went out before a batch's queries:
// BEGIN, if the transaction had not begun, the previous writes' statements
// and the ones held back.
func (c *conn) readSent(results pgx.BatchResults) error {
	begun, previous, pending := c.begun, c.previous, c.pending
	c.begun, c.previous, c.pending = true, nil, nil
	c.sends++
	if !begun {
		if _, err := results.Exec(); err != nil {
			return mapError(err)
		}
	}
	for _, held := range previous {
		for _, w := range held.writes {
			if err := readPending(results, w); err != nil {
				c.earlier, c.earlierIndex = lateError(w, err), held.index
				return errEarlierWrite // and the writes held after it did not run
			}
		}
	}
	for _, w := range pending {
		if err := readPending(results, w); err != nil {
			return lateError(w, err)
		}
	}
	return nil
}

// readPending reads a held-back statement's answer from the batch.
func readPending(results pgx.BatchResults, w sqlstore.Write) error {
	if w.Scan != nil {
		r, err := results.Query()
		if err != nil {
			return err
		}
		rs := &rows{Rows: r}
		err = w.Scan(rs)
		rs.Close()
		if err != nil {
			return err
		}
		return rs.Err()
	}
	tag, err := results.Exec()
	if err == nil && w.One && tag.RowsAffected() != 1 {
		err = fmt.Errorf("touched %d rows, not one", tag.RowsAffected())
	}
	return err
}

// lateError is the failure of a write that went out with a later statement.
// Its conflict or missing row is not that statement's: it keeps them out of
// the error's chain (errors.Is), but for a MayConflict write's conflict
// (sqlstore.ErrConflictAtCommit: the transaction runs again), and keeps
// the rest (the database being unavailable, a deadlock to retry).
func lateError(w sqlstore.Write, err error) error {
	err = mapError(err)
	switch {
	case errors.Is(err, credits.ErrConflict) && w.MayConflict:
		return fmt.Errorf("%s: %w (%v)", w.Op, sqlstore.ErrConflictAtCommit, err)
	case errors.Is(err, credits.ErrConflict), errors.Is(err, credits.ErrNotFound):
		return fmt.Errorf("%s (sent with the next statement): %v", w.Op, err)
	}
	return fmt.Errorf("%s (sent with the next statement): %w", w.Op, err)
}

// end commits (or rolls back) the transaction, if it began. A commit whose
// held-back writes fail leaves the transaction open, for the caller to roll
// back.
func (c *conn) end(ctx context.Context, commit bool) error {
	if c.begin == "" {
		return nil // no transaction
	}
	if !commit {
		c.pending, c.previous = nil, nil
		if !c.begun {
			return nil
		}
		c.begun = false
		c.trips.Add(1)
		_, err := c.c.Exec(ctx, "ROLLBACK")
		return err
	}
	if len(c.pending) > 0 || len(c.previous) > 0 {
		results, err := c.sendBefore(ctx, "COMMIT", nil)
		if err != nil {
			return err
		}
		_, err = results.Exec()
		if closeErr := results.Close(); err == nil {
			err = closeErr
		}
		c.begun = false
		return err
	}
	if !c.begun {
		return nil
	}
	c.begun = false
	c.trips.Add(1)
	_, err := c.c.Exec(ctx, "COMMIT")
	return err
}

type rows struct {
	pgx.Rows
	batch    pgx.BatchResults // the batch the rows came with, closed with them
	closeErr error
}

func (r *rows) Scan(dest ...any) error { return mapError(r.Rows.Scan(dest...)) }

func (r *rows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return mapError(err)
	}
	return mapError(r.closeErr)
}

func (r *rows) Close() {
	r.Rows.Close()
	if r.batch != nil {
		r.closeErr = r.batch.Close()
		r.batch = nil
	}
}
