package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

// Group commit. A durable commit costs a disk sync, and SQLite has one
// writer, so syncing once per write would bound throughput at one write per
// sync. Instead, one goroutine runs the writes: it takes every write that is
// waiting, runs each in a savepoint of one transaction, and commits (and
// syncs) once for all of them. A write that fails is rolled back to its
// savepoint, so its neighbours keep their own results; each caller gets its
// result only after the commit, so nothing is acknowledged before it is
// durable.

// maxBatch bounds how many writes share one commit.
const maxBatch = 256

var errClosed = errors.New("sqlite: the database is closed")

type writeRequest struct {
	ctx  context.Context
	fn   func(credits.Tx) error
	done chan writeResult
}

type writeResult struct {
	err      error
	panicked any // a panic in fn, raised again in the caller's goroutine
}

func (db *DB) startCommitter() {
	db.writes = make(chan *writeRequest)
	db.closing = make(chan struct{})
	db.stopped = make(chan struct{})
	go db.commitLoop()
}

func (db *DB) stopCommitter() {
	select {
	case <-db.closing:
	default:
		close(db.closing)
	}
	<-db.stopped
}

// Update runs fn in a write transaction, shared with the writes that wait
// beside it, and returns once that transaction is committed.
func (db *DB) Update(ctx context.Context, fn func(credits.Tx) error) error {
	req := &writeRequest{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return errClosed
	}
	res := <-req.done
	if res.panicked != nil {
		panic(res.panicked)
	}
	return res.err
}

// UpdateAccount is Update: the one writer groups every write already.
func (db *DB) UpdateAccount(ctx context.Context, _ credits.AccountWrite, fn func(credits.Tx) error) error {
	return db.Update(ctx, fn)
}

func (db *DB) commitLoop() {
	defer close(db.stopped)
	for {
		var batch []*writeRequest
		select {
		case first := <-db.writes:
			batch = append(batch, first)
		case <-db.closing:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case req := <-db.writes:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		if db.lowSpace {
			db.truncateWAL() // before the batch: what it frees may be what the batch needs
		}
		results := db.commitBatch(batch)
		db.watchSpace(results)
		for i, req := range batch {
			req.done <- results[i]
		}
	}
}

// commitBatch runs a batch in one transaction and returns each write's result.
func (db *DB) commitBatch(batch []*writeRequest) []writeResult {
	results := make([]writeResult, len(batch))
	failAll := func(err error) []writeResult {
		for i := range results {
			results[i] = writeResult{err: err}
		}
		return results
	}
	ctx := context.Background()
	sqlConn, err := db.write.Conn(ctx)
	if err != nil {
		return failAll(fmt.Errorf("sqlite: begin: %w", mapError(err)))
	}
	defer sqlConn.Close()
	err = sqlConn.Raw(func(dc any) error {
		c := dc.(*cachingConn)
		if err := c.run(ctx, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		committed := false
		defer func() {
			if !committed {
				c.forgetMemo()
				_ = c.run(ctx, "ROLLBACK")
			}
		}()
		if err := c.checkMemo(ctx); err != nil {
			return err
		}
		for i, req := range batch {
			if err := req.ctx.Err(); err != nil {
				results[i].err = err // the caller gave up while it waited: do nothing for it
				continue
			}
			var fatal error
			results[i], fatal = db.runInSavepoint(c, req)
			if fatal != nil {
				return fatal
			}
		}
		if err := c.run(ctx, "COMMIT"); err != nil {
			return fmt.Errorf("sqlite: commit: %w", err)
		}
		committed = true
		return nil
	})
	if err != nil {
		return failAll(err)
	}
	return results
}

// runInSavepoint runs one write; on failure it undoes just that write. A
// fatal error means the transaction itself is broken.
func (db *DB) runInSavepoint(c *cachingConn, req *writeRequest) (res writeResult, fatal error) {
	// Statements run without the caller's cancellation: interrupting a
	// statement would roll back the whole shared transaction.
	ctx := context.WithoutCancel(req.ctx)
	if err := c.run(ctx, "SAVEPOINT write"); err != nil {
		return res, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: p}
		}
		if res.err != nil || res.panicked != nil {
			c.forgetMemo() // it may remember what the write wrote
			if err := c.run(ctx, "ROLLBACK TO write"); err != nil {
				fatal = fmt.Errorf("sqlite: rollback to savepoint: %w", err)
				if credits.ErrorCode(res.err) == credits.EUNAVAILABLE {
					// A full disk or an I/O error rolls the whole transaction
					// back, savepoints and all: every write of the batch fails
					// with that error, which clients retry.
					fatal = res.err
				}
				return
			}
		}
		if err := c.run(ctx, "RELEASE write"); err != nil {
			fatal = fmt.Errorf("sqlite: release savepoint: %w", err)
			return
		}
	}()
	res.err = req.fn(sqlstore.NewTx(ctx, c, sqlstore.SQLite, true))
	return res, nil
}
