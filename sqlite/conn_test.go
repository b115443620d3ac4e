package sqlite

import (
	"database/sql"
	"testing"
)

// TestAssign: the driver's values land in the destinations the store scans
// into as database/sql would put them, and what cannot be converted is an
// error, not a silent zero.
func TestAssign(t *testing.T) {
	var (
		s  string
		i  int64
		n  int
		b  bool
		bs []byte
		f  float64
		ni sql.NullInt64
	)
	buffer := []byte("abc")
	tests := []struct {
		name  string
		dest  any
		src   any
		check func() bool
	}{
		{"text", &s, "hello", func() bool { return s == "hello" }},
		{"bytes into text", &s, []byte("hi"), func() bool { return s == "hi" }},
		{"integer", &i, int64(42), func() bool { return i == 42 }},
		{"int", &n, int64(7), func() bool { return n == 7 }},
		{"boolean from 1", &b, int64(1), func() bool { return b }},
		{"bytes are copied", &bs, buffer, func() bool { buffer[0] = 'x'; return string(bs) == "abc" }},
		{"NULL bytes", &bs, nil, func() bool { return bs == nil }},
		{"float", &f, int64(3), func() bool { return f == 3 }},
		{"scanner", &ni, int64(5), func() bool { return ni.Valid && ni.Int64 == 5 }},
		{"NULL scanner", &ni, nil, func() bool { return !ni.Valid }},
	}
	for _, tt := range tests {
		if err := assign(tt.dest, tt.src); err != nil || !tt.check() {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
	for _, bad := range []struct {
		dest, src any
	}{{&s, nil}, {&i, "x"}, {&i, nil}, {&b, "yes"}, {new(struct{}), int64(1)}} {
		if err := assign(bad.dest, bad.src); err == nil {
			t.Errorf("%T into %T: no error", bad.src, bad.dest)
		}
	}
}

// TestWriterKeepsTemporaryFilesInMemory: the group-commit writer's
// sub-journal must not spill to a temporary file (a system call per page for
// the rest of the batch), and migrations must not sort in memory.
func TestWriterKeepsTemporaryFilesInMemory(t *testing.T) {
	db, err := Open(t.TempDir() + "/t.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migrations := openPool(db.migrateDSN)
	defer migrations.Close()
	for _, c := range []struct {
		name string
		pool *sql.DB
		want int
	}{{"writer", db.write, 2}, {"migrations", migrations, 0}} {
		var got int
		if err := c.pool.QueryRow("PRAGMA temp_store").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: got temp_store %d, want %d", c.name, got, c.want)
		}
	}
}

// TestWriterCheckpointsLessOften: the writer's WAL checkpoint interval is
// walCheckpointPages; reads keep SQLite's (they never write, so never
// checkpoint).
func TestWriterCheckpointsLessOften(t *testing.T) {
	db, err := Open(t.TempDir() + "/t.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got int
	if err := db.write.QueryRow("PRAGMA wal_autocheckpoint").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != walCheckpointPages {
		t.Errorf("writer: wal_autocheckpoint %d, want %d", got, walCheckpointPages)
	}
}
