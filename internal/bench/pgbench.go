package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pgbench is PostgreSQL's own benchmark, run against the bench's database in
// the same run: its TPC-B-like transaction (three updates, a select and an
// insert, each committed) at -M prepared -c 8 -j 2 is what a PostgreSQL
// debit is compared with. Its tables (pgbench_*, scale 10) are made at the
// start and dropped at the end.
type pgbench struct {
	path     string   // the pgbench binary
	args     []string // the connection: one libpq URI
	env      []string // PGPASSWORD when the URL has a password: never on the command line
	duration time.Duration
}

// pgbenchClients is pgbench's -c: the comparison is at 8 clients.
const pgbenchClients = 8

// newPgbench finds pgbench on PATH (Debian's postgresql-client has it) and
// turns the database URL into a libpq URI; a reason says why it cannot run.
func newPgbench(databaseURL string, duration time.Duration) (*pgbench, string) {
	path, err := exec.LookPath("pgbench")
	if err != nil {
		return nil, "pgbench is not on PATH (Debian: postgresql-client)"
	}
	uri, password, err := libpqURI(databaseURL)
	if err != nil {
		return nil, err.Error()
	}
	p := &pgbench{path: path, args: []string{uri}, duration: duration}
	if password != "" {
		p.env = append(os.Environ(), "PGPASSWORD="+password)
	}
	return p, ""
}

// libpqKeywords are the URI parameters libpq itself knows; pgx passes any
// other one to the server as a run-time setting (search_path, say), which
// libpq takes as -c in options.
var libpqKeywords = map[string]bool{"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "passfile": true,
	"channel_binding": true, "connect_timeout": true, "client_encoding": true, "options": true, "application_name": true,
	"fallback_application_name": true, "keepalives": true, "keepalives_idle": true, "keepalives_interval": true,
	"keepalives_count": true, "tcp_user_timeout": true, "sslmode": true, "sslcompression": true, "sslcert": true, "sslkey": true,
	"sslpassword": true, "sslrootcert": true, "sslcrl": true, "sslcrldir": true, "sslsni": true, "requirepeer": true,
	"ssl_min_protocol_version": true, "ssl_max_protocol_version": true, "gssencmode": true, "krbsrvname": true,
	"gsslib": true, "service": true, "target_session_attrs": true, "load_balance_hosts": true}

// pgxOnly are the parameters pgx reads for itself (its pool and statement
// cache): neither libpq nor the server knows them.
var pgxOnly = []string{"pool_", "statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode", "min_read_buffer_size"}

// libpqURI returns the URL as libpq reads it, without its password (which
// is returned apart, for PGPASSWORD).
func libpqURI(databaseURL string) (uri, password string, err error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", "", fmt.Errorf("the database URL does not parse")
	}
	if u.User != nil {
		password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	var options []string
	if o := q.Get("options"); o != "" {
		options = append(options, o)
	}
	for name, values := range q {
		if libpqKeywords[name] {
			continue
		}
		q.Del(name)
		if slices.ContainsFunc(pgxOnly, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		for _, v := range values {
			options = append(options, "-c "+name+"="+strings.ReplaceAll(v, " ", `\ `))
		}
	}
	if len(options) > 0 {
		q.Set("options", strings.Join(options, " "))
	}
	// libpq decodes %XX but not + (Encode's space; a + itself is %2B).
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), password, nil
}

// run runs pgbench with the arguments given before the connection, and
// returns its output; a failure's message is pgbench's own (libpq prints
// no password, and none is on its command line).
func (p *pgbench) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.path, append(args, p.args...)...)
	cmd.Env = p.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pgbench %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(lastLines(out.String(), 3)))
	}
	return out.String(), nil
}

// init makes pgbench's tables at scale 10 (a million accounts), dropping
// any it made before.
func (p *pgbench) init(ctx context.Context) error {
	_, err := p.run(ctx, "-i", "-s", "10", "-q")
	return err
}

// drop removes pgbench's tables.
func (p *pgbench) drop(ctx context.Context) error {
	_, err := p.run(ctx, "-i", "-I", "d")
	return err
}

var (
	pgbenchTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	pgbenchProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	pgbenchFailed    = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
	pgbenchLatency   = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// measure runs the TPC-B-like script for the phase's duration (whole
// seconds, at least one) and reads its figures: transactions a second,
// and the average latency (pgbench prints no percentiles without a log).
func (p *pgbench) measure(ctx context.Context, name string) (phaseResult, error) {
	seconds := max(1, int(math.Round(p.duration.Seconds())))
	out, err := p.run(ctx, "-M", "prepared", "-c", strconv.Itoa(pgbenchClients), "-j", "2", "-T", strconv.Itoa(seconds))
	if err != nil {
		return phaseResult{}, err
	}
	tps := pgbenchTPS.FindStringSubmatch(out)
	processed := pgbenchProcessed.FindStringSubmatch(out)
	if tps == nil || processed == nil {
		return phaseResult{}, fmt.Errorf("pgbench: no tps in its output: %s", strings.TrimSpace(lastLines(out, 3)))
	}
	r := phaseResult{Name: name, External: true}
	r.PerSecond, _ = strconv.ParseFloat(tps[1], 64)
	r.Requests, _ = strconv.Atoi(processed[1])
	if m := pgbenchFailed.FindStringSubmatch(out); m != nil {
		r.Errors, _ = strconv.Atoi(m[1])
	}
	if m := pgbenchLatency.FindStringSubmatch(out); m != nil {
		r.AverageMS, _ = strconv.ParseFloat(m[1], 64)
	}
	return r, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
