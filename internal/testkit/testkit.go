// Package testkit holds what the tests of several packages share: a real
// SQLite store in a temporary directory and Stripe events signed as Stripe
// signs them.
package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
	"github.com/credits/credits/stripe"
)

// WebhookSecret is the secret that test servers are configured with.
const WebhookSecret = "whsec_test_secret_for_credits"

// OpenSQLite returns a migrated SQLite store in t.TempDir, closed with the test.
// Its file is a copy of one migrated once per test binary: migrating a new
// file costs a second or two under -race, and most tests open a store.
func OpenSQLite(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credits.db")
	migrated.once.Do(func() { migrated.file, migrated.err = migrateOnce() })
	if migrated.err != nil {
		t.Fatalf("migrate the template database: %v", migrated.err)
	}
	if err := os.WriteFile(path, migrated.file, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// migrated is the file of a store migrated once, closed, and read back.
var migrated struct {
	once sync.Once
	file []byte
	err  error
}

func migrateOnce() ([]byte, error) {
	dir, err := os.MkdirTemp("", "credits-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "credits.db")
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	// Closed, the store has checkpointed its write-ahead log into the file:
	// the file alone is the database.
	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() > 0 {
		return nil, errors.New("the write-ahead log outlived Close: the file alone is not the database")
	}
	return os.ReadFile(path)
}

// Session describes the checkout session inside a test event.
type Session struct {
	ID                string
	PaymentStatus     string
	ClientReferenceID string
	CustomerEmail     string
	Metadata          map[string]string
	AmountTotal       int64
	Currency          string
	PaymentIntent     string
	// A setup-mode session saves a card: Mode "setup", its SetupIntent and Customer.
	Mode        string
	SetupIntent string
	Customer    string
}

// Event returns the JSON of a checkout.session.* event as Stripe sends it.
func Event(id, eventType string, livemode bool, s Session) []byte {
	object := map[string]any{
		"id": s.ID, "object": "checkout.session", "mode": "payment", "livemode": livemode,
		"payment_status": s.PaymentStatus, "status": "complete",
		"amount_total": s.AmountTotal, "currency": s.Currency,
		"metadata": s.Metadata,
	}
	if s.ClientReferenceID != "" {
		object["client_reference_id"] = s.ClientReferenceID
	}
	if s.CustomerEmail != "" {
		object["customer_details"] = map[string]any{"email": s.CustomerEmail}
	}
	if s.PaymentIntent != "" {
		object["payment_intent"] = s.PaymentIntent
	}
	if s.Metadata == nil {
		object["metadata"] = map[string]string{}
	}
	if s.Mode != "" {
		object["mode"] = s.Mode
	}
	if s.SetupIntent != "" {
		object["setup_intent"] = s.SetupIntent
	}
	if s.Customer != "" {
		object["customer"] = s.Customer
	}
	return event(id, eventType, livemode, object)
}

// PaymentIntent returns a payment_intent.* event; code (with declineCode)
// is its last payment error's, for payment_intent.payment_failed.
func PaymentIntent(id, eventType, paymentIntent string, amount int64, metadata map[string]string, code, declineCode string) []byte {
	object := map[string]any{"id": paymentIntent, "object": "payment_intent", "amount": amount, "currency": "usd",
		"status": "succeeded", "metadata": metadata, "customer": "cus_test"}
	if code != "" {
		object["status"] = "requires_payment_method"
		object["last_payment_error"] = map[string]any{"type": "card_error", "code": code, "decline_code": declineCode, "message": "declined in a test"}
	}
	return event(id, eventType, false, object)
}

// Object returns an event of any type carrying object.
func Object(id, eventType string, object map[string]any) []byte {
	return event(id, eventType, false, object)
}

// Sign returns a Stripe-Signature header for payload, made now.
func Sign(payload []byte) string {
	return stripe.SignatureHeader(payload, WebhookSecret, time.Now())
}

// MustEvent parses a test event as the webhook would.
func MustEvent(t testing.TB, payload []byte) credits.StripeEvent {
	t.Helper()
	ev, err := stripe.ParseEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// ChargeRefunded returns a charge.refunded event: amountRefunded is the
// charge's refunded total so far.
func ChargeRefunded(id, chargeID, paymentIntent string, amount, amountRefunded int64) []byte {
	return event(id, "charge.refunded", false, map[string]any{
		"id": chargeID, "object": "charge", "amount": amount, "amount_refunded": amountRefunded, "currency": "usd",
		"payment_intent": paymentIntent, "refunded": amountRefunded >= amount,
	})
}

// Dispute returns a charge.dispute.* event.
func Dispute(id, eventType, disputeID, paymentIntent string, amount int64, status string) []byte {
	return event(id, eventType, false, map[string]any{
		"id": disputeID, "object": "dispute", "amount": amount, "currency": "usd", "payment_intent": paymentIntent,
		"charge": "ch_" + disputeID, "status": status,
	})
}

// eventsCreated is every event's created time: one second for the whole
// test process. Snapshots of one charge are ordered by it, so events made a
// few milliseconds apart must not fall in two seconds now and then (a
// second event with the same total then read as newer news: the
// conformance case Refunds, which wants "nothing new", failed so once in
// CI under -race, where two events lie further apart).
var eventsCreated = time.Now().Unix()

func event(id, eventType string, livemode bool, object map[string]any) []byte {
	body, err := json.Marshal(map[string]any{
		// An old API version on purpose: events of any version must be accepted.
		"id": id, "object": "event", "api_version": "2020-08-27", "created": eventsCreated,
		"livemode": livemode, "type": eventType, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return body
}

// ParallelByDefault runs up to perCPU × GOMAXPROCS parallel tests at once
// unless -parallel was given: a TestMain's first call, for tests that wait
// far more than they use a CPU (the PostgreSQL store's), where GOMAXPROCS
// at a time leaves the machine idle.
func ParallelByDefault(perCPU int) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(perCPU*runtime.GOMAXPROCS(0)))
	}
}
