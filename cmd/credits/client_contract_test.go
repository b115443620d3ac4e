package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/credits/credits/client"
	generated "github.com/credits/credits/client/api"
)

// webhookReceiver is an application's endpoint: it verifies each delivery
// with the client's VerifyWebhookRequest and passes on the verified bodies.
func webhookReceiver(t *testing.T, secret func() string) (string, <-chan string) {
	t.Helper()
	verified := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := api.VerifyWebhookRequest(r, secret())
		if err != nil {
			t.Errorf("a delivery did not verify: %v", err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		select {
		case verified <- string(body):
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/credits", verified
}

// payInDemo pays a demo Checkout Session with the test card that pays, as the
// customer's browser would post the demo's form.
func payInDemo(t *testing.T, sessionURL string) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(sessionURL, url.Values{"card": {"4242 4242 4242 4242"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/checkout/success") {
		t.Fatalf("paying the demo checkout answered %d, to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// awaitVerified reads verified deliveries until one contains want.
func awaitVerified(t *testing.T, verified <-chan string, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case body := <-verified:
			if strings.Contains(body, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no verified delivery with %s within 10 s", want)
		}
	}
}

// TestGoClientContract drives the Go client against the real `credits serve`
// in the offline demo: an account, a purchase, a debit and its replay, a
// hold and its capture, the ledger page by page, and signed webhooks
// verified by the client's VerifyWebhookRequest.
func TestGoClientContract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "credits.db"), "CREDITS_API_KEY": testAPIKey})
	t.Cleanup(func() { m.Close() })
	if m.Demo == nil {
		t.Fatal("not the offline demo")
	}
	c := api.New(base, testAPIKey)

	var secret atomic.Value
	secret.Store("")
	hook, verified := webhookReceiver(t, func() string { return secret.Load().(string) })
	endpoint, err := c.CreateWebhookEndpoint(ctx, api.CreateWebhookEndpoint{URL: hook, Events: []string{"*"}})
	if err != nil || !strings.HasPrefix(endpoint.Secret, "whsec_") {
		t.Fatalf("CreateWebhookEndpoint = %+v, %v", endpoint.Endpoint, err)
	}
	secret.Store(endpoint.Secret)
	if attempt, err := c.TestWebhookEndpoint(ctx, endpoint.Endpoint.ID); err != nil || attempt.StatusCode != 200 {
		t.Fatalf("TestWebhookEndpoint = %+v, %v", attempt, err)
	}
	awaitVerified(t, verified, `"ping"`)

	if _, err := c.CreateAccount(ctx, api.CreateAccount{ID: "contract-1", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAccount(ctx, api.CreateAccount{ID: "contract-1", Email: "ann@example.com"}); !errors.Is(err, api.ErrConflict) {
		t.Errorf("the same account again: %v, want ErrConflict", err)
	}
	session, err := c.CreateCheckoutSession(ctx, "contract-1", api.CreateCheckoutSession{PackID: "starter"})
	if err != nil || session.URL == nil {
		t.Fatalf("CreateCheckoutSession = %+v, %v", session, err)
	}
	payInDemo(t, *session.URL)
	if account, err := c.Account(ctx, "contract-1"); err != nil || account.Balance != 100 {
		t.Fatalf("after the purchase: %+v, %v; want 100 credits", account, err)
	}
	awaitVerified(t, verified, `"contract-1"`)

	contractSpend(t, c)

	kinds := map[string]int{}
	for entry, err := range c.Entries(ctx, "contract-1") {
		if err != nil {
			t.Fatal(err)
		}
		kinds[entry.Kind]++
	}
	if kinds["purchase"] != 1 || kinds["debit"] != 1 || kinds["capture"] != 1 {
		t.Errorf("ledger entries by kind %v, want a purchase, a debit and a capture", kinds)
	}
	contractUsage(t, c)
}

// contractUsage: a rate card (made through the generated operations), a
// check and a usage as a capped member, its replay, and the member's cap
// and a missing rate matched with errors.Is.
func contractUsage(t *testing.T, c *api.Client) {
	ctx := context.Background()
	id, name, unit, card := "image", "Images", "image", "default"
	rates := []generated.Rate{{Feature: "image", Credits: "3"}}
	if r, err := c.API().CreateFeatureWithResponse(ctx, generated.CreateFeatureJSONRequestBody{ID: &id, Name: &name, Unit: &unit}); err != nil || r.StatusCode() != 201 {
		t.Fatalf("CreateFeature: %v, %v", r, err)
	}
	if r, err := c.API().CreateRateCardWithResponse(ctx, generated.CreateRateCardJSONRequestBody{ID: &card, Name: &card, Rates: &rates}); err != nil || r.StatusCode() != 201 {
		t.Fatalf("CreateRateCard: %v, %v", r, err)
	}
	capped := generated.PutMemberJSONRequestBody{}
	capped.Cap = &struct {
		Credits int64                                `json:"credits"`
		Period  generated.PutMemberJSONBodyCapPeriod `json:"period"`
	}{Credits: 10, Period: "day"}
	if r, err := c.API().PutMemberWithResponse(ctx, "contract-1", "ann", capped); err != nil || r.StatusCode() != 200 {
		t.Fatalf("PutMember: %v, %v", r, err)
	}
	check, err := c.Check(ctx, "contract-1", api.Check{Feature: "image", Quantity: 2, MemberID: "ann"})
	if err != nil || !check.Allowed || check.Credits != 6 || check.Member == nil || check.Member.Remaining == nil || *check.Member.Remaining != 10 {
		t.Fatalf("Check = %+v, %v; want 6 credits allowed, 10 left to ann", check, err)
	}
	key := api.NewIdempotencyKey()
	used, err := c.Usage(ctx, "contract-1", api.Usage{Feature: "image", Quantity: 2, MemberID: "ann", IdempotencyKey: key})
	if err != nil || used.Credits != 6 || used.Balance != 49 || used.RateCard.ID != "default" {
		t.Fatalf("Usage = %+v, %v; want 6 credits, 49 left", used, err)
	}
	if again, err := c.Usage(ctx, "contract-1", api.Usage{Feature: "image", Quantity: 2, MemberID: "ann", IdempotencyKey: key}); err != nil || again.ID != used.ID {
		t.Errorf("the same usage again = %+v, %v; want the first answer", again, err)
	}
	if check, err = c.Check(ctx, "contract-1", api.Check{Feature: "image", Quantity: 2, MemberID: "ann"}); err != nil || check.Allowed ||
		check.Reason == nil || *check.Reason != "member_cap_exceeded" {
		t.Errorf("Check past the cap = %+v, %v; want not allowed, member_cap_exceeded", check, err)
	}
	_, err = c.Usage(ctx, "contract-1", api.Usage{Feature: "image", Quantity: 2, MemberID: "ann"})
	var apiErr *api.Error
	if !errors.Is(err, api.ErrMemberCapExceeded) || !errors.As(err, &apiErr) || apiErr.Status != 402 {
		t.Errorf("a usage past ann's cap: %v, want 402 ErrMemberCapExceeded", err)
	}
	if _, err = c.Usage(ctx, "contract-1", api.Usage{Feature: "image", Quantities: map[string]int64{"audio": 1}}); !errors.Is(err, api.ErrNoRate) {
		t.Errorf("a usage without a rate: %v, want ErrNoRate", err)
	}
}

// contractSpend: a debit, its replay with the same key, a debit too large,
// and a hold captured in part.
func contractSpend(t *testing.T, c *api.Client) {
	ctx := context.Background()
	key := api.NewIdempotencyKey()
	d, err := c.Debit(ctx, "contract-1", api.Debit{Amount: 30, Description: "image", IdempotencyKey: key})
	if err != nil || d.Balance != 70 {
		t.Fatalf("Debit = %+v, %v; want a balance of 70", d, err)
	}
	again, err := c.Debit(ctx, "contract-1", api.Debit{Amount: 30, Description: "image", IdempotencyKey: key})
	if err != nil || again.ID != d.ID || again.Balance != 70 {
		t.Errorf("the same debit again = %+v, %v; want the first answer", again, err)
	}
	_, err = c.Debit(ctx, "contract-1", api.Debit{Amount: 1000, Description: "video"})
	var apiErr *api.Error
	if !errors.Is(err, api.ErrInsufficientCredits) || !errors.As(err, &apiErr) || apiErr.Status != 402 {
		t.Errorf("a debit of 1000: %v, want 402 ErrInsufficientCredits", err)
	}
	_, err = c.Debit(ctx, "contract-1", api.Debit{Amount: 31, Description: "image", IdempotencyKey: key})
	if !errors.Is(err, api.ErrIdempotency) {
		t.Errorf("the key with another debit: %v, want ErrIdempotency", err)
	}

	hold, err := c.CreateHold(ctx, "contract-1", api.CreateHold{Amount: 20, ExpiresIn: time.Minute, Description: "render"})
	if err != nil || hold.Status != "held" {
		t.Fatalf("CreateHold = %+v, %v", hold, err)
	}
	if account, err := c.Account(ctx, "contract-1"); err != nil || account.Available != 50 || account.Held != 20 {
		t.Errorf("while held: %+v, %v; want 50 available, 20 held", account, err)
	}
	captured, err := c.CaptureHold(ctx, hold.ID, 15)
	if err != nil || captured.Status != "captured" || captured.Captured != 15 {
		t.Fatalf("CaptureHold = %+v, %v", captured, err)
	}
	if _, err := c.ReleaseHold(ctx, hold.ID); !errors.Is(err, api.ErrConflict) {
		t.Errorf("releasing a captured hold: %v, want ErrConflict", err)
	}
	if account, err := c.Account(ctx, "contract-1"); err != nil || account.Balance != 55 || account.Held != 0 {
		t.Errorf("after the capture: %+v, %v; want 55 credits, none held", account, err)
	}
}

// TestTypeScriptClientContract drives the TypeScript client
// (clients/typescript, test/contract.test.ts) the same way, with Node's test
// runner. It needs node and the client's packages (npm ci there), which CI
// installs; elsewhere it skips without them.
func TestTypeScriptClientContract(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../../clients/typescript")
	node, err := exec.LookPath("node")
	tsc := filepath.Join(dir, "node_modules", ".bin", "tsc")
	if _, statErr := os.Stat(tsc); err != nil || statErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node (%v) or the TypeScript client's packages (%v) are missing: run npm ci in clients/typescript", err, statErr)
		}
		t.Skip("no node, or no npm ci in clients/typescript")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, node, tsc, "-p", dir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	m, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "credits.db"), "CREDITS_API_KEY": testAPIKey})
	t.Cleanup(func() { m.Close() })
	run := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", filepath.Join(dir, "dist", "test", "contract.test.js"))
	run.Env = append(os.Environ(), "CREDITS_URL="+base, "CREDITS_API_KEY="+testAPIKey)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pass 1") || strings.Contains(string(out), "skipped 1") {
		t.Fatalf("the contract test did not run and pass:\n%s", out)
	}
}
