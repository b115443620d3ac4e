// Package pgtest gives tests an empty, migrated PostgreSQL store in a schema
// of its own, on the server that CREDITS_TEST_POSTGRES_URL names; tests skip
// when it is not set (CI sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/credits/credits/postgres"
)

// EnvURL names the PostgreSQL server for tests.
const EnvURL = "CREDITS_TEST_POSTGRES_URL"

// URL returns a database URL whose connections use a new, empty schema, which
// is dropped with the test.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set, and CI must run the PostgreSQL tests")
		}
		t.Skip(EnvURL + " is not set: skipping the PostgreSQL tests")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated store in a new schema, closed with the test.
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	return OpenURL(t, URL(t))
}

// OpenURL opens a store on the database at url (several stores on one
// schema stand for replicas) and migrates it, closed with the test.
func OpenURL(t testing.TB, url string) *postgres.DB {
	t.Helper()
	migrated, err := migrate(url)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if !migrated {
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// migrate applies the store's migrations (the files it embeds) to the schema
// at url without the store's lock: Migrate takes one advisory lock per
// database so that replicas starting at once migrate once, and a Migrate that
// finds it taken retries every 5 s, which tests side by side, each in a
// schema of its own, would do all the time. Migrate itself is tested where
// it is the subject (the migration tests, the replicas and every serve).
// Without the source tree (a -trimpath build) it migrates nothing and says
// so: the store's Migrate then does.
func migrate(databaseURL string) (bool, error) {
	_, file, _, ok := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "postgres", "migrations")
	if _, err := os.Stat(dir); !ok || err != nil {
		return false, nil
	}
	config, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return false, err
	}
	sqlDB := stdlib.OpenDB(*config)
	defer sqlDB.Close()
	return true, migrateDB(sqlDB, dir)
}

func migrateDB(sqlDB *sql.DB, dir string) error {
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("pgtest: migrations in %s: %w", dir, err)
	}
	if _, err := provider.Up(context.Background()); err != nil {
		return fmt.Errorf("pgtest: migrate: %w", err)
	}
	return nil
}
