// Package schema holds the test that keeps the two stores' migration
// histories in step (docs/architecture.md, "Changing the schema").
package schema

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// firstShared is the first migration numbered alike in both stores: before
// it, each store kept its own numbering (SQLite 1–22, PostgreSQL 1–20).
const firstShared = 23

// migrations lists a store's migration files numbered firstShared or later.
func migrations(t *testing.T, store string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", store, "migrations", "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no migrations of %s: %v", store, err)
	}
	var names []string
	for _, p := range paths {
		name := filepath.Base(p)
		number, _, ok := strings.Cut(name, "_")
		n, err := strconv.Atoi(number)
		if !ok || err != nil {
			t.Fatalf("%s/migrations/%s is not named NNNNN_name.sql", store, name)
		}
		if n >= firstShared {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestOneSchemaHistory: from firstShared on, the same change has the same
// number and name in both stores, with no number used twice.
func TestOneSchemaHistory(t *testing.T) {
	sqlite, postgres := migrations(t, "sqlite"), migrations(t, "postgres")
	if !slices.Equal(sqlite, postgres) {
		t.Errorf("the stores' migrations differ:\n sqlite   %v\n postgres %v", sqlite, postgres)
	}
	seen := map[string]string{}
	for _, name := range sqlite {
		number, _, _ := strings.Cut(name, "_")
		if other, ok := seen[number]; ok {
			t.Errorf("migration number %s is used twice: %s and %s", number, other, name)
		}
		seen[number] = name
	}
	for _, name := range sqlite {
		for _, store := range []string{"sqlite", "postgres"} {
			body, err := os.ReadFile(filepath.Join("..", "..", store, "migrations", name))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), "-- +goose Up") || !strings.Contains(string(body), "-- +goose Down") {
				t.Errorf("%s/migrations/%s has no goose Up and Down sections", store, name)
			}
		}
	}
}
