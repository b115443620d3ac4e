package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/creditswebhook"
)

// endpoints stands in for the network between the service and the
// application's endpoints: a delivery is signed as the outbound package signs
// it and handed to the receiver that serves its URL's host, in this process.
// The suite drives the store and the domain; outbound's own tests send over
// HTTP.
type endpoints struct {
	mu       sync.Mutex
	handlers map[string]http.Handler // by host
}

// serve returns the base URL at which h receives deliveries.
func (e *endpoints) serve(h http.Handler) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.handlers == nil {
		e.handlers = map[string]http.Handler{}
	}
	host := fmt.Sprintf("receiver-%d.test", len(e.handlers)+1)
	e.handlers[host] = h
	return "http://" + host
}

func (e *endpoints) Send(ctx context.Context, url string, payload []byte, secrets []string) (int, error) {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(creditswebhook.Header, creditswebhook.Sign(payload, time.Now(), secrets...))
	e.mu.Lock()
	h, ok := e.handlers[req.URL.Host]
	e.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("could not reach the endpoint: no receiver at %s", url)
	}
	answer := httptest.NewRecorder()
	h.ServeHTTP(answer, req)
	return answer.Code, nil
}

// receiver is an application's endpoint: it verifies every signature and
// keeps the events, failing the first requests when told to.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	fail   int // requests still to fail
	ids    []string
	types  []string
	seqs   []int64
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := creditswebhook.VerifyRequest(r, rc.secret)
	if err != nil {
		rc.t.Errorf("a delivery that does not verify: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Sequence int64  `json:"sequence"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("a delivery that is not an event: %s", body)
	}
	rc.ids, rc.types, rc.seqs = append(rc.ids, ev.ID), append(rc.types, ev.Type), append(rc.seqs, ev.Sequence)
	w.WriteHeader(http.StatusOK)
}

// testWebhooksReachTheApplication: events written with their causes reach
// a real endpoint, signed, each once and in order, also when the endpoint
// was down for a while; an endpoint failing for 3 days is disabled.
func testWebhooksReachTheApplication(t *testing.T, open Opener) {
	f := newFixture(t, open)
	hooks := &endpoints{}
	f.svc.Webhooks = hooks
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	add := func(events ...string) (*receiver, credits.WebhookEndpoint) {
		rc := &receiver{t: t}
		ep, err := f.svc.CreateWebhookEndpoint(ctx, hooks.serve(rc)+"/hooks", events, "test")
		if err != nil {
			t.Fatal(err)
		}
		rc.secret = ep.Secret
		return rc, ep
	}
	all, allEndpoint := add("*")
	purchases, _ := add(credits.OutPurchaseCompleted)
	all.fail = 3 // down for the first three tries

	for range 3 {
		f.grant("u1", 10, 0, 0)
	}
	f.buy("cs_1", "u1", "pi_1", 1)
	for round := 0; round < 20; round++ {
		if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Minute) // past every back-off of a few tries
	}
	want := []string{credits.OutCreditsGranted, credits.OutCreditsGranted, credits.OutCreditsGranted, credits.OutPurchaseCompleted}
	if len(all.types) != len(want) {
		t.Fatalf("the endpoint for everything got %v, want %v", all.types, want)
	}
	seen := map[string]bool{}
	for i, id := range all.ids {
		if seen[id] || all.types[i] != want[i] || all.seqs[i] != int64(i+1) {
			t.Errorf("delivery %d: %s %s sequence %d, want %s, sequence %d, once", i, id, all.types[i], all.seqs[i], want[i], i+1)
		}
		seen[id] = true
	}
	if len(purchases.types) != 1 || purchases.types[0] != credits.OutPurchaseCompleted {
		t.Errorf("the endpoint for purchases got %v", purchases.types)
	}
	attempts, err := f.svc.WebhookAttempts(ctx, allEndpoint.ID, 100)
	if err != nil || len(attempts) != 7 {
		t.Fatalf("%d attempts recorded (%v), want 3 failed and 4 delivered", len(attempts), err)
	}
	failed := 0
	for _, a := range attempts {
		if a.StatusCode == http.StatusServiceUnavailable && a.Error != "" {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d failed attempts recorded, want 3", failed)
	}

	// An endpoint failing for 3 days is disabled, with the reason.
	down, downEndpoint := add("*")
	down.fail = 1 << 30
	f.grant("u1", 1, 0, 0)
	for round := 0; round < 200; round++ {
		if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
	}
	endpoints, err := f.svc.WebhookEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range endpoints {
		if ep.ID == downEndpoint.ID && (ep.Status != credits.EndpointDisabled || ep.DisabledReason == "") {
			t.Errorf("an endpoint down for 200 hours: %s %q, want disabled with a reason", ep.Status, ep.DisabledReason)
		}
	}

	// Enabled again, it resumes where it stopped: the event it never got
	// first, then what was written while it was off.
	f.grant("u1", 2, 0, 0)
	if n, err := f.svc.DeliverWebhooks(ctx); err != nil || len(down.ids) != 0 {
		t.Fatalf("a disabled endpoint was sent to: %d attempts (%v), got %v", n, err, down.ids)
	}
	down.mu.Lock()
	down.fail = 0
	down.mu.Unlock()
	enabled, err := f.svc.EnableWebhookEndpoint(ctx, downEndpoint.ID)
	if err != nil || enabled.Status != credits.EndpointEnabled || enabled.DisabledReason != "" || enabled.FailingSince != nil {
		t.Fatalf("enable: %+v (%v)", enabled, err)
	}
	if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(down.types) != 2 || down.types[0] != credits.OutCreditsGranted || down.types[1] != credits.OutCreditsGranted {
		t.Errorf("after enabling: %v, want the two grants it missed", down.types)
	}
	if _, err := f.svc.EnableWebhookEndpoint(ctx, "we_missing"); credits.ErrorCode(err) != credits.ENOTFOUND {
		t.Errorf("enable a missing endpoint: %v", err)
	}
}

