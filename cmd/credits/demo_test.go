package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/credits/credits"
	"github.com/credits/credits/demo"
)

var demoLinkLine = regexp.MustCompile(`open (http://\S+/dashboard/login\?token=\S+) and buy credits`)

// startDemo runs `credits serve` as a new user would: a fresh database and no
// configuration at all (only a free port and the database file, to run beside
// other tests). It returns the dashboard link that the demo printed.
func startDemo(t *testing.T) (*Main, string) {
	t.Helper()
	var stdout bytes.Buffer
	m := NewMain(&stdout, io.Discard)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--database-url", filepath.Join(t.TempDir(), "credits.db")}, env(nil)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	match := demoLinkLine.FindStringSubmatch(stdout.String())
	if match == nil {
		t.Fatalf("the demo printed no dashboard link:\n%s", stdout.String())
	}
	return m, match[1]
}

// browser is an HTTP client with cookies that reads pages with selectors.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar}}
}

func (b *browser) page(resp *http.Response, err error) (*goquery.Document, int, string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return doc, resp.StatusCode, resp.Request.URL.String()
}

func (b *browser) get(u string) (*goquery.Document, int, string) {
	b.t.Helper()
	return b.page(b.client.Get(u))
}

func (b *browser) submit(base string, form *goquery.Selection, fields map[string]string) (*goquery.Document, int, string) {
	b.t.Helper()
	values := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		if name, ok := in.Attr("name"); ok {
			values.Set(name, in.AttrOr("value", ""))
		}
	})
	for k, v := range fields {
		values.Set(k, v)
	}
	action, _ := url.Parse(form.AttrOr("action", ""))
	target, _ := url.Parse(base)
	return b.page(b.client.PostForm(target.ResolveReference(action).String(), values))
}

// open follows a dashboard link: its page names the account, and Continue
// exchanges the link, once, for a session.
func (b *browser) open(link string) (*goquery.Document, int, string) {
	doc, status, at := b.get(link)
	if form := doc.Find("#continue-login"); status == 200 && form.Length() == 1 {
		return b.submit(at, form, nil)
	}
	return doc, status, at
}

func text(doc *goquery.Document, selector string) string {
	return strings.TrimSpace(doc.Find(selector).First().Text())
}

func TestDemoFromAFreshDatabase(t *testing.T) {
	t.Parallel()
	m, link := startDemo(t)
	b := newBrowser(t)

	doc, status, at := b.open(link)
	if status != 200 || !strings.HasSuffix(at, "/dashboard/credits") {
		t.Fatalf("the demo link led to %s (%d)", at, status)
	}
	if got := text(doc, "#balance"); got != "0" {
		t.Errorf("balance = %q, want 0", got)
	}
	if got := doc.Find("#packs form.pack").Length(); got != 3 {
		t.Fatalf("%d packs on sale, want the demo's 3", got)
	}

	buy := func(card string) (*goquery.Document, int, string) {
		doc, _, at := b.get(at)
		checkout, status, checkoutURL := b.submit(at, doc.Find(`#packs form.pack[data-pack="starter"]`), nil)
		if status != 200 || !strings.Contains(checkoutURL, "/demo/checkout/cs_test_demo_") {
			t.Fatalf("Purchase led to %s (%d)", checkoutURL, status)
		}
		if !strings.Contains(text(checkout, "#simulation"), "SIMULATION") {
			t.Error("the demo checkout is not marked as a simulation")
		}
		return b.submit(checkoutURL, checkout.Find("#pay-form"), map[string]string{"card": card})
	}

	declined, status, _ := buy("4000 0000 0000 0002")
	if status != http.StatusPaymentRequired || text(declined, "#error") != "Your card was declined." {
		t.Errorf("declined card: %d %q", status, text(declined, "#error"))
	}
	broke, status, _ := buy("4000 0000 0000 9995")
	if status != http.StatusPaymentRequired || text(broke, "#error") != "Your card has insufficient funds." {
		t.Errorf("insufficient funds: %d %q", status, text(broke, "#error"))
	}
	success, status, successURL := buy("4242 4242 4242 4242")
	if status != 200 || !strings.Contains(successURL, "/checkout/success?session_id=cs_test_demo_") {
		t.Fatalf("paying led to %s (%d)", successURL, status)
	}
	if got := text(success, "#balance"); got != "100 credits" {
		t.Errorf("success page balance = %q, want 100 credits", got)
	}

	dashboard, _, _ := b.get(at)
	if got := text(dashboard, "#balance"); got != "100" {
		t.Errorf("dashboard balance after one purchase = %q, want 100: the declined cards added nothing, the webhook nothing more", got)
	}
	if got := dashboard.Find("#purchases tbody tr").Length(); got != 1 {
		t.Errorf("%d purchases listed, want 1", got)
	}
	if dashboard.Find("#chart svg polyline").Length() == 0 {
		t.Error("no balance chart")
	}
	// The payment reached the webhook as a real signed event, through the same verification.
	events, err := m.Service.ListEvents(context.Background(), "", 10)
	if err != nil || len(events) != 1 || !strings.HasPrefix(events[0].ID, "evt_demo_") || events[0].Status != "processed" {
		t.Errorf("events = %+v (%v), want one processed demo event", events, err)
	}
}

