// Package stripemock starts stripe-mock, Stripe's own API mock, for tests. Its
// version is pinned by the tool line in go.mod; `go tool -n` builds it (once,
// then from the build cache) and names the binary.
package stripemock

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// EnvURL, when set, names a running stripe-mock to use instead.
const EnvURL = "CREDITS_TEST_STRIPE_MOCK_URL"

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start returns the base URL of a stripe-mock that lives as long as the test.
func Start(t testing.TB) string {
	t.Helper()
	if url := os.Getenv(EnvURL); url != "" {
		return url
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		t.Fatalf("build stripe-mock with `go tool -n stripe-mock`: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := listening.FindStringSubmatch(scanner.Text()); m != nil {
				found <- "http://" + m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not start listening within 30s")
		return ""
	}
}