// testEventsWithTheirCauses: each kind of change writes its event, in the
// same transaction, in order, with the account's sequence.
func testEventsWithTheirCauses(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	f.buy("cs_1", "u1", "pi_1", 1) // purchase.completed
	if _, err := f.debit("u1", 100); err != nil {
		t.Fatal(err)
	}
	f.receive(stripeEvent("evt_r", credits.EventRefundCreated, 1_800_000_000, map[string]any{"id": "re_1", "object": "refund",
		"amount": 500, "currency": "usd", "status": "succeeded", "payment_intent": "pi_1"})) // payment.refunded, account.in_debt
	f.grant("u1", 150, 0, 0)                                                                                             // account.debt_settled, credits.granted
	if _, _, err := f.svc.Adjust(ctx, "u1", credits.AdjustmentRequest{Amount: 5, Reason: "goodwill"}, nil); err != nil { // credits.adjusted
		t.Fatal(err)
	}
	captured := f.hold("u1", 10, time.Hour)
	if _, err := f.svc.CaptureHold(ctx, captured.ID, nil); err != nil { // hold.captured
		t.Fatal(err)
	}
	released := f.hold("u1", 10, time.Hour)
	if _, err := f.svc.ReleaseHold(ctx, released.ID); err != nil { // hold.released
		t.Fatal(err)
	}
	f.hold("u1", 10, time.Minute)
	f.grant("u1", 5, 30*time.Minute, 0) // credits.granted
	f.now = f.now.Add(time.Hour)
	if _, err := f.svc.SweepExpired(ctx); err != nil { // hold.expired, credits.expired
		t.Fatal(err)
	}
	var events []credits.OutboxEvent
	if err := f.db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 100); return err }); err != nil {
		t.Fatal(err)
	}
	want := []string{credits.OutPurchaseCompleted, credits.OutBalanceDepleted, credits.OutAccountInDebt, credits.OutPaymentRefunded,
		credits.OutAccountDebtSettled, credits.OutCreditsGranted, credits.OutBalanceRecovered, credits.OutCreditsAdjusted, credits.OutHoldCaptured, credits.OutHoldReleased, credits.OutCreditsGranted,
		credits.OutHoldExpired, credits.OutCreditsExpired}
	var got []string
	for i, ev := range events {
		got = append(got, ev.Type)
		if ev.AccountID != "u1" || ev.Sequence != int64(i+1) {
			t.Errorf("event %d: account %s sequence %d, want u1 and %d", i, ev.AccountID, ev.Sequence, i+1)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
}

// testEventSequenceAcrossLocks: two locks of one account in a transaction
// number its events as one counter, whichever lock counts and however many
// at once, and the next transaction goes on from there.
func testEventSequenceAcrossLocks(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	var got []int64
	n := int64(1)
	count := func(locked credits.LockedAccount) error {
		first, err := locked.NextEventSequences(n)
		got = append(got, first)
		return err
	}
	if err := f.db.Update(ctx, func(tx credits.Tx) error {
		got = got[:0]
		first, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		if err := count(first); err != nil {
			return err
		}
		second, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		n = 3
		if err := count(second); err != nil { // 2, 3 and 4
			return err
		}
		n = 1
		return count(first)
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx credits.Tx) error {
		locked, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		return count(locked)
	}); err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 2, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("event numbers %v, want %v", got, want)
	}
}

