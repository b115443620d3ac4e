package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

// Group commit for writes confined to one account (credits.Store.UpdateAccount:
// debits, grants, adjustments, holds). A transaction's own work on
// PostgreSQL (its start, its commit record, the flush it waits for, its end)
// cost more than a debit's statements: pgbench measured 15,000 one-write
// transactions a second on this machine against 66,000 writes a second with
// twenty in each, one savepoint per write. So writes of accounts wait in a
// queue; a committer takes every write waiting in its queue, runs each in a
// savepoint of one transaction, and commits once. A write that fails is
// rolled back to its savepoint, so its neighbours keep their results; each
// caller has its answer only after the commit, so nothing is answered
// before it is durable.
//
// A batch locks its accounts first, in one statement in the order of their
// ids, so that two batches (of this process or of another replica) may
// wait for each other but never in a cycle. It waits for a lock at most
// batchLockTimeout (PostgreSQL's lock_timeout, for the batch's transaction):
// an account held that long (a stuck session) would otherwise stall every
// write of every batch that has it. Then each of the batch's writes runs on
// its own, in a transaction that waits for its lock as long as its caller
// does, and the batch's accounts are kept out of batches for
// contendedFor; so one account held for long delays its own writes, not
// the others'.
//
// Accounts are shared among a few committers by a hash of their id: the
// batches of one process never lock the same account, so they run side by
// side, and one account's writes are always in order in one queue.

const (
	// accountCommitters is how many batches of one process run at once.
	// With each batch two round trips (its reads ahead, then its writes and
	// the COMMIT), one per process kept a second replica from lowering the
	// total, which two did not: on two cores, two replicas with two each
	// debited 3,819 / 5,421 / 3,848/s against one replica's 5,115 / 4,807 /
	// 6,697; with one each 4,693 / 4,754 / 6,836 against 4,301 / 4,351 /
	// 4,498 (and less CPU per debit, 112–122 µs against 121–135).
	accountCommitters = 1
	// maxAccountBatch bounds the writes in one transaction. PostgreSQL keeps
	// 64 subtransactions of a transaction in shared memory; past that, every
	// snapshot taken anywhere must look them up in pg_subtrans.
	maxAccountBatch = 48
	// batchTimeout bounds a batch's statements, which run without the
	// callers' cancellation (ending one statement would end them all). It
	// is well under credits.OutboxGapWait: an event a batch writes commits
	// before delivery would pass over its number.
	batchTimeout = 10 * time.Second
	// batchLockTimeout bounds a batch's wait for a lock; batches wait for
	// each other for milliseconds.
	batchLockTimeout = 2 * time.Second
	// contendedFor is how long the accounts of a batch whose lock timed out
	// are written outside batches.
	contendedFor = 10 * time.Second
)

