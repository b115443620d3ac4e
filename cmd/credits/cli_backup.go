package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/progress"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/sqlite"
)

// postgresBackups is what backup and restore say about PostgreSQL, whose
// own tools do it better than a copy of a file could.
const postgresBackups = "PostgreSQL is backed up with its own tools: pg_dump --format=custom for a copy (pg_restore puts it back), " +
	"pg_basebackup with WAL archiving for point-in-time recovery; see docs/operations.md"

// backup runs `credits backup --to FILE`: a consistent copy of the SQLite
// database, taken while the service runs and writes (sqlite.Backup).
func (c *CLI) backup(ctx context.Context, args []string) error {
	cmd := c.newCommand("backup", true)
	to := cmd.fs.String("to", "", "the new file to write the copy to (required; never overwritten)")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	if *to == "" {
		return usageError{"backup needs --to FILE"}
	}
	if postgres.IsURL(cmd.cfg.DatabaseURL) {
		return credits.Errorf(credits.EINVALID, "credits backup copies a SQLite database. %s", postgresBackups)
	}
	report := c.newProgress("backup", "", true)
	info, err := sqlite.Backup(ctx, sqlitePath(cmd.cfg.DatabaseURL), *to, report.Update)
	report.Finish()
	if err != nil {
		return err
	}
	return c.print(cmd, backupView(info), "", func(w io.Writer) {
		fmt.Fprintf(w, "backed up %s to %s: %s, schema version %d, %d accounts, %d entries; it reads back whole\n",
			sqlitePath(cmd.cfg.DatabaseURL), info.Path, progress.FormatBytes(info.Bytes), info.SchemaVersion, info.Accounts, info.Entries)
	})
}

// restore runs `credits restore --from FILE`: the backup put in place of the
// database that --database-url names, which must not be in use.
func (c *CLI) restore(ctx context.Context, args []string) error {
	cmd := c.newCommand("restore", true)
	from := cmd.fs.String("from", "", "the backup to restore (a file credits backup wrote; required)")
	if _, err := cmd.parse(args, 0); err != nil {
		return err
	}
	if *from == "" {
		return usageError{"restore needs --from FILE"}
	}
	if postgres.IsURL(cmd.cfg.DatabaseURL) {
		return credits.Errorf(credits.EINVALID, "credits restore writes a SQLite database. %s", postgresBackups)
	}
	path := sqlitePath(cmd.cfg.DatabaseURL)
	report := c.newProgress("restore", "", true)
	info, replaced, err := sqlite.Restore(ctx, *from, path, time.Now(), report.Update)
	report.Finish()
	if errors.Is(err, sqlite.ErrInUse) {
		return credits.Errorf(credits.ECONFLICT, "%s", err.Error())
	}
	if err != nil {
		return err
	}
	view := map[string]any{"restored": backupView(info), "database": path, "replaced": replaced}
	return c.print(cmd, view, "", func(w io.Writer) {
		fmt.Fprintf(w, "restored %s (schema version %d, %d accounts, %d entries) to %s\n", *from, info.SchemaVersion, info.Accounts, info.Entries, path)
		if replaced != "" {
			fmt.Fprintf(w, "the database it replaced is kept as %s\n", replaced)
		}
		fmt.Fprintf(w, "next: credits verify, then start the service (it migrates the schema if the backup is older)\n")
	})
}

func backupView(info sqlite.BackupInfo) map[string]any {
	return map[string]any{"path": info.Path, "bytes": info.Bytes, "schema_version": info.SchemaVersion,
		"accounts": info.Accounts, "entries": info.Entries}
}
