package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/stripe"
)

// call sends one /v1 request with a key and returns its status and body.
func (s *site) call(key, method, path, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// linkWith makes a dashboard link with a key and a request body.
func (s *site) linkWith(key, account, body string) string {
	s.t.Helper()
	status, out := s.call(key, "POST", "/v1/accounts/"+account+"/dashboard_sessions", body)
	if status != http.StatusCreated {
		s.t.Fatalf("dashboard_sessions with %s: %d %s", body, status, out)
	}
	var link struct{ URL string }
	if err := jsonUnmarshal([]byte(out), &link); err != nil {
		s.t.Fatal(err)
	}
	return link.URL
}

// newKey makes a scoped key and returns its id and secret.
func (s *site) newKey(scope, account string) (string, string) {
	s.t.Helper()
	key, secret, err := s.svc.CreateAPIKey(context.Background(), scope+" key", scope, account)
	if err != nil {
		s.t.Fatal(err)
	}
	return key.ID, secret
}

// operatorCookie is a signed /admin cookie for a session made by the key of
// keyID, as if that key had signed in.
func (s *site) operatorCookie(keyID string) *http.Cookie {
	s.t.Helper()
	ws, secret, err := s.svc.CreateWebSession(context.Background(), credits.NewWebSession{Kind: credits.SessionOperator, KeyID: keyID, TTL: time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	return &http.Cookie{Name: "credits_admin", Value: s.srv.SignToken("admin", secret, ws.ExpiresAt)}
}

// signedInCookie signs in to /admin with a key and returns the cookie.
func (s *site) signedInCookie(key string) *http.Cookie {
	s.t.Helper()
	v := s.visitor()
	v.post("/admin/login", url.Values{"api_key": {key}})
	base, _ := url.Parse(s.url)
	cookies := v.client.Jar.Cookies(base)
	if len(cookies) != 1 {
		s.t.Fatalf("sign-in with a key left %d cookies", len(cookies))
	}
	return cookies[0]
}

// TestChangingTheBootstrapKeyEndsItsOperatorSessions: a new CREDITS_API_KEY
// is the old one's revocation: the /admin sessions it signed in end, and the
// customers' sessions stay.
func TestChangingTheBootstrapKeyEndsItsOperatorSessions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	cookie := s.signedInCookie(apiKey)
	customer, _ := s.signIn("alice")
	if _, in := s.adminAnswer(t, cookie, "GET", "/admin/accounts"); !in {
		t.Fatal("the bootstrap key's session was refused")
	}
	s.srv.APIKey = "another_bootstrap_key_0123456789"
	if status, in := s.adminAnswer(t, cookie, "GET", "/admin/accounts"); in {
		t.Errorf("after CREDITS_API_KEY changed, the old key's session answered %d", status)
	}
	if p := customer.get("/dashboard/credits"); p.status != 200 {
		t.Errorf("a customer's session after CREDITS_API_KEY changed: %d, want kept", p.status)
	}
}

// adminRoutes are every operator page and action, with what each names.
var adminRoutes = []struct{ method, path string }{
	{"GET", "/admin/accounts"}, {"GET", "/admin/accounts/alice"}, {"GET", "/admin/accounts/bob"},
	{"GET", "/admin/events"}, {"GET", "/admin/payments/pi_x"}, {"GET", "/admin/webhooks"}, {"GET", "/admin/sessions"},
	{"POST", "/admin/events/evt_x/retry"}, {"POST", "/admin/events/evt_x/accept"},
	{"POST", "/admin/webhooks/we_x/events/evt_x/resend"}, {"POST", "/admin/webhooks/we_x/enable"},
	{"POST", "/admin/sessions/abc/revoke"}, {"POST", "/admin/logout"},
}

// adminAnswer sends one operator request with a cookie (and its CSRF token)
// and reports whether the session was let in: not sent to the sign-in, not
// asked to sign in again.
func (s *site) adminAnswer(t *testing.T, cookie *http.Cookie, method, path string) (int, bool) {
	t.Helper()
	form := url.Values{"csrf": {s.srv.CSRFToken(cookie.Value)}}
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	refused := resp.Header.Get("Location") == "/admin/login" && method == "GET" ||
		resp.StatusCode == http.StatusForbidden && strings.Contains(string(body), "Sign in again")
	return resp.StatusCode, !refused
}

// TestBoundAdminKeyNeverReachesAdmin: an admin key bound to one account
// cannot sign in to /admin, and a session of such a key (or of a revoked, or
// a spend, key) is refused by every operator page and action; the unbound
// admin key is let in everywhere.
func TestBoundAdminKeyNeverReachesAdmin(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	boundID, boundSecret := s.newKey(credits.ScopeAdmin, "alice")
	p := s.visitor().post("/admin/login", url.Values{"api_key": {boundSecret}})
	if p.status != http.StatusForbidden || !strings.Contains(p.text("#error"), "bound to account alice") {
		t.Errorf("sign-in with a bound admin key: %d %q, want 403 saying it is bound", p.status, p.text("#error"))
	}
	if n, _ := s.svc.OperatorSessions(context.Background()); len(n) != 0 {
		t.Errorf("a refused sign-in made %d operator session(s)", len(n))
	}
	spendID, _ := s.newKey(credits.ScopeSpend, "")
	revokedID, _ := s.newKey(credits.ScopeAdmin, "")
	revoked := s.operatorCookie(revokedID)
	if _, err := s.svc.RevokeAPIKey(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	unboundID, _ := s.newKey(credits.ScopeAdmin, "")
	bootstrap := s.signedInCookie(apiKey)
	for _, tt := range []struct {
		name   string
		cookie func() *http.Cookie
		in     bool
	}{
		{"bound admin key", func() *http.Cookie { return s.operatorCookie(boundID) }, false},
		{"spend key", func() *http.Cookie { return s.operatorCookie(spendID) }, false},
		{"revoked admin key", func() *http.Cookie { return revoked }, false},
		{"unknown key", func() *http.Cookie { return s.operatorCookie("key_gone") }, false},
		{"the bootstrap key's id alone", func() *http.Cookie { return s.operatorCookie(credits.BootstrapKeyID) }, false},
		{"unbound admin key", func() *http.Cookie { return s.operatorCookie(unboundID) }, true},
		{"bootstrap key, signed in", func() *http.Cookie { return bootstrap }, true}, // logout is the last route
	} {
		for _, rt := range adminRoutes {
			status, in := s.adminAnswer(t, tt.cookie(), rt.method, rt.path)
			if in != tt.in {
				t.Errorf("%s: %s %s answered %d, let in %v, want %v", tt.name, rt.method, rt.path, status, in, tt.in)
			}
		}
	}
}

// TestAdminNoticesComeFromTheSession: a notice is kept with the operator's
// session and shown once; one written in the URL is never shown.
func TestAdminNoticesComeFromTheSession(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	v := s.visitor()
	v.post("/admin/login", url.Values{"api_key": {apiKey}})
	for _, path := range []string{"/admin/events?retried=evt_spoof&accepted=evt_spoof",
		"/admin/webhooks?resent=evt_spoof&result=call+support+at+555&enabled=we_spoof"} {
		if p := v.get(path); p.status != 200 || p.count("#notice") != 0 {
			t.Errorf("%s: %d, notice %q, want none", path, p.status, p.text("#notice"))
		}
	}
	payload := testkit.Event("evt_failed", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_failed", PaymentStatus: "paid", CustomerEmail: "nobody@example.com"})
	if _, err := s.svc.HandleEvent(context.Background(), testkit.MustEvent(t, payload)); err != nil {
		t.Fatal(err)
	}
	// The worker reads the foreign session from stripe-mock, whose line item has a price no pack uses.
	demo := s.svc.Payments
	s.svc.Payments = stripe.NewClient("sk_test_123", stripemock.Start(t))
	if _, err := s.svc.ProcessPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.svc.Payments = demo
	events := v.get("/admin/events")
	row := `#events tr.event[data-event="evt_failed"]`
	if events.count(row+" form.retry") != 1 {
		t.Fatalf("no retry button on %q", events.text("#events"))
	}
	retried := v.submit(events, row+" form.retry", nil)
	if !strings.HasSuffix(retried.url, "/admin/events") || !strings.Contains(retried.text("#notice"), "evt_failed is queued again") {
		t.Errorf("after the retry: %s, notice %q", retried.url, retried.text("#notice"))
	}
	if again := v.get("/admin/events"); again.count("#notice") != 0 {
		t.Errorf("the notice was shown twice: %q", again.text("#notice"))
	}
}

// TestHSTSInProduction: every answer in production carries HSTS; none in
// development.
func TestHSTSInProduction(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for _, production := range []bool{false, true} {
		s.srv.Production = production
		handler := s.srv.Handler()
		for _, path := range []string{"/healthz", "/v1/packs", "/v1/nothing", "/admin/login", "/admin/accounts", "/dashboard/credits", "/nowhere"} {
			rec := httptestRecorder(handler, "GET", path)
			want := ""
			if production {
				want = "max-age=63072000; includeSubDomains"
			}
			if got := rec.Header().Get("Strict-Transport-Security"); got != want {
				t.Errorf("production %v, %s (%d): Strict-Transport-Security %q, want %q", production, path, rec.Code, got, want)
			}
		}
	}
}

// TestBidiControlsRefused: text fields refuse the characters that reorder
// what is displayed, as they refuse other control characters.
func TestBidiControlsRefused(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for _, r := range []rune{'\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'} {
		body := `{"amount": 1, "reason": "refund ` + string(r) + `gnp.exe"}`
		if status, out := s.call(apiKey, "POST", "/v1/accounts/alice/grants", body); status != http.StatusBadRequest || !strings.Contains(out, "control characters") {
			t.Errorf("a grant whose reason holds U+%04X: %d %s, want 400", r, status, out)
		}
		if status, out := s.call(apiKey, "POST", "/v1/api_keys", `{"scope": "read", "name": "ops`+string(r)+`"}`); status != http.StatusBadRequest {
			t.Errorf("a key whose name holds U+%04X: %d %s, want 400", r, status, out)
		}
	}
	if status, out := s.call(apiKey, "POST", "/v1/accounts/alice/grants", `{"amount": 1, "reason": "שלום, hello"}`); status != http.StatusCreated {
		t.Errorf("a reason in Hebrew and English: %d %s, want 201", status, out)
	}
}

func httptestRecorder(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// TestLinksAreSingleUse: a link's page names the account and asks to
// continue; continuing exchanges it, once, for a cookie and a clean URL; a
// second use answers 410; a cross-site exchange is refused; Sign out ends the
// session.
func TestLinksAreSingleUse(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	link := s.link("alice")
	v := s.visitor()
	confirm := v.get(link)
	base, _ := url.Parse(s.url)
	if confirm.status != 200 || !strings.Contains(confirm.text("#message"), "alice@example.com") || confirm.count("#continue-login") != 1 {
		t.Fatalf("the link's page: %d %q", confirm.status, confirm.text("#message"))
	}
	if len(v.client.Jar.Cookies(base)) != 0 || confirm.count("#balance") != 0 {
		t.Fatal("opening a link signed in without the Continue button")
	}
	if again := s.visitor().get(link); again.status != 200 {
		t.Errorf("a link's page shown twice (a mail scanner, then its person): %d, want 200", again.status)
	}
	token, _ := url.Parse(link)
	crossSite, _ := http.NewRequest("POST", s.url+"/dashboard/login", strings.NewReader(url.Values{"token": {token.Query().Get("token")}}.Encode()))
	crossSite.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	crossSite.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := s.visitor().read(http.DefaultClient.Do(crossSite)); p.status != http.StatusForbidden {
		t.Errorf("an exchange posted from another site: %d, want 403", p.status)
	}
	p := v.submit(confirm, "#continue-login", nil)
	if p.status != 200 || p.url != s.url+"/dashboard/credits" || p.text("#account-email") != "alice@example.com" {
		t.Fatalf("after Continue: %d at %s", p.status, p.url)
	}
	for name, reuse := range map[string]func() page{
		"the link opened again":     func() page { return s.visitor().get(link) },
		"the exchange posted again": func() page { return s.visitor().submit(confirm, "#continue-login", nil) },
	} {
		if got := reuse(); got.status != http.StatusGone || !strings.Contains(got.text("#message"), "already used") || got.count("#balance") != 0 {
			t.Errorf("%s: %d %q, want 410 saying it was used", name, got.status, got.text("#message"))
		}
	}
	cookies := v.client.Jar.Cookies(base)
	out := v.submit(p, "#sign-out", nil)
	if out.status != 200 || !strings.Contains(out.text("#message"), "signed out") {
		t.Errorf("Sign out: %d %q", out.status, out.text("#message"))
	}
	replay := s.visitor()
	replay.client.Jar.SetCookies(base, cookies)
	if got := replay.get("/dashboard/credits"); got.status != http.StatusForbidden {
		t.Errorf("the cookie of a signed-out customer: %d, want 403", got.status)
	}
}

// saveCard saves a card for an account through the demo's setup page.
func (s *site) saveCard(account string) {
	s.t.Helper()
	ctx := context.Background()
	cs, err := s.svc.CreateSetupSession(ctx, account, credits.ReturnURLs{Success: s.url + "/dashboard/credits", Cancel: s.url})
	if err != nil {
		s.t.Fatal(err)
	}
	v := s.visitor()
	v.submit(v.get(strings.TrimPrefix(cs.URL, s.url)), "#pay-form", map[string]string{"card": "4242 4242 4242 4242"})
	if n, err := s.svc.ReadSavedCards(ctx); err != nil || n != 1 {
		s.t.Fatalf("read %d cards: %v", n, err)
	}
}

// TestSpendKeyLinkOffersOnlyPurchases: the page of a link made by a spend key
// buys, but has no form for auto-recharge or the card, says who can, and
// refuses those forms posted anyway (403, nothing changed); a link asks for
// less than its key may, never more.
func TestSpendKeyLinkOffersOnlyPurchases(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.saveCard("alice")
	if _, err := s.svc.SetAutoRecharge(ctx, "alice", credits.AutoRechargeSettings{Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 1000}); err != nil {
		t.Fatal(err)
	}
	_, spend := s.newKey(credits.ScopeSpend, "alice")
	v := s.visitor()
	p := v.open(s.linkWith(spend, "alice", ""))
	if p.status != 200 || p.count("#packs form.pack") == 0 {
		t.Fatalf("the spend key's page: %d, %d packs", p.status, p.count("#packs form.pack"))
	}
	for _, form := range []string{"#toggle-recharge", "#remove-card", "#save-card", `input[name="save_card"]`} {
		if p.count(form) != 0 {
			t.Errorf("the spend key's page has %s", form)
		}
	}
	if !strings.Contains(p.text("#who-can"), "administrators can") {
		t.Errorf("the page does not say who can: %q", p.text("#auto-recharge"))
	}
	csrf := p.doc.Find(`input[name="csrf"]`).AttrOr("value", "")
	for _, forged := range []struct {
		path string
		form url.Values
	}{
		{"/dashboard/credits/auto_recharge", url.Values{"enabled": {"true"}}},
		{"/dashboard/credits/card/remove", nil},
		{"/dashboard/credits/card", nil},
		{"/dashboard/credits/purchase", url.Values{"pack_id": {"starter"}, "save_card": {"on"}}},
	} {
		form := url.Values{"csrf": {csrf}}
		for k, v := range forged.form {
			form[k] = v
		}
		if got := v.post(forged.path, form); got.status != http.StatusForbidden || !strings.Contains(got.text("#message"), "administrators can") {
			t.Errorf("a forged POST %s: %d %q, want 403 saying who can", forged.path, got.status, got.text("#message"))
		}
	}
	if ar, _ := s.svc.GetAutoRecharge(ctx, "alice"); ar.Enabled || ar.Card == nil {
		t.Errorf("after the forged posts: enabled %v, card %v; want off, kept", ar.Enabled, ar.Card)
	}

	if status, out := s.call(spend, "POST", "/v1/accounts/alice/dashboard_sessions", `{"can": ["purchase", "card"]}`); status != http.StatusForbidden {
		t.Errorf("a spend key asking for the card: %d %s, want 403", status, out)
	}
	if status, out := s.call(apiKey, "POST", "/v1/accounts/alice/dashboard_sessions", `{"can": ["everything"]}`); status != http.StatusBadRequest {
		t.Errorf("an unknown capability: %d %s, want 400", status, out)
	}
	narrow := s.visitor().open(s.linkWith(apiKey, "alice", `{"can": ["auto_recharge"]}`))
	if narrow.count("#toggle-recharge") != 1 || narrow.count("#remove-card") != 0 || narrow.count("#packs form.pack") != 0 {
		t.Errorf("an admin key's page narrowed to auto_recharge: toggle %d, remove card %d, packs %d",
			narrow.count("#toggle-recharge"), narrow.count("#remove-card"), narrow.count("#packs form.pack"))
	}
	full := s.visitor().open(s.link("alice"))
	if full.count("#toggle-recharge") != 1 || full.count("#remove-card") != 1 || full.count("#who-can") != 0 {
		t.Errorf("the admin key's page: toggle %d, remove card %d, who-can %d", full.count("#toggle-recharge"), full.count("#remove-card"), full.count("#who-can"))
	}
}

// TestSigningSecretRotation: after CREDITS_SIGNING_SECRET changes, what the
// old secret signed (cookies, links, form tokens) still opens while it is
// given as the previous one, and not after.
func TestSigningSecretRotation(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	operator := s.visitor()
	operator.post("/admin/login", url.Values{"api_key": {apiKey}})
	customer, page := s.signIn("alice")
	link := s.link("alice")
	old := s.srv.SigningKey
	s.srv.SigningKey, s.srv.PreviousSigningKeys = []byte("the new signing secret"), [][]byte{old}
	if p := operator.get("/admin/accounts"); p.status != 200 || strings.HasSuffix(p.url, "/admin/login") {
		t.Errorf("an operator cookie of the previous secret: %d at %s", p.status, p.url)
	}
	if p := customer.submit(page, "#sign-out", nil); p.status != 200 {
		t.Errorf("a form token of the previous secret: %d %q", p.status, p.text("#message"))
	}
	if p := s.visitor().open(link); p.status != 200 || !strings.HasSuffix(p.url, "/dashboard/credits") {
		t.Errorf("a link of the previous secret: %d at %s", p.status, p.url)
	}
	s.srv.PreviousSigningKeys = nil
	if p := operator.get("/admin/accounts"); !strings.HasSuffix(p.url, "/admin/login") {
		t.Errorf("after the window, an operator cookie of the old secret opened %s", p.url)
	}
}

// TestOnlyAdminKeysSaveCardsOverTheAPI: the customer page saves a card only
// for an admin key's link (auto-recharge charges it off-session); the API
// holds a spend key to the same: no setup session, no save_card checkout.
func TestOnlyAdminKeysSaveCardsOverTheAPI(t *testing.T) {
	s := newSite(t)
	_, spend := s.newKey(credits.ScopeSpend, "alice")
	if status, body := s.call(spend, "POST", "/v1/accounts/alice/setup_sessions", ""); status != http.StatusForbidden {
		t.Errorf("a spend key's setup session: %d %s, want 403", status, body)
	}
	if status, body := s.call(spend, "POST", "/v1/accounts/alice/checkout_sessions", `{"pack_id":"starter","save_card":true}`); status != http.StatusForbidden || !strings.Contains(body, "save_card") {
		t.Errorf("a spend key's checkout with save_card: %d %s, want 403 naming save_card", status, body)
	}
	if status, body := s.call(spend, "POST", "/v1/accounts/alice/checkout_sessions", `{"pack_id":"starter"}`); status == http.StatusForbidden {
		t.Errorf("a spend key's checkout without save_card: %d %s, want it allowed", status, body)
	}
}
