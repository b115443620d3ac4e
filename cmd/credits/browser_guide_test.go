package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserGuidedDemo follows the demo as a newcomer does, in a real
// browser: the home page at the listening line's URL (the key, the links,
// the commands); the credits page from its link; Save a card, shown on the
// return without a reload; auto-recharge declined, with the reason and what
// happens next; another card that pays, labelled in the purchases; and the
// admin tables, which show every column at 1280 px without scrolling
// sideways.
func TestBrowserGuidedDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a browser")
	}
	ctx := newChromium(t)
	_, key, base := serveOnce(t, filepath.Join(t.TempDir(), "credits.db"))
	dir := artifactsDir(t)

	do(t, ctx, chromedp.Navigate(base))
	if got := read(t, ctx, "#api-key"); got != key {
		t.Errorf("the home page shows the key %q, want %q", got, key)
	}
	if commands := read(t, ctx, "#commands"); !strings.Contains(commands, "KEY="+key) || !strings.Contains(commands, "/v1/accounts/demo/debits") {
		t.Errorf("the home page's commands:\n%s", commands)
	}
	screenshot(t, ctx, dir, "home.png")
	do(t, ctx, chromedp.Click(chromedp.CSS("#demo-link")), chromedp.WaitVisible(chromedp.CSS("#continue-login")),
		chromedp.Click(chromedp.CSS("#continue-login button")), chromedp.WaitVisible(chromedp.CSS("#balance")))

	saveCardInBrowser(t, ctx, "4000 0000 0000 0002")
	screenshot(t, ctx, dir, "card-saved.png")
	// The demo account has no credits: turning auto-recharge on recharges
	// at once, and this card is declined.
	turnAutoRechargeOn(t, ctx)
	reloadUntil(t, ctx, "#recharge-reason")
	if got := read(t, ctx, "#recharge-reason"); !strings.Contains(got, "declined") {
		t.Errorf("the declined recharge's reason: %q", got)
	}
	if got := read(t, ctx, "#recharge-next"); !strings.Contains(got, "It will be tried again at") {
		t.Errorf("what happens next: %q", got)
	}
	screenshot(t, ctx, dir, "recharge-declined.png")

	do(t, ctx, chromedp.Click(chromedp.CSS("#remove-card button")), chromedp.WaitVisible(chromedp.CSS("#save-card")))
	saveCardInBrowser(t, ctx, "4242 4242 4242 4242")
	turnAutoRechargeOn(t, ctx)
	reloadUntil(t, ctx, "#purchases .recharge-label")
	if got := read(t, ctx, "#purchases .recharge-label"); got != "auto-recharge" {
		t.Errorf("the recharge's purchase is labelled %q", got)
	}
	screenshot(t, ctx, dir, "recharge-paid.png")

	postUnmatchedEvent(t, base)
	do(t, ctx, chromedp.Navigate(base+"/admin/login"), chromedp.SendKeys(chromedp.CSS("#api_key"), key),
		chromedp.Click(chromedp.CSS("#login button")), chromedp.WaitVisible(chromedp.CSS("nav")))
	for _, tc := range []struct{ path, table, shot string }{
		{"/admin/events", "#events", "admin-events.png"},
		{"/admin/accounts/demo", "#recharges", "admin-recharges.png"},
		{"/admin/accounts", "table", ""},
		{"/admin/sessions", "table", ""},
	} {
		do(t, ctx, chromedp.Navigate(base+tc.path), chromedp.WaitVisible(chromedp.CSS(tc.table)))
		if wide := overflowing(t, ctx); wide != "" {
			t.Errorf("%s at 1280 px: %s", tc.path, wide)
		}
		if tc.shot != "" {
			screenshot(t, ctx, dir, tc.shot)
		}
	}
	t.Logf("screenshots in %s", dir)
}

// saveCardInBrowser saves a card from the credits page: the return shows it, without
// a reload by the test (the page waits for it, or refreshes once).
func saveCardInBrowser(t *testing.T, ctx context.Context, card string) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.CSS("#save-card button")), chromedp.WaitVisible(chromedp.CSS("#card")),
		chromedp.SendKeys(chromedp.CSS("#card"), card), chromedp.Click(chromedp.CSS("#pay")))
	want := "Saved card: visa ending in " + card[len(card)-4:]
	if got := read(t, ctx, "#saved-card"); got != want {
		t.Errorf("back from Save a card: %q, want %q", got, want)
	}
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(at, "/dashboard/credits?card=") {
		t.Errorf("the card was shown at %s, not on the return from Checkout", at)
	}
}

// turnAutoRechargeOn clicks the button and waits for the page that says it
// is on (its button then turns it off).
func turnAutoRechargeOn(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.CSS("#toggle-recharge button")),
		chromedp.WaitReady(chromedp.CSS(`#toggle-recharge input[name="enabled"][value="false"]`)))
}

// reloadUntil reloads the page until selector is on it: what the worker
// does arrives a moment later.
func reloadUntil(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#balance")))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", selector)))
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s on the page within 30s", selector)
		}
	}
}

// overflowing says what scrolls sideways on the page: a table, its
// scrolling container, or the page itself; "" when nothing does.
func overflowing(t *testing.T, ctx context.Context) string {
	t.Helper()
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.innerWidth`))
	if err != nil || width != 1280 {
		t.Fatalf("the window is %v px wide (%v), want 1280", width, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const out = [];
		const check = (name, el) => { if (el.scrollWidth > el.clientWidth) out.push(name + " scrolls: " + el.scrollWidth + " > " + el.clientWidth); };
		check("the page", document.documentElement);
		document.querySelectorAll("table").forEach((t, i) => {
			const name = "table " + (t.id || i);
			check(name, t);
			check("the container of " + name, t.parentElement);
			const box = t.parentElement.getBoundingClientRect();
			for (const cell of t.querySelectorAll("th, td")) {
				if (cell.getBoundingClientRect().right > box.right + 0.5) { out.push(name + ": a cell ends past its container: " + cell.textContent.slice(0, 40)); break; }
			}
		});
		return out.join("; ");
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// postUnmatchedEvent sends the demo's webhook an event for a session it does
// not know (the offline demo takes unsigned events): the events table then
// has a long session id and a long reason.
func postUnmatchedEvent(t *testing.T, base string) {
	t.Helper()
	session := "cs_test_" + strings.Repeat("a1B2c3D4e5", 6)
	payload := fmt.Sprintf(`{"id":"evt_%s","object":"event","type":"checkout.session.completed","created":%d,"livemode":false,
		"data":{"object":{"id":%q,"object":"checkout.session","mode":"payment","payment_status":"paid","status":"complete",
		"amount_total":500,"currency":"usd","metadata":{"account_id":"nobody-with-a-long-account-name","pack_id":"starter","quantity":"1"}}}}`,
		strings.Repeat("Z9y8X7w6V5", 3), time.Now().Unix(), session)
	resp, err := http.Post(base+"/stripe/webhook", "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the unmatched event: %d", resp.StatusCode)
	}
}
