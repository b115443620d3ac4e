package postgres_test

import (
	"context"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) credits.Store {
		return pgtest.Open(t)
	})
}

func TestPaymentsMigration(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestPaymentsMigration(t, db, 3, "now()")
}
