package server_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/credits/credits"
)

// tokenSecret is the secret a signed token carries (its second part).
func tokenSecret(t *testing.T, token string) string {
	t.Helper()
	if _, after, ok := strings.Cut(token, "token="); ok {
		token = after
	}
	parts := strings.Split(token, ".")
	if len(parts) != 5 {
		t.Fatalf("not a token: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyDatabase copies the SQLite file, as one who can read it would, and
// returns every value of every table as text, by table.
func copyDatabase(t *testing.T, path string) map[string][]string {
	t.Helper()
	src, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if _, err := src.Exec(`VACUUM INTO ?`, copyPath); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		_ = rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	values := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		columns, _ := rows.Columns()
		for rows.Next() {
			row := make([]any, len(columns))
			ptrs := make([]any, len(columns))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range row {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				values[table] = append(values[table], fmt.Sprint(v))
			}
		}
		rows.Close()
	}
	return values
}

// TestCopiedDatabaseForgesNothing: a copy of the database holds no link,
// cookie or endpoint secret; even with the signing secret, its session rows
// sign no cookie and no link that opens anything.
func TestCopiedDatabaseForgesNothing(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	box, err := credits.NewSecretBox(s.srv.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	s.svc.Secrets = box
	ep, err := s.svc.CreateWebhookEndpoint(ctx, "https://app.example.com/hook", []string{"*"}, "")
	if err != nil {
		t.Fatal(err)
	}
	operator := s.visitor()
	operator.post("/admin/login", url.Values{"api_key": {apiKey}})
	customer, _ := s.signIn("alice")
	unused := s.link("alice")
	base, _ := url.Parse(s.url)
	secrets := map[string]string{"endpoint secret": ep.Secret, "unused link": tokenSecret(t, unused)}
	for _, c := range append(operator.client.Jar.Cookies(base), customer.client.Jar.Cookies(base)...) {
		secrets["cookie "+c.Name] = tokenSecret(t, c.Value)
	}

	values := copyDatabase(t, s.dbPath)
	if len(values["web_sessions"]) == 0 || len(values["webhook_endpoints"]) == 0 {
		t.Fatalf("the copy holds no sessions or endpoints: %v", values)
	}
	for table, vs := range values {
		for _, v := range vs {
			for name, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("table %s holds the %s", table, name)
				}
			}
		}
	}
	// An attacker with the copy (and, in development, the signing secret it
	// keeps) signs each stored value as a cookie and as a link.
	tried := 0
	for _, v := range values["web_sessions"] {
		if len(v) != 64 {
			continue // the ids: hashes
		}
		tried++
		expires := s.now.Add(time.Hour)
		admin := s.visitor()
		admin.client.Jar.SetCookies(base, []*http.Cookie{{Name: "credits_admin", Value: s.srv.SignToken("admin", v, expires), Path: "/"}})
		if p := admin.get("/admin/accounts"); !strings.HasSuffix(p.url, "/admin/login") {
			t.Errorf("a cookie forged from a stored id opened %s", p.url)
		}
		dashboard := s.visitor()
		dashboard.client.Jar.SetCookies(base, []*http.Cookie{{Name: "credits_dashboard", Value: s.srv.SignToken("session", v, expires), Path: "/"}})
		if p := dashboard.get("/dashboard/credits"); p.status != http.StatusForbidden {
			t.Errorf("a dashboard cookie forged from a stored id: %d, want 403", p.status)
		}
		if p := s.visitor().get("/dashboard/login?token=" + s.srv.SignToken("link", v, expires)); p.status != http.StatusForbidden {
			t.Errorf("a link forged from a stored id: %d, want 403", p.status)
		}
	}
	if tried != 4 {
		t.Errorf("forged from %d stored ids, want the 4 rows (operator session, used link, its session, unused link)", tried)
	}
}
