package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// mockPriceID is the price of the line item that foreignSessions gives every
// session: the one stripe-mock's fixture has.
const mockPriceID = "price_1PgafmB7WZ01zgkW02Hf9z6c"

// fixtureNow is the time that fixtures start at.
var fixtureNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	svc *credits.Service
	db  credits.Store
	now time.Time
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	db := open(t)
	f := &fixture{t: t, db: db, now: fixtureNow}
	f.svc = credits.NewService(db)
	f.svc.Now = func() time.Time { return f.now }
	t.Cleanup(func() { f.verify() })
	return f
}

// verify fails the test if any invariant is broken.
func (f *fixture) verify() {
	f.t.Helper()
	violations, err := f.svc.Verify(context.Background())
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	for _, v := range violations {
		f.t.Errorf("invariant %d broken for %q: %s", v.Invariant, v.AccountID, v.Message)
	}
}

func (f *fixture) pack(id string, creditsPerPack int64, priceID string) credits.Pack {
	f.t.Helper()
	p, err := f.svc.CreatePack(context.Background(), credits.Pack{
		ID: id, Name: id, Credits: creditsPerPack, UnitAmount: 500, Currency: "usd", StripePriceID: priceID, Active: true,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) account(id, email string) {
	f.t.Helper()
	if _, err := f.svc.CreateAccount(context.Background(), id, email); err != nil {
		f.t.Fatal(err)
	}
}

// session records a checkout session as CreateCheckout would after Stripe
// answered.
func (f *fixture) session(id, accountID, packID string, quantity int64) {
	f.t.Helper()
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		return tx.CreateCheckoutSession(credits.CheckoutSession{
			ID: id, AccountID: accountID, PackID: packID, Quantity: quantity, ExpectedAmount: 500 * quantity,
			Currency: "usd", Status: credits.SessionOpen, CreatedAt: f.now, UpdatedAt: f.now,
		})
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) deliver(eventID, eventType string, s testkit.Session) credits.Event {
	f.t.Helper()
	ev, err := f.svc.HandleEvent(context.Background(), testkit.MustEvent(f.t, testkit.Event(eventID, eventType, false, s)))
	if err != nil {
		f.t.Fatalf("handle %s: %v", eventID, err)
	}
	return ev
}

func (f *fixture) balance(accountID string) (int64, bool) {
	f.t.Helper()
	a, err := f.svc.GetAccount(context.Background(), accountID)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Balance, a.Trial
}

func (f *fixture) purchases(accountID string) []credits.Purchase {
	f.t.Helper()
	p, err := f.svc.ListPurchases(context.Background(), accountID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// paid is a paid session of one pack ($5.00); paidFor of quantity packs.
func paid(id string) testkit.Session { return paidFor(id, 1) }

func paidFor(id string, quantity int64) testkit.Session {
	return testkit.Session{ID: id, PaymentStatus: "paid", AmountTotal: 500 * quantity, Currency: "usd", PaymentIntent: "pi_" + id}
}

func testFulfilPaidSession(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "price_starter")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 2)

	ev := f.deliver("evt_1", credits.EventCheckoutCompleted, paidFor("cs_1", 2))

	if got, want := ev.Status, credits.EventProcessed; got != want {
		t.Fatalf("status = %q, want %q (%s)", got, want, ev.Error)
	}
	balance, trial := f.balance("u1")
	if got, want := balance, int64(200); got != want {
		t.Errorf("balance = %d, want %d", got, want)
	}
	if trial {
		t.Error("trial is still true after a purchase")
	}
	purchases := f.purchases("u1")
	if len(purchases) != 1 {
		t.Fatalf("purchases = %d, want 1", len(purchases))
	}
	p := purchases[0]
	if p.SessionID != "cs_1" || p.Quantity != 2 || p.Credits != 200 || p.AmountPaid != 1000 || p.Currency != "usd" || p.PaymentIntent != "pi_cs_1" || p.EventID != "evt_1" {
		t.Errorf("purchase = %+v", p)
	}
	entries, err := f.svc.ListEntries(context.Background(), "u1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries.Data) != 1 || entries.Data[0].Amount != 200 || entries.Data[0].Kind != credits.EntryPurchase || entries.Data[0].Reference != "cs_1" {
		t.Errorf("entries = %+v", entries.Data)
	}
}

func testFulfilDuplicatesSequential(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	for i := 0; i < 3; i++ {
		f.deliver("evt_1", credits.EventCheckoutCompleted, paid("cs_1"))
	}
	if got, _ := f.balance("u1"); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
}

func testFulfilDuplicatesConcurrent(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	const deliveries = 20
	// Half the deliveries repeat one event, half are distinct events for the
	// same session. They are parsed here: a spawned goroutine must not call
	// t.Fatal.
	events := make([]credits.StripeEvent, deliveries)
	for i := range events {
		id := "evt_same"
		if i%2 == 1 {
			id = fmt.Sprintf("evt_%d", i)
		}
		events[i] = testkit.MustEvent(t, testkit.Event(id, credits.EventCheckoutCompleted, false, paid("cs_1")))
	}
	var wg sync.WaitGroup
	errs := make(chan error, deliveries)
	for _, ev := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.HandleEvent(context.Background(), ev)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := f.balance("u1"); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
	if got := len(f.purchases("u1")); got != 1 {
		t.Errorf("purchases = %d, want 1", got)
	}
}

func testTwoEventsForOneSession(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	f.deliver("evt_1", credits.EventCheckoutCompleted, paid("cs_1"))
	second := f.deliver("evt_2", credits.EventCheckoutAsyncSucceeded, paid("cs_1"))
	if got, want := second.Error, "session already credited: nothing added"; got != want {
		t.Errorf("second event reason = %q, want %q", got, want)
	}
	if got, _ := f.balance("u1"); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
}

func testDelayedPayment(t *testing.T, open Opener) {
	tests := []struct {
		name        string
		second      string
		wantBalance int64
		wantStatus  string
		wantTrial   bool
	}{
		{"succeeded", credits.EventCheckoutAsyncSucceeded, 100, credits.SessionFulfilled, false},
		{"failed", credits.EventCheckoutAsyncFailed, 0, credits.SessionPaymentFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("u1", "u1@example.com")
			f.session("cs_1", "u1", "starter", 1)
			unpaid := paid("cs_1")
			unpaid.PaymentStatus = "unpaid"
			f.deliver("evt_1", credits.EventCheckoutCompleted, unpaid)
			if got, _ := f.balance("u1"); got != 0 {
				t.Fatalf("balance after unpaid completion = %d, want 0", got)
			}
			if got := f.sessionStatus("cs_1"); got != credits.SessionAwaitingPayment {
				t.Fatalf("session status = %q, want %q", got, credits.SessionAwaitingPayment)
			}
			second := unpaid
			if tt.second == credits.EventCheckoutAsyncSucceeded {
				second.PaymentStatus = "paid"
			}
			f.deliver("evt_2", tt.second, second)
			balance, trial := f.balance("u1")
			if balance != tt.wantBalance || trial != tt.wantTrial {
				t.Errorf("balance, trial = %d, %t; want %d, %t", balance, trial, tt.wantBalance, tt.wantTrial)
			}
			if got := f.sessionStatus("cs_1"); got != tt.wantStatus {
				t.Errorf("session status = %q, want %q", got, tt.wantStatus)
			}
		})
	}
}

func testAsyncSuccessBeforeCompletion(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	f.deliver("evt_2", credits.EventCheckoutAsyncSucceeded, paid("cs_1"))
	unpaid := paid("cs_1")
	unpaid.PaymentStatus = "unpaid"
	f.deliver("evt_1", credits.EventCheckoutCompleted, unpaid)
	if got, _ := f.balance("u1"); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
	if got := f.sessionStatus("cs_1"); got != credits.SessionFulfilled {
		t.Errorf("session status = %q, want fulfilled (an older event must not downgrade it)", got)
	}
}

func testExpiredSessionAddsNothing(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	s := paid("cs_1")
	s.PaymentStatus = "unpaid"
	f.deliver("evt_1", credits.EventCheckoutExpired, s)
	if got, _ := f.balance("u1"); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
	if got := f.sessionStatus("cs_1"); got != credits.SessionExpired {
		t.Errorf("session status = %q, want expired", got)
	}
}

func (f *fixture) sessionStatus(id string) string {
	f.t.Helper()
	var cs credits.CheckoutSession
	err := f.db.View(context.Background(), func(tx credits.Tx) (err error) {
		cs, err = tx.CheckoutSession(id)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs.Status
}

func testLivemodeMismatchAddsNothing(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	ev, err := f.svc.HandleEvent(context.Background(), testkit.MustEvent(t, testkit.Event("evt_live", credits.EventCheckoutCompleted, true, paid("cs_1"))))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != credits.EventIgnored {
		t.Errorf("status = %q, want ignored", ev.Status)
	}
	if got, _ := f.balance("u1"); got != 0 {
		t.Errorf("balance = %d, want 0", got)
	}
	events, err := f.svc.ListEvents(context.Background(), credits.EventIgnored, 10)
	if err != nil || len(events) != 1 || events[0].ID != "evt_live" {
		t.Errorf("ignored events = %+v, %v; want evt_live recorded", events, err)
	}
}

func testUnhandledEventTypeIsRecorded(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ev := f.deliver("evt_x", "customer.created", testkit.Session{ID: "cus_1"})
	if ev.Status != credits.EventIgnored {
		t.Errorf("status = %q, want ignored", ev.Status)
	}
}

// Foreign sessions (a Payment Link, say) are matched through the Stripe API.

func newForeignFixture(t *testing.T, open Opener) *fixture {
	f := newFixture(t, open)
	f.svc.Payments = foreignSessions{}
	return f
}

// foreignSessions stands in for the Stripe API that a foreign session is read
// from: every session has one line item, a pack of price mockPriceID, as
// stripe-mock's fixture has. The suite drives the store and the domain; the
// Stripe client's reading of a session is tested in the stripe package
// (TestRetrieveSessionReadsLineItems).
type foreignSessions struct {
	credits.Payments // what it does not fake panics, should a test reach it
}

func (foreignSessions) RetrieveSession(_ context.Context, id string, withLineItems bool) (credits.StripeSession, error) {
	s := credits.StripeSession{ID: id}
	if withLineItems {
		s.LineItems = []credits.LineItem{{PriceID: mockPriceID, Quantity: 1}}
	}
	return s, nil
}

func (f *fixture) drain() {
	f.t.Helper()
	if _, err := f.svc.ProcessPending(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) event(id string) credits.Event {
	f.t.Helper()
	var ev credits.Event
	err := f.db.View(context.Background(), func(tx credits.Tx) (err error) {
		ev, err = tx.Event(id)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

// testLookAlikeEmails: an account whose email differs from another's only by
// Unicode case or compatibility forms is refused (409), in either order; the
// same address, in any ASCII case, may be shared; a look-alike keeps its
// letters as written.
func testLookAlikeEmails(t *testing.T, open Opener) {
	ctx := context.Background()
	svc := credits.NewService(open(t))
	for _, tt := range []struct{ id, email, wantCode string }{
		{"kate", "kate@example.com", ""},
		{"kelvin", "\u212Aate@example.com", credits.ECONFLICT},
		{"fullwidth", "\uff4bate@example.com", credits.ECONFLICT},
		{"capital", "\u212AATE@EXAMPLE.COM", credits.ECONFLICT},
		{"kate-again", "KATE@Example.com", ""},
		{"kim-kelvin", "\u212Aim@example.com", ""},
		{"kim", "kim@example.com", credits.ECONFLICT},
		{"kim-kelvin-again", "\u212Aim@EXAMPLE.com", ""},
		{"emile", "\u00c9mile@example.com", ""},
		{"emile-lower", "\u00e9mile@example.com", credits.ECONFLICT},
		{"emile-decomposed", "E\u0301mile@example.com", credits.ECONFLICT},
	} {
		a, err := svc.CreateAccount(ctx, tt.id, tt.email)
		if credits.ErrorCode(err) != tt.wantCode && !(tt.wantCode == "" && err == nil) {
			t.Errorf("CreateAccount(%s, %q) = %v, want code %q", tt.id, tt.email, err, tt.wantCode)
			continue
		}
		if err == nil && a.Email != credits.NormalizeEmail(tt.email) {
			t.Errorf("account %s's email = %q, want %q as written (ASCII lower-cased)", tt.id, a.Email, credits.NormalizeEmail(tt.email))
		}
	}
	if a, err := svc.GetAccount(ctx, "kim-kelvin"); err != nil || a.Email != "\u212aim@example.com" {
		t.Errorf("the Kelvin-sign account = %q, %v; want its Kelvin sign kept", a.Email, err)
	}
}

// foreignSessionCase is a foreign session, and whom it credits.
type foreignSessionCase struct {
	name       string
	session    testkit.Session
	pack       string // price id of the catalog's pack
	wantStatus string
	wantReason string
	wantCredit string // account that gets the credits
}

func foreignSessionCases() []foreignSessionCase {
	return []foreignSessionCase{
		{"by email", testkit.Session{CustomerEmail: "u1@example.com"}, mockPriceID, credits.EventProcessed, "", "u1"},
		{"email case differs", testkit.Session{CustomerEmail: "U1@Example.com"}, mockPriceID, credits.EventProcessed, "", "u1"},
		{"by client_reference_id", testkit.Session{ClientReferenceID: "u2", CustomerEmail: "u1@example.com"}, mockPriceID, credits.EventProcessed, "", "u2"},
		{"by metadata", testkit.Session{Metadata: map[string]string{"account_id": "u2"}}, mockPriceID, credits.EventProcessed, "", "u2"},
		{"unknown reference falls back to email", testkit.Session{ClientReferenceID: "nobody", CustomerEmail: "u1@example.com"}, mockPriceID, credits.EventProcessed, "", "u1"},
		{"unknown user", testkit.Session{CustomerEmail: "stranger@example.com"}, mockPriceID, credits.EventUnmatched,
			"account not found: no account with email stranger@example.com", ""},
		{"shared email", testkit.Session{CustomerEmail: "shared@example.com"}, mockPriceID, credits.EventUnmatched,
			"account not found: email shared@example.com is shared by 2 accounts", ""},
		{"unknown pack", testkit.Session{CustomerEmail: "u1@example.com"}, "price_other", credits.EventUnmatched,
			"no pack has stripe_price_id " + mockPriceID, ""},
		{"spaces around the email", testkit.Session{CustomerEmail: " U1@Example.com "}, mockPriceID, credits.EventProcessed, "", "u1"},
		// k1's email is written with U+212A KELVIN SIGN: the real kate@ paying
		// must not credit it, nor its session the real kim@.
		{"the real address does not credit a Kelvin-sign look-alike", testkit.Session{CustomerEmail: "kate@example.com"}, mockPriceID, credits.EventUnmatched,
			"account not found: no account with email kate@example.com", ""},
		{"a Kelvin-sign address does not credit the real one", testkit.Session{CustomerEmail: "\u212Aim@example.com"}, mockPriceID, credits.EventUnmatched,
			`account not found: no account with email "\u212aim@example.com"`, ""},
		{"a fullwidth address does not credit the real one", testkit.Session{CustomerEmail: "\uff4bim@example.com"}, mockPriceID, credits.EventUnmatched,
			`account not found: no account with email "\uff4bim@example.com"`, ""},
		{"the Kelvin-sign address credits its own account", testkit.Session{CustomerEmail: "\u212Aate@Example.COM"}, mockPriceID, credits.EventProcessed, "", "k1"},
	}
}

func testForeignSessionMatching(t *testing.T, open Opener) {
	for _, tt := range foreignSessionCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newForeignFixture(t, open)
			f.pack("mocked", 250, tt.pack)
			f.account("u1", "u1@example.com")
			f.account("u2", "u2@example.com")
			f.account("s1", "shared@example.com")
			f.account("s2", "shared@example.com")
			f.account("k1", "\u212Aate@example.com")
			f.account("kim", "kim@example.com")
			s := tt.session
			s.ID, s.PaymentStatus, s.AmountTotal, s.Currency = "cs_foreign", "paid", 500, "usd"

			ev := f.deliver("evt_f", credits.EventCheckoutCompleted, s)
			if ev.Status != credits.EventPending {
				t.Fatalf("status on receipt = %q, want pending (the lookup must not hold the webhook)", ev.Status)
			}
			f.drain()

			got := f.event("evt_f")
			if got.Status != tt.wantStatus || got.Error != tt.wantReason {
				t.Errorf("event = %q %q, want %q %q", got.Status, got.Error, tt.wantStatus, tt.wantReason)
			}
			for _, id := range []string{"u1", "u2", "s1", "s2", "k1", "kim"} {
				want := int64(0)
				if id == tt.wantCredit {
					want = 250
				}
				if balance, _ := f.balance(id); balance != want {
					t.Errorf("balance of %s = %d, want %d", id, balance, want)
				}
			}
			// A redelivery after matching adds nothing more.
			f.deliver("evt_f2", credits.EventCheckoutAsyncSucceeded, s)
			f.drain()
			if tt.wantCredit != "" {
				if balance, _ := f.balance(tt.wantCredit); balance != 250 {
					t.Errorf("balance after a second event = %d, want 250", balance)
				}
			}
		})
	}
}

func testForeignSessionUnpaidAddsNothing(t *testing.T, open Opener) {
	f := newForeignFixture(t, open)
	f.pack("mocked", 250, mockPriceID)
	f.account("u1", "u1@example.com")
	ev := f.deliver("evt_f", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_f", PaymentStatus: "unpaid", CustomerEmail: "u1@example.com"})
	if ev.Status != credits.EventProcessed {
		t.Errorf("status = %q, want processed", ev.Status)
	}
	if balance, _ := f.balance("u1"); balance != 0 {
		t.Errorf("balance = %d, want 0", balance)
	}
}

// unreachable is a Payments whose every call fails, as Stripe does when it is
// down; stripe-mock cannot be made to fail on purpose.
type unreachable struct {
	credits.Payments // what it does not fake panics, should a test reach it
}

func (unreachable) CreateCheckoutSession(context.Context, credits.CheckoutRequest) (string, string, error) {
	return "", "", errors.New("connection refused")
}

func (unreachable) RetrieveSession(context.Context, string, bool) (credits.StripeSession, error) {
	return credits.StripeSession{}, errors.New("connection refused")
}

func testForeignLookupRetriesThenFails(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.svc.Payments = unreachable{}
	f.account("u1", "u1@example.com")
	f.deliver("evt_f", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_f", PaymentStatus: "paid", CustomerEmail: "u1@example.com"})
	f.drain()
	ev := f.event("evt_f")
	if ev.Status != credits.EventPending || ev.Attempts != 1 || ev.Error != "connection refused" || !ev.NextAttempt.After(f.now) {
		t.Fatalf("after one failure: %+v", ev)
	}
	// Not due yet: nothing is claimed.
	if n, err := f.svc.ProcessPending(context.Background()); err != nil || n != 0 {
		t.Fatalf("claimed %d before the retry was due (err %v)", n, err)
	}
	for i := 1; i < credits.MaxEventAttempts; i++ {
		f.now = f.now.Add(2 * time.Hour)
		f.drain()
	}
	ev = f.event("evt_f")
	if ev.Status != credits.EventFailed || ev.Attempts != credits.MaxEventAttempts {
		t.Errorf("after %d failures: status %q attempts %d, want failed", credits.MaxEventAttempts, ev.Status, ev.Attempts)
	}
}

func testCheckoutWithoutStripeKeyIsUnavailable(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	_, _, err := f.svc.CreateCheckout(context.Background(), "u1", "starter", 1, false, credits.ReturnURLs{}, nil)
	if got := credits.ErrorCode(err); got != credits.EUNAVAILABLE {
		t.Fatalf("code = %q, want %q (%v)", got, credits.EUNAVAILABLE, err)
	}
}

// testPurchasesNewestFirst: an account's purchases list newest first, only
// its own (purchases of two accounts interleaved), as many as asked.
func testPurchasesNewestFirst(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.account("u2", "u2@example.com")
	f.account("u3", "u3@example.com")
	f.buy("cs_a", "u1", "pi_a", 1)
	f.buy("cs_b", "u2", "pi_b", 1)
	f.buy("cs_c", "u1", "pi_c", 2)
	f.buy("cs_d", "u1", "pi_d", 1)
	sessions := func(accountID string, limit int) []string {
		t.Helper()
		list, err := f.svc.ListPurchases(context.Background(), accountID, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range list {
			if p.AccountID != accountID {
				t.Errorf("purchase %s of %s listed for %s", p.SessionID, p.AccountID, accountID)
			}
			ids = append(ids, p.SessionID)
		}
		return ids
	}
	for _, tt := range []struct {
		account string
		limit   int
		want    []string
	}{
		{"u1", 10, []string{"cs_d", "cs_c", "cs_a"}},
		{"u1", 2, []string{"cs_d", "cs_c"}},
		{"u1", 1, []string{"cs_d"}},
		{"u2", 10, []string{"cs_b"}},
		{"u3", 10, nil},
	} {
		if got := sessions(tt.account, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("purchases of %s (limit %d): got %v, want %v", tt.account, tt.limit, got, tt.want)
		}
	}
	if violations, err := f.svc.Verify(context.Background()); err != nil || len(violations) > 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
}