// lockAccounts locks a batch's accounts in one order: a sort below the row
// locks, so the rows are locked as they come out of it.
const lockAccounts = `SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// errBatchLockTimedOut fails a batch whose accounts' lock waited past
// batchLockTimeout: its writes run on their own.
var errBatchLockTimedOut = errors.New("postgres: a batch waited too long for its accounts' locks")

var errClosed = errors.New("postgres: the database is closed")

type accountWrite struct {
	ctx  context.Context
	w    credits.AccountWrite
	fn   func(credits.Tx) error
	done chan writeResult
}

type writeResult struct {
	err      error
	panicked any // a panic in fn, raised again in the caller's goroutine
}

func (db *DB) startCommitters() {
	db.closing = make(chan struct{})
	db.queues = make([]chan *accountWrite, accountCommitters)
	for i := range db.queues {
		db.queues[i] = make(chan *accountWrite)
		db.committers.Add(1)
		go db.commitLoop(db.queues[i])
	}
}

func (db *DB) stopCommitters() {
	db.closeOnce.Do(func() { close(db.closing) })
	db.committers.Wait()
}

// UpdateAccount runs fn, a write that locks no account but w's, in a
// transaction shared with the writes that wait beside it, and returns once
// that transaction is committed. Deadlocks and serialization failures are
// retried, as Update retries them.
func (db *DB) UpdateAccount(ctx context.Context, w credits.AccountWrite, fn func(credits.Tx) error) error {
	if db.contended(w.AccountID) {
		return db.run(ctx, "BEGIN", true, w, fn)
	}
	h := fnv.New32a()
	h.Write([]byte(w.AccountID))
	queue := db.queues[h.Sum32()%uint32(len(db.queues))]
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		req := &accountWrite{ctx: ctx, w: w, fn: fn, done: make(chan writeResult, 1)}
		select {
		case queue <- req:
		case <-ctx.Done():
			return ctx.Err()
		case <-db.closing:
			return errClosed
		}
		res := <-req.done
		if res.panicked != nil {
			panic(res.panicked)
		}
		switch err = res.err; {
		case errors.Is(err, sqlstore.ErrConflictAtCommit):
			// Run on its own, where the insert's conflict meets fn.
			return db.run(ctx, "BEGIN", true, w, fn)
		case !retryable(err):
			return err
		}
		if err := backOff(ctx, attempt); err != nil {
			return err
		}
	}
	return err
}

func (db *DB) commitLoop(queue chan *accountWrite) {
	defer db.committers.Done()
	for {
		var batch []*accountWrite
		select {
		case first := <-queue:
			batch = append(batch, first)
		case <-db.closing:
			return
		}
	drain:
		for len(batch) < maxAccountBatch {
			select {
			case req := <-queue:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		db.runBatch(batch)
	}
}

// runBatch commits a batch and answers its writes; those that found their
// account locked run on their own.
func (db *DB) runBatch(batch []*accountWrite) {
	results, alone := db.commitBatch(batch)
	for i, req := range batch {
		if slices.Contains(alone, i) {
			db.alone.Go(func() { db.runAlone(req) })
			continue
		}
		req.done <- results[i]
	}
}

// runAlone runs a write in a transaction of its own, which waits for the
// account's lock.
func (db *DB) runAlone(req *accountWrite) {
	var res writeResult
	defer func() { req.done <- res }()
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: p}
		}
	}()
	res.err = db.run(req.ctx, "BEGIN", true, req.w, req.fn)
}

// contended reports whether an account's writes are kept out of batches.
func (db *DB) contended(accountID string) bool {
	db.contendedMu.Lock()
	defer db.contendedMu.Unlock()
	until, ok := db.contendedUntil[accountID]
	if ok && time.Now().After(until) {
		delete(db.contendedUntil, accountID)
		return false
	}
	return ok
}

// keepOut keeps a batch's accounts out of batches for contendedFor.
func (db *DB) keepOut(batch []*accountWrite) {
	db.contendedMu.Lock()
	defer db.contendedMu.Unlock()
	if db.contendedUntil == nil {
		db.contendedUntil = map[string]time.Time{}
	}
	now := time.Now()
	for id, until := range db.contendedUntil {
		if now.After(until) {
			delete(db.contendedUntil, id) // so that the map holds only the accounts kept out now
		}
	}
	for _, req := range batch {
		db.contendedUntil[req.w.AccountID] = now.Add(contendedFor)
	}
}

// lockNotAvailable reports a lock that was waited for past lock_timeout.
func lockNotAvailable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// commitBatch runs a batch in one transaction and returns each write's
// result, and the writes that are to run on their own (alone: a lock
// waited for too long), which did nothing. A failure outside the writes'
// savepoints (the connection, the commit) fails them all, and nothing of
// them is kept.
func (db *DB) commitBatch(batch []*accountWrite) (results []writeResult, alone []int) {
	results = make([]writeResult, len(batch))
	failAll := func(err error) ([]writeResult, []int) {
		for i := range results {
			results[i] = writeResult{err: err}
		}
		return results, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return failAll(mapError(err))
	}
	defer pooled.Release()
	c := newConn(pooled, "BEGIN", &db.roundTrips)
	committed := false
	defer func() {
		if !committed {
			if err := c.end(ctx, false); err != nil {
				pooled.Conn().Close(ctx)
			}
		}
	}()
	if err := c.lockBatch(ctx, batch); lockNotAvailable(err) {
		return db.allAlone(batch)
	} else if err != nil {
		return failAll(err)
	}
	for i := 0; ; i++ {
		if i == len(batch) {
			if !c.begun && len(c.previous) == 0 {
				break // every caller gave up: nothing went out
			}
			err := c.flush(ctx, "COMMIT")
			if c.earlier == nil && err != nil {
				return failAll(err)
			}
			if c.earlier == nil {
				break
			}
		} else if err := batch[i].ctx.Err(); err != nil {
			results[i].err = err // the caller gave up while it waited: do nothing for it
			continue
		} else {
			res, fatal := runInSavepoint(ctx, c, batch[i], i)
			if errors.Is(fatal, errBatchLockTimedOut) {
				return db.allAlone(batch)
			}
			if fatal != nil && c.earlier == nil {
				return failAll(fatal)
			}
			results[i] = res
		}
		if c.earlier != nil {
			// A held write failed when its statements went out with later
			// ones: undo it, and run the writes after it again.
			failed, err := undoEarlier(ctx, c, results)
			if errors.Is(err, errBatchLockTimedOut) {
				return db.allAlone(batch)
			} else if err != nil {
				return failAll(err)
			}
			i = failed
		}
	}
	committed = true
	return results, lockedOut(results)
}

// lockBatch holds back the batch's lock of its accounts (in id order) and
// its bounded lock wait: they go out with BEGIN and what the batch reads
// ahead, or with the first write's statements.
func (c *conn) lockBatch(ctx context.Context, batch []*accountWrite) error {
	ids := make([]string, 0, len(batch))
	for _, req := range batch {
		ids = append(ids, req.w.AccountID)
	}
	slices.Sort(ids)
	c.Defer(sqlstore.Write{Op: "bound the batch's lock waits", Query: fmt.Sprintf("SET LOCAL lock_timeout = %d", batchLockTimeout.Milliseconds())})
	c.Defer(sqlstore.Write{Op: "lock the batch's accounts", Query: lockAccounts, Args: []any{slices.Compact(ids)}})
	return c.readAhead(ctx, batch)
}

// lockedOut lists the writes that met a lock they could not take: they run
// again alone.
func lockedOut(results []writeResult) (alone []int) {
	for i, res := range results {
		if lockNotAvailable(res.err) {
			alone = append(alone, i)
		}
	}
	return alone
}

// readAhead reads, with BEGIN and the batch's lock, what the batch's writes
// read first (sqlstore.ReadAhead); when they say nothing of it, the lock
// waits to go out with the first write's statements.
func (c *conn) readAhead(ctx context.Context, batch []*accountWrite) error {
	writes := make([]credits.AccountWrite, len(batch))
	for i, req := range batch {
		writes[i] = req.w
	}
	ahead, reads := sqlstore.ReadAhead(sqlstore.Postgres, writes)
	if len(reads) == 0 {
		return nil
	}
	for _, r := range reads {
		c.Defer(r)
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	c.ahead = ahead
	return nil
}

// allAlone has every write of a batch whose lock timed out run on its own,
// and keeps the batch's accounts out of batches for a while.
func (db *DB) allAlone(batch []*accountWrite) ([]writeResult, []int) {
	db.keepOut(batch)
	alone := make([]int, len(batch))
	for i := range alone {
		alone[i] = i
	}
	return make([]writeResult, len(batch)), alone
}

// undoEarlier records the failure of the write whose statements went out
// with a later statement, and rolls back to its savepoint; the writes held
// after it did not run. It returns the failed write's place in the batch.
func undoEarlier(ctx context.Context, c *conn, results []writeResult) (failed int, err error) {
	failed, earlier := c.earlierIndex, c.earlier
	results[failed] = writeResult{err: earlier}
	if c.ahead != nil {
		c.ahead.Spoil() // what the failed write handed back never was
	}
	c.earlier = nil
	err = c.rollbackToSavepoint(ctx)
	switch {
	case err == nil:
	case lockNotAvailable(earlier):
		err = fmt.Errorf("%w: %v", errBatchLockTimedOut, earlier) // the batch's lock went out with the held write
	case credits.ErrorCode(earlier) == credits.EUNAVAILABLE || retryable(earlier):
		err = earlier // the connection is gone: every write of the batch fails with that
	}
	return failed, err
}

// runInSavepoint runs one write, the batch's index-th, in a savepoint. Its
// held-back statements and the savepoint's release wait (conn.previous) to
// go out with a later write's first statement, or with the commit: a
// failure among them is this write's, and undone then (conn.earlier). A
// write that fails while it runs is rolled back to its savepoint here. A
// fatal error means the transaction itself is broken.
func runInSavepoint(ctx context.Context, c *conn, req *accountWrite, index int) (res writeResult, fatal error) {
	sends := c.sends
	tx := newTx(ctx, c, true)
	c.Defer(savepoint)
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: p}
		}
		switch {
		case c.earlier != nil:
			c.pending = nil // the batch undoes the earlier write and runs this one again
		case res.err == nil && res.panicked == nil:
			tx.HandBack()
			c.previous = append(c.previous, heldWrite{index: index, writes: append(c.pending, release)})
			c.pending = nil
		case c.sends == sends:
			c.pending = nil // nothing of this write went out
		default:
			fatal = c.rollbackToSavepoint(ctx)
			switch {
			case fatal == nil:
			case lockNotAvailable(res.err):
				// The batch's lock, sent with this write's first statement,
				// waited too long: the transaction is aborted.
				fatal = fmt.Errorf("%w: %v", errBatchLockTimedOut, res.err)
			case credits.ErrorCode(res.err) == credits.EUNAVAILABLE || retryable(res.err):
				// The connection is gone: every write of the batch fails
				// with that, which clients retry.
				fatal = res.err
			default:
				fatal = fmt.Errorf("%w, after a write failed: %v", fatal, res.err)
			}
		}
	}()
	if !req.w.Now.IsZero() {
		tx.LockAhead(req.w.AccountID, req.w.Now)
	}
	res.err = req.fn(tx)
	return res, nil
}

// savepoint opens a write's savepoint; it goes out with the write's first
// statement.
var (
	savepoint = sqlstore.Write{Op: "savepoint", Query: "SAVEPOINT write"}
	release   = sqlstore.Write{Op: "release the savepoint", Query: "RELEASE SAVEPOINT write"}
)

// flush sends what waits to go out (see sendBefore), then queries, in one
// batch, and reads every answer. A held-back write's failure is returned as
// readSent has it (conn.earlier tells the previous write's); a query's
// mapped.
func (c *conn) flush(ctx context.Context, queries ...string) error {
	b := c.waiting()
	for _, q := range queries {
		b.Queue(q)
	}
	c.trips.Add(1)
	results := c.c.SendBatch(ctx, b)
	defer results.Close()
	if err := c.readSent(results); err != nil {
		return err
	}
	for _, q := range queries {
		if _, err := results.Exec(); err != nil {
			return mapError(err)
		}
		if q == "COMMIT" {
			c.begun = false
		}
	}
	return mapError(results.Close())
}

// rollbackToSavepoint undoes the current write, whose savepoint went out:
// what it held back is dropped, what it sent is rolled back. It goes out as
// a simple query (pgx sends a statement without arguments so), which an
// aborted transaction accepts; a statement pgx would first prepare it would
// refuse.
func (c *conn) rollbackToSavepoint(ctx context.Context) error {
	c.pending, c.previous = nil, nil
	c.trips.Add(1)
	if _, err := c.c.Exec(ctx, "ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write"); err != nil {
		return fmt.Errorf("postgres: roll back to a write's savepoint: %w", mapError(err))
	}
	return nil
}
