package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits/internal/sqlstore"
)

// conn runs the shared statements (internal/sqlstore) on one pgx
// transaction, mapping PostgreSQL's errors to the domain's.
type conn struct{ tx pgx.Tx }

func newTx(ctx context.Context, pgTx pgx.Tx, write bool) *sqlstore.Tx {
	return sqlstore.NewTx(ctx, conn{pgTx}, sqlstore.Postgres, write)
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), mapError(err)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	return rows{r}, nil
}

type rows struct{ pgx.Rows }

func (r rows) Scan(dest ...any) error { return mapError(r.Rows.Scan(dest...)) }
func (r rows) Err() error             { return mapError(r.Rows.Err()) }
