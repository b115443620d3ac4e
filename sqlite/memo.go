package sqlite

import (
	"context"

	"github.com/credits/credits/internal/sqlstore"
)

// The writer's memo (sqlstore.WriterMemo): the writer connection remembers
// the members it read, kept true by its own writes, so that a member's next
// spend reads nothing for the member. Only this connection writes, except
// another process or a migration: each batch first asks PRAGMA
// data_version, which moves when another connection has committed, and
// the memo is forgotten then. A write rolled back, a batch that does not
// commit, and a statement run outside the service (DB.Exec) forget it too.

type writerMemo struct {
	sqlstore.WriterMemo
	version int64 // the data_version the memo holds at; 0: not asked yet
}

// checkMemo starts the writer's memo, or forgets it if another connection
// has committed since the last batch. It runs in the batch's transaction,
// after BEGIN IMMEDIATE: nobody else can commit until it ends.
func (c *cachingConn) checkMemo(ctx context.Context) error {
	version, err := dataVersion(ctx, c)
	if err != nil {
		return err
	}
	if c.memo == nil {
		c.memo = &writerMemo{}
	}
	if version != c.memo.version {
		c.memo.Forget()
		c.memo.version = version
	}
	return nil
}

// forgetMemo forgets what the writer remembers.
func (c *cachingConn) forgetMemo() {
	if c.memo != nil {
		c.memo.Forget()
	}
}
