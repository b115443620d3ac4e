package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/credits/credits/sqlite"
)

// litestreamExample is the example configuration that docs/operations.md
// points to.
const litestreamExample = "../../docs/litestream.yml"

type litestreamConfig struct {
	DBs []map[string]any `yaml:"dbs"`
}

// The keys Litestream v0.3 reads (cmd/litestream/main.go's DBConfig and
// ReplicaConfig): it ignores any other, so a misspelt one would be lost
// silently.
var (
	litestreamDBKeys      = []string{"path", "meta-path", "monitor-interval", "checkpoint-interval", "min-checkpoint-page-count", "max-checkpoint-page-count", "replicas"}
	litestreamReplicaKeys = []string{"type", "name", "path", "url", "retention", "retention-check-interval", "snapshot-interval", "validation-interval",
		"sync-interval", "access-key-id", "secret-access-key", "region", "bucket", "endpoint", "force-path-style", "skip-verify"}
)

func readLitestreamExample(t *testing.T) (map[string]any, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(litestreamExample)
	if err != nil {
		t.Fatal(err)
	}
	var config litestreamConfig
	if err := yaml.Unmarshal(raw, &config); err != nil {
		t.Fatalf("%s: %v", litestreamExample, err)
	}
	if len(config.DBs) != 1 {
		t.Fatalf("%s names %d databases, want 1", litestreamExample, len(config.DBs))
	}
	replicas, _ := config.DBs[0]["replicas"].([]any)
	if len(replicas) != 1 {
		t.Fatalf("%s has %d replicas, want 1", litestreamExample, len(replicas))
	}
	replica, _ := replicas[0].(map[string]any)
	return config.DBs[0], replica
}

// TestLitestreamExample: the example names the database that
// docs/operations.md runs the service on, uses only keys Litestream reads,
// checkpoints before the service's own autocheckpoint, and keeps a snapshot
// within its retention.
func TestLitestreamExample(t *testing.T) {
	t.Parallel()
	db, replica := readLitestreamExample(t)
	operations, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	path, _ := db["path"].(string)
	if want := "CREDITS_DATABASE_URL=" + path; path == "" || !strings.Contains(string(operations), want) {
		t.Errorf("the example replicates %q, but docs/operations.md does not run the service with %s", path, want)
	}
	for key := range db {
		if !slices.Contains(litestreamDBKeys, key) {
			t.Errorf("database key %q is not one Litestream reads", key)
		}
	}
	for key := range replica {
		if !slices.Contains(litestreamReplicaKeys, key) {
			t.Errorf("replica key %q is not one Litestream reads", key)
		}
	}
	if pages, _ := db["min-checkpoint-page-count"].(int); pages <= 0 || pages >= sqlite.WALAutocheckpointPages {
		t.Errorf("min-checkpoint-page-count %v: want Litestream to checkpoint before the service's autocheckpoint (%d pages)", db["min-checkpoint-page-count"], sqlite.WALAutocheckpointPages)
	}
	if _, ok := db["max-checkpoint-page-count"]; ok {
		t.Error("max-checkpoint-page-count forces RESTART checkpoints, which later Litestream removed as unsafe: leave it out")
	}
	durations := map[string]time.Duration{}
	for _, key := range []string{"sync-interval", "snapshot-interval", "retention", "validation-interval"} {
		d, err := time.ParseDuration(fmt.Sprint(replica[key]))
		if err != nil {
			t.Errorf("replica %s = %v: %v", key, replica[key], err)
		}
		durations[key] = d
	}
	if durations["sync-interval"] > 10*time.Second || durations["retention"] < durations["snapshot-interval"] {
		t.Errorf("sync-interval %s (want at most 10s of writes at risk), retention %s (want at least one snapshot-interval, %s)",
			durations["sync-interval"], durations["retention"], durations["snapshot-interval"])
	}
}

// litestreamBinary is Litestream's binary: $CREDITS_TEST_LITESTREAM, or
// litestream on the PATH.
func litestreamBinary(t *testing.T) string {
	if path := os.Getenv("CREDITS_TEST_LITESTREAM"); path != "" {
		return path
	}
	path, err := exec.LookPath("litestream")
	if err != nil && os.Getenv("CI") != "" {
		t.Fatal("CI needs Litestream: set CREDITS_TEST_LITESTREAM to its binary (.ci/run installs it)")
	}
	if err != nil {
		t.Skip("litestream is not installed (set CREDITS_TEST_LITESTREAM to its binary)")
	}
	return path
}

// TestLitestreamReplicatesARunningService: the example's settings, with a
// file replica in place of S3 (no network here), replicate a service taking
// debits; what Litestream restores verifies clean and holds every debit
// answered.
func TestLitestreamReplicatesARunningService(t *testing.T) {
	t.Parallel()
	litestream := litestreamBinary(t)
	dir := t.TempDir()
	live := filepath.Join(dir, "credits.db")
	m, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": live, "CREDITS_API_KEY": testAPIKey})
	defer m.Close()
	c := client{t, base}
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "ls-1", "email": "ls@example.com"})
	c.must(201, "POST", "/v1/accounts/ls-1/grants", map[string]any{"amount": 1_000_000, "reason": "load"})

	db, replica := readLitestreamExample(t)
	db["path"] = live
	fileReplica := map[string]any{"type": "file", "path": filepath.Join(dir, "replica")}
	for key, value := range replica {
		if strings.HasSuffix(key, "interval") || key == "retention" || key == "name" {
			fileReplica[key] = value
		}
	}
	db["replicas"] = []any{fileReplica}
	configPath := filepath.Join(dir, "litestream.yml")
	raw, err := yaml.Marshal(litestreamConfig{DBs: []map[string]any{db}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	replicate := exec.Command(litestream, "replicate", "-config", configPath)
	var logs strings.Builder
	replicate.Stdout, replicate.Stderr = &logs, &logs
	if err := replicate.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = replicate.Process.Signal(syscall.SIGTERM)
		_ = replicate.Wait()
		if t.Failed() {
			t.Logf("litestream:\n%s", logs.String())
		}
	}()

	debits := startDebits(base, "ls-1")
	waitFor(t, 20*time.Second, "200 debits", func() bool { return len(debits.answeredSoFar()) >= 200 })
	answered, failures := debits.end()
	if len(failures) > 0 {
		t.Errorf("debits failed while Litestream replicated: %v", failures[:min(len(failures), 5)])
	}
	var restored string
	attempt := 0
	waitFor(t, 30*time.Second, "a restore holding every debit answered", func() bool {
		attempt++
		restored = filepath.Join(dir, fmt.Sprintf("restored-%d.db", attempt))
		out, err := exec.CommandContext(context.Background(), litestream, "restore", "-config", configPath, "-o", restored, live).CombinedOutput()
		if err != nil {
			t.Logf("litestream restore: %v: %s", err, regexp.MustCompile(`\s+`).ReplaceAllString(string(out), " "))
			return false
		}
		got := debitDescriptions(t, restored)
		for _, description := range answered {
			if !got[description] {
				return false
			}
		}
		return true
	})
	if r := runCLI(t, restored, "verify"); r.code != 0 {
		t.Errorf("verify of Litestream's restore: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}
