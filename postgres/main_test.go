package postgres_test

import (
	"os"
	"testing"

	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/testkit"
)

// TestMain runs the conformance cases, each in a schema of its own, four per
// CPU at once: they mostly wait on the server (under -race, 14 s of CPU in
// the 62 s they take eight at once; 122 s two at once). SQLite's use the
// CPU they wait for (58 s of CPU in 70 s two at once, 73 s eight at once),
// so the sqlite package keeps the default. Stores come from pgtest's pool of
// migrated schemas.
func TestMain(m *testing.M) {
	testkit.ParallelByDefault(4)
	os.Exit(pgtest.Main(m))
}