// TestDemoAutoRecharge: with no Stripe account, a new user saves a test card
// on the demo's checkout, turns auto-recharge on from the credits page, and
// sees the off-session payment follow the card: 4242 pays, 3184 asks for
// authentication (a Checkout link on the page), 0002 is declined.
func TestDemoAutoRecharge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ card, want string }{
		{"4242 4242 4242 4242", "paid"},
		{"4000 0027 6000 3184", "authentication"},
		{"4000 0000 0000 0002", "declined"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			m, link := startDemo(t)
			if back := m.Service.RechargeReturnURLs.Success; !strings.HasPrefix(back, "http://localhost:") {
				t.Errorf("a recharge's Checkout link would return to %q: Stripe takes absolute URLs only", back)
			}
			b := newBrowser(t)
			doc, _, at := b.open(link)
			if doc.Find("#no-card").Length() != 1 || !strings.Contains(text(doc, "#recharge-settings"), "$20.00") {
				t.Fatalf("auto-recharge section: %q / %q", text(doc, "#auto-recharge"), text(doc, "#recharge-settings"))
			}
			setup, status, setupURL := b.submit(at, doc.Find("#save-card"), nil)
			if status != 200 || text(setup, "#pay") != "Save card" {
				t.Fatalf("Save a card led to %s (%d): %q", setupURL, status, text(setup, "#pay"))
			}
			_, status, back := b.submit(setupURL, setup.Find("#pay-form"), map[string]string{"card": tc.card})
			if status != 200 || !strings.Contains(back, "/dashboard/credits") {
				t.Fatalf("saving the card led to %s (%d)", back, status)
			}
			last4 := tc.card[len(tc.card)-4:]
			waitFor(t, 15*time.Second, "the saved card on the page", func() bool {
				doc, _, _ = b.get(at)
				return strings.Contains(text(doc, "#saved-card"), "ending in "+last4)
			})
			// Turning it on below the threshold (the demo account has no credits) recharges at once.
			doc, status, _ = b.submit(at, doc.Find("#toggle-recharge"), nil)
			if status != 200 || !strings.HasPrefix(text(doc, "#recharge-settings"), "On") {
				t.Fatalf("turning auto-recharge on: %d %q", status, text(doc, "#recharge-settings"))
			}
			last := func() credits.Recharge {
				v, err := m.Service.GetAutoRecharge(context.Background(), demo.AccountID)
				if err != nil || v.Last == nil {
					return credits.Recharge{}
				}
				return *v.Last
			}
			switch tc.want {
			case "paid":
				waitFor(t, 15*time.Second, "the recharge's credits", func() bool { doc, _, _ = b.get(at); return text(doc, "#balance") == "100" })
				// The demo sends payment_intent.succeeded too, as Stripe does: it adds nothing more.
				waitFor(t, 15*time.Second, "the payment intent's event", func() bool {
					events, _ := m.Service.ListEvents(context.Background(), "", 10)
					return len(events) > 0 && events[0].Type == credits.EventPaymentIntentSucceeded && events[0].Status == credits.EventProcessed
				})
				if doc, _, _ = b.get(at); text(doc, "#balance") != "100" || last().Status != credits.RechargeSucceeded {
					t.Errorf("balance %q, recharge %+v", text(doc, "#balance"), last())
				}
			case "authentication":
				waitFor(t, 15*time.Second, "the notice on the page", func() bool { doc, _, _ = b.get(at); return doc.Find("#recharge-action-link").Length() == 1 })
				pay, _, payURL := b.get(doc.Find("#recharge-action-link").AttrOr("href", ""))
				success, status, _ := b.submit(payURL, pay.Find("#pay-form"), map[string]string{"card": tc.card})
				if status != 200 || text(success, "#balance") != "100 credits" {
					t.Fatalf("paying the recharge's link: %d %q", status, text(success, "#balance"))
				}
				if got := last(); got.Status != credits.RechargeSucceeded {
					t.Errorf("recharge %+v, want succeeded", got)
				}
			case "declined":
				waitFor(t, 15*time.Second, "the declined recharge", func() bool {
					v, _ := m.Service.GetAutoRecharge(context.Background(), demo.AccountID)
					return len(v.Recharges) == 2 && v.Recharges[1].Status == credits.RechargeFailed
				})
				v, _ := m.Service.GetAutoRecharge(context.Background(), demo.AccountID)
				if r := v.Recharges[0]; r.Status != credits.RechargePending || r.Attempt != 2 || !v.Enabled || !strings.Contains(v.Recharges[1].Error, "declined") {
					t.Errorf("after a decline: %+v, enabled %t", v.Recharges, v.Enabled)
				}
				if doc, _, _ = b.get(at); text(doc, "#balance") != "0" {
					t.Errorf("balance %q after a decline", text(doc, "#balance"))
				}
			}
			// A form without its CSRF token changes nothing.
			forged, status, _ := b.page(b.client.PostForm(strings.Replace(at, "/dashboard/credits", "/dashboard/credits/card/remove", 1), url.Values{}))
			if status != http.StatusForbidden || text(forged, "h1") != "Form expired" {
				t.Errorf("removal without a CSRF token: %d %q", status, text(forged, "h1"))
			}
			// The customer removes the card: auto-recharge turns off.
			doc, _, _ = b.get(at)
			if !strings.Contains(text(doc, "#saved-card"), last4) {
				t.Fatal("the card went without its form")
			}
			doc, status, _ = b.submit(at, doc.Find("#remove-card"), nil)
			if status != 200 || doc.Find("#no-card").Length() != 1 || !strings.HasPrefix(text(doc, "#recharge-settings"), "Off") {
				t.Errorf("after removing the card: %d %q", status, text(doc, "#auto-recharge"))
			}
		})
	}
}
