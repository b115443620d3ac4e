package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/sqlite"
	"github.com/credits/credits/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) credits.Store {
		db, _ := testkit.OpenSQLite(t)
		return db
	})
}

func TestPaymentsMigration(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestPaymentsMigration(t, db, 4, "1790000000000000")
}

func TestExpiryEntriesMigration(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestExpiryEntriesMigration(t, db, 23)
}

func TestEntryMembersMigration(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestEntryMembersMigration(t, db, 31)
}

func TestEntryMembersMigrationMany(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestEntryMembersMigrationMany(t, db, 31)
}
