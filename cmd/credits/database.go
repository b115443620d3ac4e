package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/credits/credits"
	"github.com/credits/credits/postgres"
)

// urlScheme matches a database URL's scheme ("mysql://…"); a SQLite file
// path has none.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// checkDatabaseURL refuses a URL of a database the service does not run on,
// by its scheme, rather than taking "mysql://host/db" for a SQLite file name.
func checkDatabaseURL(databaseURL string) error {
	m := urlScheme.FindStringSubmatch(databaseURL)
	if m == nil {
		return nil // a file path, or sqlite:path
	}
	switch strings.ToLower(m[1]) {
	case "postgres", "postgresql", "sqlite", "file":
		return nil
	}
	return fmt.Errorf("CREDITS_DATABASE_URL: the scheme %q is not supported: use a SQLite file path (./credits.db, sqlite:///var/lib/credits.db) or a postgres:// URL", m[1])
}

// databaseLocation names a database for an error: the file, or the
// PostgreSQL URL without its password or query (which may hold one).
func databaseLocation(databaseURL string) string {
	if !postgres.IsURL(databaseURL) {
		return sqlitePath(databaseURL)
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "postgres (its URL is not valid)"
	}
	location := u.Scheme + "://"
	if u.User != nil {
		location += u.User.Username() + "@"
	}
	return location + u.Host + u.Path
}

// databaseError says which PostgreSQL database could not be opened or read
// and why, for the operator: its host and the cause, never its password. A
// SQLite error names its file already.
func databaseError(databaseURL string, err error) error {
	if err == nil || !postgres.IsURL(databaseURL) {
		return err
	}
	cause := err
	if e := (*credits.Error)(nil); errors.As(err, &e) && e.Cause != nil {
		cause = e.Cause // the driver's words, not the store's "unavailable; try again"
	}
	why := redactPassword(databaseURL, oneLine(cause.Error()))
	return &credits.Error{Code: credits.EUNAVAILABLE, Cause: err,
		Message: fmt.Sprintf("cannot use the database %s: %s", databaseLocation(databaseURL), why)}
}

// redactPassword removes from text the database URL and any password it
// holds (in its user part or in its query), should a driver echo them.
func redactPassword(databaseURL, text string) string {
	text = strings.ReplaceAll(text, databaseURL, databaseLocation(databaseURL))
	u, err := url.Parse(databaseURL)
	if err != nil {
		return text
	}
	var passwords []string
	if p, ok := u.User.Password(); ok {
		passwords = append(passwords, p, url.QueryEscape(p))
	}
	if p := u.Query().Get("password"); p != "" {
		passwords = append(passwords, p, url.QueryEscape(p))
	}
	for _, p := range passwords {
		if p != "" {
			text = strings.ReplaceAll(text, p, "[password]")
		}
	}
	return text
}
