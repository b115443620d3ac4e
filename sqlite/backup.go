package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backups of a running database.
//
// Backup copies with VACUUM INTO on a read-only connection of its own: one
// read transaction, so the copy is one consistent snapshot, and thanks to WAL
// the service's writer goes on committing meanwhile (a checkpoint only stops
// short of the pages the copy still reads). The online backup API was the
// other way: modernc.org/sqlite has it only on its own connection type, not
// through database/sql, and a stepwise copy starts over whenever another
// process writes, so under a steady stream of debits it may never end unless
// done in one step, which is then what VACUUM INTO does anyway. VACUUM INTO
// also writes a compact file with no -wal beside it, which is what a backup
// should be.

// BackupInfo describes a database file that a backup wrote or a restore read.
type BackupInfo struct {
	Path          string
	Bytes         int64
	SchemaVersion int64
	Accounts      int64
	Entries       int64
}

// backupProgressEvery is how often Backup reports how much it has written.
const backupProgressEvery = 200 * time.Millisecond

// Backup writes a consistent copy of the database at path to the new file
// to, while the database may be in use, and checks the copy. progress, when
// not nil, is told the bytes written so far and about how many there will
// be (the source's size), from time to time.
func Backup(ctx context.Context, path, to string, progress func(done, total int64)) (BackupInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup %s: %w", path, err)
	}
	if _, err := os.Lstat(to); err == nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %s exists already: name a new file", to)
	}
	if err := vacuumInto(ctx, path, to, progress); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup %s to %s: %w", path, to, err)
	}
	info, err := Inspect(ctx, to)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: the backup %s does not read back: %w", to, err)
	}
	if progress != nil {
		progress(info.Bytes, info.Bytes)
	}
	return info, nil
}

// vacuumInto writes a consistent copy of the database at from to the new
// file to, in one read transaction of a read-only connection of its own
// (see Backup), reporting the bytes written to progress.
func vacuumInto(ctx context.Context, from, to string, progress func(done, total int64)) error {
	src, err := sql.Open("sqlite", readOnlyDSN(from))
	if err != nil {
		return err
	}
	defer src.Close()
	total, err := databaseBytes(ctx, src)
	if err != nil {
		return err
	}
	// Written beside the destination and renamed once whole and synced: a
	// copy that stopped half way is never taken for one.
	tmp := to + ".partial"
	os.Remove(tmp)
	stop := watchSize(tmp, total, progress)
	_, err = src.ExecContext(ctx, "VACUUM INTO ?", tmp)
	stop()
	if err == nil {
		err = syncAndRename(tmp, to)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readOnlyDSN opens path for reading only, waiting for the writer's locks.
func readOnlyDSN(path string) string {
	query := url.Values{}
	query.Set("mode", "ro")
	query.Add("_pragma", "busy_timeout(10000)")
	return "file:" + path + "?" + query.Encode()
}

func databaseBytes(ctx context.Context, db *sql.DB) (int64, error) {
	var pages, pageSize int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, err
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, err
	}
	return pages * pageSize, nil
}

// watchSize reports the size of the file being written until stop is called.
func watchSize(path string, total int64, progress func(done, total int64)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(backupProgressEvery)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if st, err := os.Stat(path); err == nil {
					progress(min(st.Size(), total), total)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// syncAndRename makes the file at tmp durable and moves it to path.
func syncAndRename(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err // some systems cannot sync a directory; the rename stands
	}
	return nil
}

// Inspect checks that the file at path is a whole credits database (SQLite's
// quick_check, the migrations' table, the ledger's tables) and describes it.
func Inspect(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return BackupInfo{}, err
	}
	defer db.Close()
	info := BackupInfo{Path: path, Bytes: st.Size()}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return info, fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	if check != "ok" {
		return info, fmt.Errorf("%s is damaged: %s", path, check)
	}
	err = db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&info.SchemaVersion)
	if err == nil {
		err = db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM entries)").Scan(&info.Accounts, &info.Entries)
	}
	if err != nil {
		return info, fmt.Errorf("%s is not a credits database (%v)", path, err)
	}
	return info, nil
}

// LatestSchemaVersion is the version of the newest migration this binary has.
func LatestSchemaVersion() int64 {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	var latest int64
	for _, e := range entries {
		digits, _, _ := strings.Cut(e.Name(), "_")
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil && n > latest {
			latest = n
		}
	}
	return latest
}

// ErrInUse is what Restore answers when the database it would replace is
// open in another connection (a running service, or a command).
var ErrInUse = errors.New("the database is in use")

// Restore puts a copy of the backup at from in place of the database at
// path, which must not be in use; the database it replaces, if any, is kept
// beside it (its name is returned). A backup that is not a credits database,
// or is of a newer schema than this binary's, is refused.
func Restore(ctx context.Context, from, path string, now time.Time, progress func(done, total int64)) (info BackupInfo, replaced string, err error) {
	info, err = Inspect(ctx, from)
	if err != nil {
		return info, "", fmt.Errorf("sqlite: restore from %s: %w", from, err)
	}
	if latest := LatestSchemaVersion(); info.SchemaVersion > latest {
		return info, "", fmt.Errorf("sqlite: restore from %s: its schema (version %d) is newer than this binary's (%d): restore with the credits that made it", from, info.SchemaVersion, latest)
	}
	// A copy made by SQLite, not of the bytes: a --from that has a -wal
	// beside it (a database, not a backup) comes whole.
	tmp := path + ".restoring"
	os.Remove(tmp)
	if err := vacuumInto(ctx, from, tmp, progress); err != nil {
		os.Remove(tmp)
		return info, "", fmt.Errorf("sqlite: restore from %s: %w", from, err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil && !exists(path) {
		// The WAL of a database that is gone: SQLite would apply it to the
		// restored one. Whoever deleted the database decides about it.
		os.Remove(tmp)
		return info, "", fmt.Errorf("sqlite: restore to %s: %s-wal is there without its database: remove it (and %s-shm) if nothing uses it", path, path, path)
	}
	if exists(path) {
		if err := closeForReplace(ctx, path); err != nil {
			os.Remove(tmp)
			return info, "", err
		}
		replaced = path + ".replaced-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(path, replaced); err != nil {
			os.Remove(tmp)
			return info, "", fmt.Errorf("sqlite: restore: keep %s aside: %w", path, err)
		}
	}
	if err := syncAndRename(tmp, path); err != nil {
		return info, replaced, fmt.Errorf("sqlite: restore to %s: %w", path, err)
	}
	return info, replaced, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// closeForReplace makes sure that no connection has the database at path
// open, and leaves it whole in its one file. A connection that has read a
// database in WAL mode holds a shared lock on it for as long as it is open,
// and SQLite leaves WAL mode only with no other connection: so switching it
// to a rollback journal (which also checkpoints the WAL into the file and
// removes it) fails at once, busy, while a service or a command has it open.
// The -shm file left behind then belongs to nobody and goes too: a -wal or
// -shm of the replaced database must never meet the restored one.
func closeForReplace(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		return fmt.Errorf("sqlite: restore: open %s: %w", path, err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil || mode != "delete" {
		return fmt.Errorf("sqlite: restore to %s: %w: stop the service (and any command using it) first (%v)", path, ErrInUse, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("sqlite: restore: close %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: restore: remove %s: %w", path+suffix, err)
		}
	}
	return nil
}

// WALAutocheckpointPages is the WAL size, in pages, at which the service's
// writer checkpoints (see Open). A replicator that checkpoints the WAL itself,
// as Litestream does, should do so at fewer pages.
const WALAutocheckpointPages = walCheckpointPages
