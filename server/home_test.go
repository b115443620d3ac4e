package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/credits/credits"
	"github.com/credits/credits/demo"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
)

// homeServer is a server with the demo's account and packs, as a
// development server with the offline demo has; production and welcome say
// how / is configured.
func homeServer(t *testing.T, production, welcome bool) (*server.Server, *credits.Service) {
	t.Helper()
	db, _ := testkit.OpenSQLite(t)
	svc := credits.NewService(db)
	if _, err := demo.Seed(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Service: svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), SigningKey: []byte("test signing key"),
		PublicURL: "http://localhost:8080", Production: production}
	if welcome {
		srv.Welcome = &server.Welcome{APIKey: apiKey, DemoAccountID: demo.AccountID}
	}
	return srv, svc
}

func getHome(t *testing.T, h http.Handler, remote string, header map[string]string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = remote
	req.Host = "localhost:8080" // the servers' public URL, as a browser on this machine names it
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

// TestHomeRevealsNothingOutsideDevelopment: in production (or without the
// development welcome) / says the service is up and nothing else.
func TestHomeRevealsNothingOutsideDevelopment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		production, welcome bool
	}{
		{"production", true, true},
		{"no welcome", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := homeServer(t, tc.production, tc.welcome)
			status, contentType, body := getHome(t, srv.Handler(), "127.0.0.1:4000", nil)
			if status != 200 || body != "ok\n" || !strings.HasPrefix(contentType, "text/plain") {
				t.Errorf("GET / = %d %q %q, want 200 text/plain \"ok\\n\"", status, contentType, body)
			}
		})
	}
}

var debitAmount = regexp.MustCompile(`/v1/accounts/demo/debits \\\n  -d '\{"amount":(\d+),`)

// TestHomeGuidesInDevelopment: / links what a newcomer needs, shows the key
// to this machine only, and gives a debit that takes the demo account below
// its auto-recharge threshold, whatever the account holds.
func TestHomeGuidesInDevelopment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		funded     int64
		wantAmount int64
		wantBuy    bool
	}{
		{"fresh demo: buy first", 0, 51, true},
		{"after a purchase", 100, 51, false},
		{"below the threshold already", 30, 81, true},
		{"well above", 1000, 951, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, svc := homeServer(t, false, true)
			if tc.funded > 0 {
				if _, _, err := svc.Grant(context.Background(), demo.AccountID, credits.GrantRequest{Amount: tc.funded, Reason: "test"}, nil); err != nil {
					t.Fatal(err)
				}
			}
			status, _, body := getHome(t, srv.Handler(), "127.0.0.1:4000", nil)
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
			if status != 200 || err != nil {
				t.Fatalf("GET / = %d (%v)", status, err)
			}
			for sel, want := range map[string]string{"#admin-link": "/admin/login", "#api-link": "/v1/openapi.json", "#health-link": "/healthz"} {
				if got := doc.Find(sel).AttrOr("href", ""); got != want {
					t.Errorf("%s links to %q, want %q", sel, got, want)
				}
			}
			if got := doc.Find("#demo-link").AttrOr("href", ""); !strings.HasPrefix(got, "http://localhost:8080/dashboard/login?token=") {
				t.Errorf("demo link %q", got)
			}
			if got := doc.Find("#api-key").Text(); got != apiKey {
				t.Errorf("key shown %q, want %q", got, apiKey)
			}
			commands := doc.Find("#commands").Text()
			match := debitAmount.FindStringSubmatch(commands)
			if match == nil || !strings.Contains(commands, "KEY="+apiKey) {
				t.Fatalf("no debit of the demo account in:\n%s", commands)
			}
			amount, _ := strconv.ParseInt(match[1], 10, 64)
			if amount != tc.wantAmount || strings.Contains(commands, "Purchase 1 × Starter") != tc.wantBuy {
				t.Errorf("debit of %d (purchase first: %t), want %d (%t):\n%s", amount, !tc.wantBuy, tc.wantAmount, tc.wantBuy, commands)
			}
			for _, id := range []string{`"id":"starter"`, `"id":"demo"`} {
				if strings.Contains(commands, id) {
					t.Errorf("the commands create %s, which the demo takes", id)
				}
			}
		})
	}
}

// TestHomeHidesTheKeyFromOtherMachines: a request from another address, or
// forwarded by a proxy on this machine, sees the links but not the key nor a
// link that signs into the demo account.
func TestHomeHidesTheKeyFromOtherMachines(t *testing.T) {
	t.Parallel()
	srv, _ := homeServer(t, false, true)
	h := srv.Handler()
	for _, tc := range []struct {
		name   string
		remote string
		header map[string]string
	}{
		{"another machine", "192.0.2.7:4000", nil},
		{"a tunnel on this machine", "127.0.0.1:4000", map[string]string{"X-Forwarded-For": "192.0.2.7"}},
		{"a proxy on this machine", "[::1]:4000", map[string]string{"Forwarded": "for=192.0.2.7"}},
	} {
		status, _, body := getHome(t, h, tc.remote, tc.header)
		if status != 200 || strings.Contains(body, apiKey) || strings.Contains(body, "token=") || !strings.Contains(body, `id="key-elsewhere"`) {
			t.Errorf("%s: %d, key or link shown:\n%s", tc.name, status, body)
		}
	}
}

// TestHomeWithoutTheDemoAccount: a database with accounts of its own has no
// demo account: the page offers no link to it and no commands for it.
func TestHomeWithoutTheDemoAccount(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	svc := credits.NewService(db)
	if _, err := svc.CreateAccount(context.Background(), "someone", "someone@example.com"); err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Service: svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), SigningKey: []byte("test signing key"),
		PublicURL: "http://localhost:8080", Welcome: &server.Welcome{APIKey: apiKey, DemoAccountID: demo.AccountID}}
	status, _, body := getHome(t, srv.Handler(), "127.0.0.1:4000", nil)
	if status != 200 || strings.Contains(body, "demo-link") || strings.Contains(body, "/v1/accounts/demo") || !strings.Contains(body, apiKey) {
		t.Errorf("GET / without the demo account: %d\n%s", status, body)
	}
}
