package postgres_test

import (
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) credits.Store {
		return pgtest.Open(t)
	})
}
