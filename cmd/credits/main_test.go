package main

import (
	"os"
	"testing"

	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
)

// runAsCredits, in the environment of a process started from this test
// binary, makes it the credits command rather than the tests: the tests
// that need `credits serve` as a process of its own run the binary they are
// in (built with the same flags, -race included) instead of building
// another one.
const runAsCredits = "CREDITS_TEST_RUN_AS_CREDITS"

// TestMain runs the credits command when started as it (runAsCredits), and
// otherwise the tests, with the one stripe-mock that they share, three per
// CPU at once: most of their time they wait for processes of their own
// (credits serve, Chromium, Litestream, pgbench) to start and answer: alone,
// two at once left 43 of 126 core-seconds idle (63 s); six at once, 10 (54 s).
func TestMain(m *testing.M) {
	if os.Getenv(runAsCredits) == "1" {
		main()
		return
	}
	testkit.ParallelByDefault(3)
	os.Exit(stripemock.Main(m))
}

// buildBinary returns the path of a binary that runs as `credits`, for the
// tests that run it as a process of its own: this test binary, which
// childEnv's environment makes the command.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatalf("the test binary: %v", err)
	}
	return bin
}

// childEnv is the environment of a process started from buildBinary's
// binary: this process's, runAsCredits, then env.
func childEnv(env ...string) []string {
	return append(append(os.Environ(), runAsCredits+"=1"), env...)
}
