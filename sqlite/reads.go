package sqlite

import (
	"context"
	"fmt"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/sqlstore"
)

// Reads of one account. A read connection may answer an account it read
// before without reading it again, as long as nobody has committed since:
// SQLite's PRAGMA data_version, asked on the same connection, changes when
// any other connection (the writer, another process) has committed, and the
// read connections never write. So each read connection keeps the rows it
// read, with the data_version of the snapshot they were read in (asked in
// the same statement), and drops them all when it finds another. Writes
// know nothing of it.
//
// Asking the version is a statement too, wasted when it has moved: a
// connection that found it moved asks again only after 1, 3, 7, … reads
// (to 63) that go straight to the row, and asks every time once it is
// found unchanged.

// maxReadAccounts bounds what one read connection keeps.
const maxReadAccounts = 10_000

type readAccounts struct {
	version int64 // the data_version of the snapshot the rows were read in
	rows    map[string]credits.Account
	skip    int // reads left that go straight to the row
	moved   int // times in a row that the version was found moved
}

// ReadAccount reads one account's row (credits.Store): what a read
// transaction begun now would read.
func (db *DB) ReadAccount(ctx context.Context, id string) (credits.Account, error) {
	sqlConn, err := db.read.Conn(ctx)
	if err != nil {
		return credits.Account{}, fmt.Errorf("sqlite: read account %s: %w", id, mapError(err))
	}
	defer sqlConn.Close()
	var a credits.Account
	err = sqlConn.Raw(func(dc any) (err error) {
		a, err = dc.(*cachingConn).readAccount(ctx, id)
		return err
	})
	return a, err
}

// readAccount answers from the connection's rows when the version is the
// one they were read at, and reads the row otherwise.
func (c *cachingConn) readAccount(ctx context.Context, id string) (credits.Account, error) {
	m := &c.accounts
	if m.skip > 0 {
		m.skip--
	} else if a, ok := m.rows[id]; ok {
		version, err := dataVersion(ctx, c)
		if err != nil {
			return credits.Account{}, err
		}
		if version == m.version {
			m.moved = 0
			return a, nil
		}
		m.moved = min(m.moved+1, 6)
		m.skip = 1<<m.moved - 1
	}
	a, version, err := sqlstore.NewTx(ctx, c, sqlstore.SQLite, false).AccountAtDataVersion(id)
	if err != nil {
		return a, err
	}
	if m.rows == nil || version != m.version || len(m.rows) >= maxReadAccounts {
		m.rows, m.version = map[string]credits.Account{}, version
	}
	m.rows[id] = a
	return a, nil
}

func dataVersion(ctx context.Context, c *cachingConn) (int64, error) {
	rows, err := c.Query(ctx, "PRAGMA data_version")
	if err != nil {
		return 0, fmt.Errorf("sqlite: read data_version: %w", err)
	}
	defer rows.Close()
	var version int64
	if !rows.Next() {
		return 0, fmt.Errorf("sqlite: read data_version: %w", rows.Err())
	}
	if err := rows.Scan(&version); err != nil {
		return 0, fmt.Errorf("sqlite: read data_version: %w", err)
	}
	return version, nil
}
