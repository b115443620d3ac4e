package sqlite_test

import (
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) credits.Store {
		db, _ := testkit.OpenSQLite(t)
		return db
	})
}