// testBalanceThresholds: balance.low fires once when available credits drop
// below the threshold, again only after balance.recovered; balance.depleted
// when they reach zero; 100 concurrent debits crossing together tell each
// crossing once.
func testBalanceThresholds(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.account("u1", "u1@example.com")
	if _, err := f.svc.SetLowBalanceThreshold(ctx, "u1", 50); err != nil {
		t.Fatal(err)
	}
	balanceEvents := func() []string {
		var events []credits.OutboxEvent
		if err := f.db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 1000); return err }); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range events {
			if strings.HasPrefix(ev.Type, "balance.") {
				out = append(out, ev.Type)
			}
		}
		return out
	}
	f.grant("u1", 100, 0, 0)
	for _, amount := range []int64{30, 30, 10} { // 70 ok, 40 low, 30 still low
		if _, err := f.debit("u1", amount); err != nil {
			t.Fatal(err)
		}
	}
	f.grant("u1", 100, 0, 0)                      // 130: recovered
	if _, err := f.debit("u1", 130); err != nil { // 0: depleted
		t.Fatal(err)
	}
	f.grant("u1", 10, 0, 0)  // 10: low again, but only after recovered: nothing
	f.grant("u1", 100, 0, 0) // 110: recovered
	want := []string{credits.OutBalanceLow, credits.OutBalanceRecovered, credits.OutBalanceDepleted, credits.OutBalanceRecovered}
	if got := balanceEvents(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("balance events %v, want %v", got, want)
	}

	f.account("u2", "u2@example.com")
	if _, err := f.svc.SetLowBalanceThreshold(ctx, "u2", 50); err != nil {
		t.Fatal(err)
	}
	f.grant("u2", 100, 0, 0)
	concurrentDebits(t, f, "u2", 100, 1)
	counts := map[string]int{}
	var events []credits.OutboxEvent
	if err := f.db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 1000); return err }); err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.AccountID == "u2" {
			counts[ev.Type]++
		}
	}
	if counts[credits.OutBalanceLow] != 1 || counts[credits.OutBalanceDepleted] != 1 || counts[credits.OutBalanceRecovered] != 0 {
		t.Errorf("100 concurrent debits of 100 credits told %v, want one low and one depleted", counts)
	}
}

// testWebhookSecretRotation: for 24 hours after a rotation deliveries carry
// both signatures, so a receiver still on the old secret verifies them; a
// ping reaches the endpoint at once and is recorded.
func testWebhookSecretRotation(t *testing.T, open Opener) {
	f, rc, url := webhookFixture(t, open)
	ctx := context.Background()
	ep, err := f.svc.CreateWebhookEndpoint(ctx, url, []string{"*"}, "")
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = ep.Secret // the receiver has not learned the new secret yet
	rotated, err := f.svc.RotateWebhookSecret(ctx, ep.ID)
	if err != nil || rotated.Secret == ep.Secret || rotated.PreviousUntil == nil {
		t.Fatalf("rotate: %+v (%v)", rotated, err)
	}
	f.grant("u1", 5, 0, 0)
	if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rc.ids) != 1 {
		t.Fatalf("a receiver on the old secret during the overlap got %d events, want 1", len(rc.ids))
	}
	f.now = f.now.Add(credits.WebhookRotationOverlap + time.Minute)
	rc.secret = rotated.Secret
	f.grant("u1", 5, 0, 0)
	if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rc.ids) != 2 {
		t.Fatalf("a receiver on the new secret got %d events, want 2", len(rc.ids))
	}
	ping, err := f.svc.TestWebhookEndpoint(ctx, ep.ID)
	if err != nil || ping.StatusCode != http.StatusOK || len(rc.types) != 3 || rc.types[2] != "ping" {
		t.Errorf("ping: %+v (%v), receiver got %v", ping, err, rc.types)
	}
}

