// Package stripemock starts stripe-mock, Stripe's own API mock, for tests. Its
// version is pinned by the tool line in go.mod; `go tool -n` builds it (once,
// then from the build cache) and names the binary.
//
// One stripe-mock serves a whole test binary: it keeps no state between
// requests, so the tests of a package share the process that the first of
// them started, and the package's TestMain stops it (Main does both).
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvURL, when set, names a running stripe-mock to use instead.
const EnvURL = "CREDITS_TEST_STRIPE_MOCK_URL"

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// shared is the stripe-mock of this test binary, started by the first Start.
var shared struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

// Start returns the base URL of the test binary's stripe-mock, started on the
// first call and stopped by Stop (Main calls it after the tests).
func Start(t testing.TB) string {
	t.Helper()
	if url := os.Getenv(EnvURL); url != "" {
		return url
	}
	shared.once.Do(func() { shared.url, shared.cmd, shared.err = start() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.url
}

// Stop ends the stripe-mock that Start began, if any.
func Stop() {
	if shared.cmd != nil {
		_ = shared.cmd.Process.Kill()
		_ = shared.cmd.Wait()
		shared.cmd = nil
	}
}

// Main runs the tests and stops stripe-mock after them: a package whose tests
// call Start has `func TestMain(m *testing.M) { os.Exit(stripemock.Main(m)) }`.
func Main(m *testing.M) int {
	defer Stop()
	return m.Run()
}

func start() (string, *exec.Cmd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		return "", nil, fmt.Errorf("build stripe-mock with `go tool -n stripe-mock`: %w", err)
	}
	bin := strings.TrimSpace(string(out))
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := listening.FindStringSubmatch(scanner.Text()); m != nil {
				found <- "http://" + m[1]
				break
			}
		}
		// Keep reading, or stripe-mock blocks on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url := <-found:
		return url, cmd, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", nil, errors.New("stripe-mock did not start listening within 30s")
	}
}
