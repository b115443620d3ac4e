package sqlite

import (
	"context"
	"database/sql"

	"github.com/credits/credits/internal/sqlstore"
)

// conn runs the shared statements (internal/sqlstore) on one database/sql
// transaction, mapping SQLite's errors to the domain's.
type conn struct{ tx *sql.Tx }

func newTx(ctx context.Context, sqlTx *sql.Tx, write bool) *sqlstore.Tx {
	return sqlstore.NewTx(ctx, conn{sqlTx}, sqlstore.SQLite, write)
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapError(err)
	}
	n, err := res.RowsAffected()
	return n, mapError(err)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	return rows{r}, nil
}

type rows struct{ *sql.Rows }

func (r rows) Scan(dest ...any) error { return mapError(r.Rows.Scan(dest...)) }
func (r rows) Err() error             { return mapError(r.Rows.Err()) }
func (r rows) Close()                 { r.Rows.Close() }