// testWebhookResend: an event is sent again on request, with the same id,
// recorded as an attempt, and the endpoint's place in the stream stays.
func testWebhookResend(t *testing.T, open Opener) {
	f, rc, url := webhookFixture(t, open)
	ctx := context.Background()
	ep, err := f.svc.CreateWebhookEndpoint(ctx, url, []string{credits.OutCreditsGranted}, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.CreateWebhookEndpoint(ctx, url, []string{credits.OutPurchaseCompleted}, "")
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = ep.Secret
	f.grant("u1", 5, 0, 0)
	if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rc.ids) != 1 {
		t.Fatalf("delivered %d events, want 1", len(rc.ids))
	}
	id := rc.ids[0]
	a, err := f.svc.ResendWebhookEvent(ctx, ep.ID, id)
	if err != nil || a.StatusCode != http.StatusOK || a.EventID != id || len(rc.ids) != 2 || rc.ids[1] != id {
		t.Fatalf("resend: %+v (%v), receiver got %v", a, err, rc.ids)
	}
	attempts, err := f.svc.WebhookAttempts(ctx, ep.ID, 10)
	if err != nil || len(attempts) != 2 || attempts[0].EventID != id || attempts[1].EventID != id {
		t.Fatalf("attempts after a resend: %+v (%v)", attempts, err)
	}
	if n, err := f.svc.DeliverWebhooks(ctx); err != nil || n != 0 || len(rc.ids) != 2 {
		t.Fatalf("a resend moved the stream: %d more attempts (%v), receiver got %v", n, err, rc.ids)
	}
	for _, tt := range []struct {
		endpoint, event string
		want            string
	}{
		{ep.ID, "evt_missing", credits.ENOTFOUND},
		{"we_missing", id, credits.ENOTFOUND},
		{other.ID, id, credits.EINVALID}, // not subscribed to credits.granted
	} {
		if _, err := f.svc.ResendWebhookEvent(ctx, tt.endpoint, tt.event); credits.ErrorCode(err) != tt.want {
			t.Errorf("resend %s to %s: %v, want %s", tt.event, tt.endpoint, err, tt.want)
		}
	}
	if len(rc.ids) != 2 {
		t.Errorf("refused resends reached the receiver: %v", rc.ids)
	}
}

