package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/credits/credits/internal/stripemock"
)

var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

// TestMain removes the binary built for the tests and stops the one
// stripe-mock that they share.
func TestMain(m *testing.M) {
	code := stripemock.Main(m)
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// buildBinary builds the credits binary once for the tests that run it as a
// process of its own.
func buildBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "credits-bin-"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "credits")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = err
			t.Logf("go build: %s", out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("build the binary: %v", binaryErr)
	}
	return binaryPath
}
