package sqlite

import (
	"context"
	"errors"

	"github.com/credits/credits"
)

// A full disk. When a write fails for lack of space, the WAL may be what
// filled the disk: it grows to about 16 MiB between checkpoints
// (walCheckpointPages) and keeps that size after each. So the committer
// then truncates the WAL (a checkpoint that resets it to empty) before and
// after every batch, until the disk has room for a full WAL again: freeing
// a few MiB brings writes back at once, and the WAL cannot fill the disk
// again meanwhile.

// roomForWAL is the free space above which the WAL may grow to its usual
// size again: four times what it holds between checkpoints.
const roomForWAL = 4 * walCheckpointPages * 4096

// watchSpace notes, after a batch, whether a write failed for lack of
// space, and while space is low truncates the WAL and checks for room.
func (db *DB) watchSpace(results []writeResult) {
	for _, r := range results {
		if errors.Is(r.err, credits.ErrDiskFull) {
			db.lowSpace = true
			break
		}
	}
	if !db.lowSpace {
		return
	}
	db.truncateWAL()
	if free, ok := freeSpace(db.dir); ok && free >= roomForWAL {
		db.lowSpace = false
	}
}

// truncateWAL copies the WAL into the database and empties it, as far as
// readers allow (a reader still using old pages leaves them for the next).
// Its errors change nothing: the next batch tries again.
func (db *DB) truncateWAL() {
	_, _ = db.write.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
}