// webhookFixture is a fixture that sends webhooks, with account u1 and a
// receiver to send them to, at url.
func webhookFixture(t *testing.T, open Opener) (f *fixture, rc *receiver, url string) {
	f = newFixture(t, open)
	hooks := &endpoints{}
	f.svc.Webhooks = hooks
	box, err := credits.NewSecretBox([]byte("storetest signing secret 0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Secrets = box // endpoint secrets kept sealed, as serve keeps them
	f.account("u1", "u1@example.com")
	rc = &receiver{t: t}
	return f, rc, hooks.serve(rc)
}

// testCreditsExpiring: credits.expiring is written once per lot whose
// unreserved credits expire within the notice, and not for lots spent, not
// expiring, or expiring later; none when the notice is off.
func testCreditsExpiring(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	later := f.grant("u1", 10, 30*24*time.Hour, 0)
	soon := f.grant("u1", 5, 3*24*time.Hour, 0)
	f.grant("u1", 7, 0, 0)                      // never expires
	f.grant("u1", 4, 2*24*time.Hour, 0)         // spent below, before it expires
	if _, err := f.debit("u1", 4); err != nil { // burn-down: the earliest expiry first
		t.Fatal(err)
	}
	expiring := func() []map[string]any {
		t.Helper()
		var events []credits.OutboxEvent
		if err := f.db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 1000); return err }); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, ev := range events {
			if ev.Type != credits.OutCreditsExpiring {
				continue
			}
			var body struct {
				Data struct{ Object map[string]any } `json:"data"`
			}
			if err := json.Unmarshal(ev.Payload, &body); err != nil {
				t.Fatal(err)
			}
			out = append(out, body.Data.Object)
		}
		return out
	}
	sweep := func() {
		t.Helper()
		if _, err := f.svc.SweepExpired(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sweep()
	if got := expiring(); len(got) != 0 {
		t.Fatalf("with the notice off: %v", got)
	}
	f.svc.ExpiringNotice = 7 * 24 * time.Hour
	sweep()
	sweep()
	got := expiring()
	if len(got) != 1 || got[0]["lot_id"] != float64(soon.LotID) || got[0]["amount"] != float64(5) {
		t.Fatalf("after two sweeps: %v, want one for lot %d of 5 credits", got, soon.LotID)
	}
	f.now = f.now.Add(24 * 24 * time.Hour) // the 30-day lot is 6 days from expiring; the 3-day lot has expired
	sweep()
	sweep()
	got = expiring()
	if len(got) != 2 || got[1]["lot_id"] != float64(later.LotID) || got[1]["amount"] != float64(10) {
		t.Fatalf("24 days later: %v, want a second one for lot %d of 10 credits", got, later.LotID)
	}
}

// testDeliveryWaitsAtAGap hides an event as one still committing would be
// (its number taken, its row not yet visible): delivery stops before the
// gap rather than pass over it for good, sends the event once it appears,
// in order, and passes a gap that stays empty (a number rolled back) only
// after credits.OutboxGapWait.
func testDeliveryWaitsAtAGap(t *testing.T, open Opener) {
	f := newFixture(t, open)
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec: the suite needs raw SQL to hide an event", f.db)
	}
	hooks := &endpoints{}
	f.svc.Webhooks = hooks
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	rc := &receiver{t: t}
	ep, err := f.svc.CreateWebhookEndpoint(ctx, hooks.serve(rc)+"/hooks", []string{"*"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = ep.Secret
	exec := func(stmts ...string) {
		t.Helper()
		for _, stmt := range stmts {
			if err := raw.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	hide := func() {
		exec(`CREATE TABLE hidden_event AS SELECT * FROM outbox_events WHERE seq = (SELECT MAX(seq) - 1 FROM outbox_events)`,
			`DELETE FROM outbox_events WHERE seq IN (SELECT seq FROM hidden_event)`)
	}
	deliver := func(want int) {
		t.Helper()
		if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.ids) != want {
			t.Fatalf("%d events delivered, want %d", len(rc.ids), want)
		}
		for i := 1; i < len(rc.seqs); i++ {
			if rc.seqs[i] != rc.seqs[i-1]+1 {
				t.Errorf("account sequences delivered %v, want each once, in order", rc.seqs)
			}
		}
	}
	for range 3 {
		f.grant("u1", 10, 0, 0)
	}
	hide() // the second of three, still committing
	deliver(1)
	f.now = f.now.Add(credits.OutboxGapWait / 2)
	deliver(1)
	// It commits: PostgreSQL's identity needs OVERRIDING SYSTEM VALUE to
	// take a number given; SQLite has no such clause.
	if err := raw.Exec(ctx, `INSERT INTO outbox_events OVERRIDING SYSTEM VALUE SELECT * FROM hidden_event`); err != nil {
		exec(`INSERT INTO outbox_events SELECT * FROM hidden_event`)
	}
	exec(`DROP TABLE hidden_event`)
	deliver(3)

	for range 2 {
		f.grant("u1", 10, 0, 0)
	}
	hide() // the first of two, rolled back: its number stays empty
	exec(`DROP TABLE hidden_event`)
	deliver(3)
	f.now = f.now.Add(credits.OutboxGapWait / 2)
	deliver(3)
	f.now = f.now.Add(credits.OutboxGapWait/2 + time.Second)
	if _, err := f.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.ids) != 4 {
		t.Errorf("%d events delivered after the gap's wait, want 4", len(rc.ids))
	}
}
