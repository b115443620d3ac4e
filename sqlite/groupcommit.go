package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/credits/credits"
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
		results := db.commitBatch(batch)
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
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		return failAll(fmt.Errorf("sqlite: begin: %w", mapError(err)))
	}
	defer sqlTx.Rollback()
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			results[i].err = err // the caller gave up while it waited: do nothing for it
			continue
		}
		var fatal error
		results[i], fatal = runInSavepoint(sqlTx, req)
		if fatal != nil {
			return failAll(fatal)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return failAll(fmt.Errorf("sqlite: commit: %w", mapError(err)))
	}
	return results
}

// runInSavepoint runs one write; on failure it undoes just that write. A
// fatal error means the transaction itself is broken.
func runInSavepoint(sqlTx *sql.Tx, req *writeRequest) (res writeResult, fatal error) {
	// Statements run without the caller's cancellation: interrupting a
	// statement would roll back the whole shared transaction.
	ctx := context.WithoutCancel(req.ctx)
	if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT write"); err != nil {
		return res, fmt.Errorf("sqlite: savepoint: %w", mapError(err))
	}
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: p}
		}
		if res.err != nil || res.panicked != nil {
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO write"); err != nil {
				fatal = fmt.Errorf("sqlite: rollback to savepoint: %w", mapError(err))
				if credits.ErrorCode(res.err) == credits.EUNAVAILABLE {
					// A full disk or an I/O error rolls the whole transaction
					// back, savepoints and all: every write of the batch fails
					// with that error, which clients retry.
					fatal = res.err
				}
				return
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE write"); err != nil {
			fatal = fmt.Errorf("sqlite: release savepoint: %w", mapError(err))
		}
	}()
	res.err = req.fn(newTx(ctx, sqlTx, true))
	return res, nil
}
