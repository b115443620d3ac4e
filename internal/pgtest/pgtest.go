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

// baseURL returns the server's URL, or skips the test (fails it under CI)
// when none is set.
func baseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set, and CI must run the PostgreSQL tests")
		}
		t.Skip(EnvURL + " is not set: skipping the PostgreSQL tests")
	}
	return base
}

// URL returns a database URL whose connections use a new, empty schema, which
// is dropped with the test.
func URL(t testing.TB) string {
	t.Helper()
	base := baseURL(t)
	schema, err := createSchema(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSchema(base, schema) })
	u, err := schemaURL(base, schema)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func createSchema(base string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", err
	}
	return schema, nil
}

func dropSchema(base, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
}

// schemaURL is base with connections that use schema.
func schemaURL(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Open returns a migrated store in a schema of its own, empty, closed with
// the test. Under Main the schema comes from the package's pool of migrated
// schemas (see pool.go); otherwise it is new and dropped with the test.
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	if u, ok := pooledURL(t); ok {
		return openStore(t, u)
	}
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
	db := openStore(t, url)
	if !migrated {
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func openStore(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
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
