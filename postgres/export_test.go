package postgres

import (
	"context"

	"github.com/credits/credits"
)

// RoundTrips is the number of round trips the store's transactions made.
func RoundTrips(db *DB) int64 { return db.roundTrips.Load() }

// CommitBatch runs fns, in order, as one batch of the group commit on one
// account, and returns each one's error and panic.
func CommitBatch(db *DB, account string, fns ...func(credits.Tx) error) (errs []error, panics []any) {
	batch := make([]*accountWrite, len(fns))
	for i, fn := range fns {
		batch[i] = &accountWrite{ctx: context.Background(), w: credits.AccountWrite{AccountID: account}, fn: fn, done: make(chan writeResult, 1)}
	}
	db.runBatch(batch)
	for _, req := range batch {
		r := <-req.done
		errs, panics = append(errs, r.err), append(panics, r.panicked)
	}
	return errs, panics
}

// CommitWrites runs fns, in order, as one batch of the group commit, each
// with what it says it reads first (ws), and returns each one's error.
func CommitWrites(db *DB, ws []credits.AccountWrite, fns []func(credits.Tx) error) (errs []error) {
	batch := make([]*accountWrite, len(fns))
	for i, fn := range fns {
		batch[i] = &accountWrite{ctx: context.Background(), w: ws[i], fn: fn, done: make(chan writeResult, 1)}
	}
	db.runBatch(batch)
	for _, req := range batch {
		r := <-req.done
		if r.panicked != nil {
			panic(r.panicked)
		}
		errs = append(errs, r.err)
	}
	return errs
}
