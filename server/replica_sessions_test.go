package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
	"github.com/credits/credits/sqlite"
)

// replicaSites are two services, each with its own store connection, on one
// database: what two replicas share is the database alone.
func replicaSites(t *testing.T, open func() credits.Store) (*site, *site) {
	var sites [2]*site
	now := time.Now().UTC()
	for i := range sites {
		svc := credits.NewService(open())
		s := &site{t: t, svc: svc, now: now}
		svc.Now = func() time.Time { return s.now }
		s.srv = &server.Server{Service: svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), SigningKey: []byte("test signing key")}
		ts := httptest.NewServer(s.srv.Handler())
		t.Cleanup(ts.Close)
		s.url, s.srv.PublicURL = ts.URL, ts.URL
		sites[i] = s
	}
	if _, err := sites[0].svc.CreateAccount(context.Background(), "alice", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	return sites[0], sites[1]
}

// TestRevokingAKeyEndsItsSessionsOnEveryReplica: revoking a key on one
// replica ends, on the other at once, the /admin session it signed in and the
// dashboard links and sessions it made; other keys' sessions stay.
func TestRevokingAKeyEndsItsSessionsOnEveryReplica(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) func() credits.Store{
		"sqlite": func(t *testing.T) func() credits.Store {
			_, path := testkit.OpenSQLite(t)
			return func() credits.Store {
				db, err := sqlite.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
		},
		"postgres": func(t *testing.T) func() credits.Store {
			u := pgtest.URL(t)
			return func() credits.Store { return pgtest.OpenURL(t, u) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := replicaSites(t, open(t))
			keyID, secret := a.newKey(credits.ScopeAdmin, "")
			operator := a.visitor()
			if p := operator.post("/admin/login", url.Values{"api_key": {secret}}); p.status != 200 {
				t.Fatalf("sign-in on replica A: %d", p.status)
			}
			other := a.visitor()
			other.post("/admin/login", url.Values{"api_key": {apiKey}})
			customer := a.visitor()
			if p := customer.open(a.linkWith(secret, "alice", "")); p.status != 200 {
				t.Fatalf("the key's link on replica A: %d", p.status)
			}
			unused := a.linkWith(secret, "alice", "")
			if p := b.visitor().get(strings.Replace(unused, a.url, b.url, 1)); p.status != 200 {
				t.Fatalf("the key's unused link on replica B: %d", p.status)
			}
			listed := other.get("/admin/sessions")
			if listed.count("#sessions tr.session") != 2 || !strings.Contains(listed.text("#sessions"), keyID) {
				t.Errorf("operator sessions listed: %d, %q", listed.count("#sessions tr.session"), listed.text("#sessions"))
			}

			if status, out := b.call(apiKey, "DELETE", "/v1/api_keys/"+keyID, ""); status != 200 {
				t.Fatalf("revoke on replica B: %d %s", status, out)
			}
			if p := operator.get("/admin/accounts"); !strings.HasSuffix(p.url, "/admin/login") {
				t.Errorf("the revoked key's /admin session on replica A opened %s", p.url)
			}
			if p := customer.get("/dashboard/credits"); p.status != http.StatusForbidden {
				t.Errorf("the revoked key's dashboard session on replica A: %d, want 403", p.status)
			}
			if p := a.visitor().get(unused); p.status != http.StatusForbidden || !strings.Contains(p.text("#message"), "revoked") {
				t.Errorf("the revoked key's link on replica A: %d %q, want 403 saying revoked", p.status, p.text("#message"))
			}
			if p := other.get("/admin/accounts"); p.status != 200 || strings.HasSuffix(p.url, "/admin/login") {
				t.Errorf("another key's session after the revocation: %d at %s", p.status, p.url)
			}
		})
	}
}

// TestOperatorSessionsRevokedFromThePage: an operator revokes another
// operator's session from /admin/sessions; it ends at once.
func TestOperatorSessionsRevokedFromThePage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	first, second := s.visitor(), s.visitor()
	first.post("/admin/login", url.Values{"api_key": {apiKey}})
	second.post("/admin/login", url.Values{"api_key": {apiKey}})
	sessions, err := s.svc.OperatorSessions(context.Background())
	if err != nil || len(sessions) != 2 {
		t.Fatalf("operator sessions: %d (%v), want 2", len(sessions), err)
	}
	page := first.get("/admin/sessions")
	own := page.doc.Find(`#sessions tr.session:has(.pill)`).AttrOr("data-session", "")
	var target string
	for _, ws := range sessions {
		if ws.ID != own {
			target = ws.ID
		}
	}
	if own == "" || target == "" {
		t.Fatalf("own session %q, the other %q", own, target)
	}
	done := first.submit(page, `#sessions tr.session[data-session="`+target+`"] form.revoke`, nil)
	if !strings.Contains(done.text("#notice"), "revoked") || done.count("#sessions tr.session") != 1 {
		t.Errorf("after revoking: notice %q, %d sessions listed", done.text("#notice"), done.count("#sessions tr.session"))
	}
	if p := second.get("/admin/accounts"); !strings.HasSuffix(p.url, "/admin/login") {
		t.Errorf("the revoked operator session opened %s", p.url)
	}
}
