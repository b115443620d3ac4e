package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credits/credits/internal/sqlstore"
)

// conn runs the shared statements (internal/sqlstore) in one transaction on
// one pooled connection, mapping PostgreSQL's errors to the domain's.
//
// Its BEGIN goes out with its first statement, in one round trip (a pgx
// batch): every statement here is a round trip to the server, and a read of
// one row was three (BEGIN, SELECT, COMMIT).
type conn struct {
	c     *pgxpool.Conn
	begin string
	begun bool
}

func newConn(c *pgxpool.Conn, begin string) *conn { return &conn{c: c, begin: begin} }

func newTx(ctx context.Context, c *conn, write bool) *sqlstore.Tx {
	return sqlstore.NewTx(ctx, c, sqlstore.Postgres, write)
}

func (c *conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if c.begun {
		tag, err := c.c.Exec(ctx, query, args...)
		return tag.RowsAffected(), mapError(err)
	}
	c.begun = true
	results := c.c.SendBatch(ctx, c.batch(query, args))
	var tag pgconn.CommandTag
	_, err := results.Exec()
	if err == nil {
		tag, err = results.Exec()
	}
	if closeErr := results.Close(); err == nil {
		err = closeErr
	}
	return tag.RowsAffected(), mapError(err)
}

func (c *conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if c.begun {
		r, err := c.c.Query(ctx, query, args...)
		if err != nil {
			return nil, mapError(err)
		}
		return &rows{Rows: r}, nil
	}
	c.begun = true
	results := c.c.SendBatch(ctx, c.batch(query, args))
	if _, err := results.Exec(); err != nil {
		results.Close()
		return nil, mapError(err)
	}
	r, err := results.Query()
	if err != nil {
		results.Close()
		return nil, mapError(err)
	}
	return &rows{Rows: r, batch: results}, nil
}

func (c *conn) batch(query string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(c.begin)
	b.Queue(query, args...)
	return b
}

// end commits (or rolls back) the transaction, if it began.
func (c *conn) end(ctx context.Context, commit bool) error {
	if !c.begun {
		return nil
	}
	c.begun = false
	statement := "ROLLBACK"
	if commit {
		statement = "COMMIT"
	}
	_, err := c.c.Exec(ctx, statement)
	return err
}

type rows struct {
	pgx.Rows
	batch    pgx.BatchResults // the first statement's batch, closed with its rows
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
