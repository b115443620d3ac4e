// Package storetest is the conformance suite that every credits.Store must
// pass: it drives the service (fulfilment, spending, holds, expiry,
// idempotency, pagination, verify) on a real store. A behaviour that is not in
// this suite is not promised.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// Opener returns a new, empty, migrated store that lives as long as the test.
type Opener func(t testing.TB) credits.Store

// Run runs the whole suite against the stores that open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"FailedUpdatesLeaveNothing", testFailedUpdatesLeaveNothing},
		{"PanicInUpdate", testPanicInUpdate},
		{"FulfilPaidSession", testFulfilPaidSession},
		{"FulfilDuplicatesSequential", testFulfilDuplicatesSequential},
		{"FulfilDuplicatesConcurrent", testFulfilDuplicatesConcurrent},
		{"TwoEventsForOneSession", testTwoEventsForOneSession},
		{"DelayedPayment", testDelayedPayment},
		{"AsyncSuccessBeforeCompletion", testAsyncSuccessBeforeCompletion},
		{"ExpiredSessionAddsNothing", testExpiredSessionAddsNothing},
		{"LivemodeMismatchAddsNothing", testLivemodeMismatchAddsNothing},
		{"UnhandledEventTypeIsRecorded", testUnhandledEventTypeIsRecorded},
		{"ForeignSessionMatching", testForeignSessionMatching},
		{"LookAlikeEmails", testLookAlikeEmails},
		{"ForeignSessionUnpaidAddsNothing", testForeignSessionUnpaidAddsNothing},
		{"ForeignLookupRetriesThenFails", testForeignLookupRetriesThenFails},
		{"ConcurrentWorkersClaimEachEventOnce", testConcurrentWorkersClaimEachEventOnce},
		{"ClaimOfADeadWorkerRunsOut", testClaimOfADeadWorkerRunsOut},
		{"ReplayAppliesMissedEventsOnce", testReplayAppliesMissedEventsOnce},
		{"Refunds", testRefunds},
		{"RefundAfterSpendingLeavesDebt", testRefundAfterSpendingLeavesDebt},
		{"RefundWithAHoldOpen", testRefundWithAHoldOpen},
		{"RefundWithAHoldCaptured", testRefundWithAHoldCaptured},
		{"RefundFailedDuringAHold", testRefundFailedDuringAHold},
		{"Disputes", testDisputes},
		{"DisputeEscalation", testDisputeEscalation},
		{"DisputeEventsInEveryOrder", testDisputeEventsInEveryOrder},
		{"RefundAfterExpiry", testRefundAfterExpiry},
		{"RefundBeforeExpiry", testRefundBeforeExpiry},
		{"RefundFailedAfterExpiry", testRefundFailedAfterExpiry},
		{"RefundWithAHoldAcrossExpiry", testRefundWithAHoldAcrossExpiry},
		{"VerifyCountsExpiredCredits", testVerifyCountsExpiredCredits},
		{"DisputeWonAfterExpiry", testDisputeWonAfterExpiry},
		{"DisputeAfterExpiry", testDisputeAfterExpiry},
		{"DisputeEventsAroundExpiryInEveryOrder", testDisputeEventsAroundExpiryInEveryOrder},
		{"PaymentsInAnyOrder", testPaymentsInAnyOrder},
		{"NamedPaymentCases", testNamedPaymentCases},
		{"SoldVersusPaid", testSoldVersusPaid},
		{"CheckoutWithoutStripeKeyIsUnavailable", testCheckoutWithoutStripeKeyIsUnavailable},
		{"Catalog", testCatalog},
		{"AccountsAndPagination", testAccountsAndPagination},
		{"EntriesPagination", testEntriesPagination},
		{"EventsByStatus", testEventsByStatus},
		{"EventsPagesAndRetention", testEventsPagesAndRetention},
		{"WebhooksReachTheApplication", testWebhooksReachTheApplication},
		{"SlowEndpointDelaysOnlyItself", testSlowEndpointDelaysOnlyItself},
		{"DisabledEndpointStopsOnEveryReplica", testDisabledEndpointStopsOnEveryReplica},
		{"DispatcherServesOthersMeanwhile", testDispatcherServesOthersMeanwhile},
		{"DeliveryWaitsAtAGap", testDeliveryWaitsAtAGap},
		{"EventsWithTheirCauses", testEventsWithTheirCauses},
		{"EventSequenceAcrossLocks", testEventSequenceAcrossLocks},
		{"NewPaymentAsStored", testNewPaymentAsStored},
		{"PurchasesNewestFirst", testPurchasesNewestFirst},
		{"BalanceThresholds", testBalanceThresholds},
		{"WebhookSecretRotation", testWebhookSecretRotation},
		{"WebSessions", testWebSessions},
		{"VerifyFindsALateDueTime", testVerifyFindsALateDueTime},
		{"AutoRechargeSettings", testAutoRechargeSettings},
		{"OneRechargeForConcurrentDebits", testOneRechargeForConcurrentDebits},
		{"RechargeCreditedOnce", testRechargeCreditedOnce},
		{"RechargeMonthlyLimit", testRechargeMonthlyLimit},
		{"RechargeNeedsTheCustomer", testRechargeNeedsTheCustomer},
		{"RechargeDeclinedTwiceTurnsOff", testRechargeDeclinedTwiceTurnsOff},
		{"RechargeFailedEvent", testRechargeFailedEvent},
		{"RechargeRefundedLikeAPurchase", testRechargeRefundedLikeAPurchase},
		{"SavedCardRemoved", testSavedCardRemoved},
		{"RechargeClaims", testRechargeClaims},
		{"RechargeNotChargedTwiceAfterADay", testRechargeNotChargedTwiceAfterADay},
		{"RechargeSecondPaymentWaitsForAnOperator", testRechargeSecondPaymentWaitsForAnOperator},
		{"RechargeAnswersTreated", testRechargeAnswersTreated},
		{"RechargeNewKeyHoursAfterA500", testRechargeNewKeyHoursAfterA500},
		{"RechargeSoftDeclineRetriesOnce", testRechargeSoftDeclineRetriesOnce},
		{"RechargeProcessingReadBack", testRechargeProcessingReadBack},
		{"RechargeCanceledPaymentIntent", testRechargeCanceledPaymentIntent},
		{"RechargeLinkEnds", testRechargeLinkEnds},
		{"RechargeCustomerAfterDeletion", testRechargeCustomerAfterDeletion},
		{"RechargeOneCurrencyAMonth", testRechargeOneCurrencyAMonth},
		{"RechargeCallsEndWithinTheLease", testRechargeCallsEndWithinTheLease},
		{"RechargeView", testRechargeView},
		{"RechargeAttackSentNotCanceledBlind", testAttackSentRechargeNotCanceledBlind},
		{"RechargeAttackLookUpThatNeverAnswers", testAttackLookUpThatNeverAnswers},
		{"RechargeAttackNewKeyAfterAnIndeterminate500", testAttackNewKeyAfterAnIndeterminate500},
		{"RechargeAttackLinkNeverMade", testAttackLinkNeverMade},
		{"RechargeAttackOtherPaymentFailsTheRecharge", testAttackOtherPaymentFailsTheRecharge},
		{"RechargeAttackAuthenticationAsDeclineCode", testAttackAuthenticationAsDeclineCode},
		{"RechargeAttackLookUpWindowAndClockSkew", testAttackLookUpWindowAndClockSkew},
		{"RechargeAttackGiveUpCountsFromCreation", testAttackGiveUpCountsFromCreation},
		{"SavedCardOfAnotherCustomer", testSavedCardOfAnotherCustomer},
		{"WebhookResend", testWebhookResend},
		{"CreditsExpiring", testCreditsExpiring},
		{"BurnDownOrder", testBurnDownOrder},
		{"DebitSpansLots", testDebitSpansLots},
		{"TakeFromLots", testTakeFromLots},
		{"LockAhead", testLockAhead},
		{"DebitRefusedWhenShort", testDebitRefusedWhenShort},
		{"ConcurrentDebits", testConcurrentDebits},
		{"LotExpiry", testLotExpiry},
		{"SweepSettlesUntouchedAccounts", testSweepSettlesUntouchedAccounts},
		{"ExpiryDuringHold", testExpiryDuringHold},
		{"HoldOutlivesItsLot", testHoldOutlivesItsLot},
		{"PartialCapture", testPartialCapture},
		{"HoldStateConflicts", testHoldStateConflicts},
		{"ReleaseTwiceAnswersTheSame", testReleaseTwiceAnswersTheSame},
		{"HoldRefusedWhenShort", testHoldRefusedWhenShort},
		{"ConcurrentCaptureAndRelease", testConcurrentCaptureAndRelease},
		{"Adjustments", testAdjustments},
		{"GrantOverflowRefused", testGrantOverflowRefused},
		{"TrialCredits", testTrialCredits},
		{"TestClockOnlyMovesForward", testTestClockOnlyMovesForward},
		{"PackExpiryAppliesToPurchases", testPackExpiryAppliesToPurchases},
		{"IdempotentDebit", testIdempotentDebit},
		{"ConcurrentSameIdempotencyKey", testConcurrentSameIdempotencyKey},
		{"VerifyFindsCorruption", testVerifyFindsCorruption},
		{"LedgerIsAppendOnly", testLedgerIsAppendOnly},
		{"EntriesOfTwoLocksOfOneAccount", testEntriesOfTwoLocksOfOneAccount},
		{"FailedWriteLeavesNothing", testFailedWriteLeavesNothing},
		{"RandomOperations", testRandomOperations},
	}
	tests = append(tests, reconcileTests...)
	tests = append(tests, memberTests...)
	tests = append(tests, transferTests...)
	tests = append(tests, teamAttackTests...)
	tests = append(tests, teamAttack2Tests...)
	tests = append(tests, attack2Tests...)
	tests = append(tests, attack3Tests...)
	tests = append(tests, usageTests...)
	tests = append(tests, usageAttackTests...)
	tests = append(tests, usageAttack2Tests...)
	tests = append(tests, memberUsageTests...)
	tests = append(tests, memberAttackTests...)
	tests = append(tests, holdsAttackTests...)
	tests = append(tests, holdsExpiryAttackTests...)
	// Each case opens a store of its own (SQLite in its own directory,
	// PostgreSQL in its own schema): they run side by side.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func testConcurrentWorkersClaimEachEventOnce(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	const events = 25
	for i := range events {
		f.deliver(fmt.Sprintf("evt_%d", i), credits.EventCheckoutCompleted, testkit.Session{ID: fmt.Sprintf("cs_%d", i), PaymentStatus: "paid", CustomerEmail: "u1@example.com"})
	}
	counting := &countingPayments{}
	f.svc.Payments = counting
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := f.svc.ProcessPending(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := counting.calls(); got != events {
		t.Errorf("%d lookups for %d events: a claimed event was processed twice or not at all", got, events)
	}
	pending, err := f.svc.ListEvents(context.Background(), credits.EventPending, 100)
	if err != nil || len(pending) != events {
		t.Errorf("pending after one failed try each: %d (%v), want %d waiting for their retry", len(pending), err, events)
	}
}

// testClaimOfADeadWorkerRunsOut claims an event as a replica would and never
// finishes it, as if the replica died: nobody else takes it while the claim
// lasts, and another worker does once it runs out.
func testClaimOfADeadWorkerRunsOut(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.deliver("evt_1", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_1", PaymentStatus: "paid", CustomerEmail: "u1@example.com"})
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		claimed, err := tx.ClaimEvents(f.now, 2*time.Minute, 10)
		if len(claimed) != 1 {
			t.Errorf("claimed %d events, want 1", len(claimed))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingPayments{}
	f.svc.Payments = counting
	f.now = f.now.Add(time.Minute)
	f.drain()
	if counting.calls() != 0 {
		t.Fatal("an event was taken while another worker's claim lasted")
	}
	f.now = f.now.Add(2 * time.Minute)
	f.drain()
	if counting.calls() != 1 {
		t.Errorf("%d lookups after the claim ran out, want 1", counting.calls())
	}
}

// countingPayments fails every lookup and counts them.
type countingPayments struct {
	credits.Payments // what it does not fake panics, should a test reach it
	mu               sync.Mutex
	n                int
}

func (c *countingPayments) CreateCheckoutSession(context.Context, credits.CheckoutRequest) (string, string, error) {
	return "", "", fmt.Errorf("not used")
}

func (c *countingPayments) RetrieveSession(context.Context, string, bool) (credits.StripeSession, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return credits.StripeSession{}, fmt.Errorf("stripe unreachable")
}

func (c *countingPayments) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func testCatalog(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.pack("b-pack", 500, "price_b")
	f.pack("a-pack", 100, "")
	if _, err := f.svc.CreatePack(ctx, credits.Pack{ID: "hidden", Name: "Hidden", Credits: 1, UnitAmount: 1, Currency: "usd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreatePack(ctx, credits.Pack{ID: "a-pack", Name: "Again", Credits: 1, UnitAmount: 1, Currency: "usd", Active: true}); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("duplicate pack id: %v", err)
	}
	if _, err := f.svc.CreatePack(ctx, credits.Pack{Name: "Same price", Credits: 1, UnitAmount: 1, Currency: "usd", StripePriceID: "price_b"}); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("duplicate price id: %v", err)
	}
	active, err := f.svc.ListPacks(ctx, true)
	if err != nil || len(active) != 2 || active[0].ID != "a-pack" || active[1].ID != "b-pack" {
		t.Errorf("active packs = %+v (%v), want a-pack, b-pack by credits", active, err)
	}
	all, err := f.svc.ListPacks(ctx, false)
	if err != nil || len(all) != 3 {
		t.Errorf("all packs = %d (%v), want 3", len(all), err)
	}
	var byPrice credits.Pack
	err = f.db.View(ctx, func(tx credits.Tx) (err error) { byPrice, err = tx.PackByPriceID("price_b"); return err })
	if err != nil || byPrice.ID != "b-pack" || byPrice.CreatedAt.IsZero() {
		t.Errorf("pack by price = %+v (%v)", byPrice, err)
	}
}

func testAccountsAndPagination(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		f.account(id, id+"@example.com")
	}
	if _, err := f.svc.CreateAccount(ctx, "a", "other@example.com"); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("duplicate account: %v", err)
	}
	if _, err := f.svc.GetAccount(ctx, "zz"); credits.ErrorCode(err) != credits.ENOTFOUND {
		t.Errorf("unknown account: %v", err)
	}
	var seen []string
	after := ""
	for range 5 {
		page, err := f.svc.ListAccounts(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Data {
			seen = append(seen, a.ID)
		}
		if !page.HasMore {
			break
		}
		after = page.Data[len(page.Data)-1].ID
	}
	if fmt.Sprint(seen) != "[a b c d e]" {
		t.Errorf("accounts paged = %v, want a..e", seen)
	}
}

func testEntriesPagination(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.account("u2", "u2@example.com")
	for i := 1; i <= 7; i++ {
		f.grant("u1", int64(i), 0, 0)
		f.grant("u2", 100, 0, 0) // interleaved: u1's entries are not consecutive ids
	}
	var balances []int64
	before := int64(0)
	for range 10 {
		page, err := f.svc.ListEntries(context.Background(), "u1", before, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Data {
			balances = append(balances, e.BalanceAfter)
		}
		if !page.HasMore {
			break
		}
		before = page.Data[len(page.Data)-1].ID
	}
	if fmt.Sprint(balances) != "[28 21 15 10 6 3 1]" {
		t.Errorf("balances newest first = %v", balances)
	}
	// A cursor that is not one of u1's entries (u2's, or no entry at all)
	// still lists u1's entries below it.
	u2, err := f.svc.ListEntries(context.Background(), "u2", 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		before int64
		want   string
	}{
		{u2.Data[3].ID, "[10 6 3]"}, // u2's fourth newest comes right after u1's fourth entry
		{1 << 40, "[28 21 15]"},
		{1, "[]"},
	} {
		page, err := f.svc.ListEntries(context.Background(), "u1", c.before, 3)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range page.Data {
			got = append(got, e.BalanceAfter)
		}
		if fmt.Sprint(got) != c.want { // an empty page prints as []
			t.Errorf("before %d: balances %v, want %s", c.before, got, c.want)
		}
	}
	if _, err := f.svc.ListEntries(context.Background(), "ghost", 0, 3); credits.ErrorCode(err) != credits.ENOTFOUND {
		t.Errorf("entries of an unknown account: %v", err)
	}
}

func testEventsByStatus(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.deliver("evt_a", "customer.created", testkit.Session{ID: "cus_1"})
	f.now = f.now.Add(time.Second)
	f.deliver("evt_b", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_x", PaymentStatus: "paid", CustomerEmail: "nobody@example.com"})
	all, err := f.svc.ListEvents(context.Background(), "", 10)
	if err != nil || len(all) != 2 || all[0].ID != "evt_b" {
		t.Fatalf("events = %+v (%v), want newest first", all, err)
	}
	if string(all[0].Payload) == "" || all[0].Session == nil || all[0].Session.Email != "nobody@example.com" {
		t.Errorf("event lost its payload or session: %+v", all[0])
	}
	ignored, err := f.svc.ListEvents(context.Background(), credits.EventIgnored, 10)
	if err != nil || len(ignored) != 1 || ignored[0].ID != "evt_a" {
		t.Errorf("ignored events = %+v (%v)", ignored, err)
	}
}

func testConcurrentDebits(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	const requests = 1000
	var ok, short, failed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	start := time.Now()
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Half with a key: its lookup goes out with the account's
			// lock, which PostgreSQL sends ahead; the other half lock first.
			var idem *credits.Idempotency
			if i%2 == 0 {
				idem = &credits.Idempotency{Scope: "k/u1", Key: fmt.Sprint("race-", i), RequestHash: credits.HashRequest("debit", "1")}
			}
			_, _, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 1}, idem)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case credits.ErrorCode(err) == credits.EINSUFFICIENT:
				short++
			default:
				failed++
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 100 || short != 900 || failed != 0 {
		t.Errorf("%d succeeded, %d refused, %d failed; want 100, 900, 0", ok, short, failed)
	}
	f.wantAccount("u1", 0, 0)
	t.Logf("1000 concurrent debits against 100 available: %d succeeded, %d refused, in %v", ok, short, time.Since(start))
}

func testConcurrentCaptureAndRelease(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	h := f.hold("u1", 40, time.Hour)
	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, results[i] = f.svc.CaptureHold(context.Background(), h.ID, nil)
			} else {
				_, results[i] = f.svc.ReleaseHold(context.Background(), h.ID)
			}
		}()
	}
	wg.Wait()
	final, err := f.svc.GetHold(context.Background(), h.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range results {
		won := (i%2 == 0) == (final.Status == credits.HoldCaptured)
		if won && err != nil || !won && credits.ErrorCode(err) != credits.ECONFLICT {
			t.Errorf("call %d: %v (hold ended %s)", i, err, final.Status)
		}
	}
	if final.Status == credits.HoldCaptured {
		f.wantAccount("u1", 60, 60)
	} else {
		f.wantAccount("u1", 100, 100)
	}
}

// testEventsPagesAndRetention: events page with a cursor and filter by
// status and type; the payloads of old ignored events are dropped, and no
// other event's.
func testEventsPagesAndRetention(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	for i := range 5 {
		f.deliver(fmt.Sprintf("evt_ignored_%d", i), "customer.created", testkit.Session{})
		f.now = f.now.Add(time.Second)
	}
	f.buy("cs_1", "u1", "pi_1", 1)
	var seen []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		page, err := f.svc.PageEvents(context.Background(), credits.EventFilter{Status: credits.EventIgnored, StartingAfter: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Data {
			seen = append(seen, ev.ID)
		}
		if !page.HasMore {
			break
		}
		after = page.Data[len(page.Data)-1].ID
	}
	if want := []string{"evt_ignored_4", "evt_ignored_3", "evt_ignored_2", "evt_ignored_1", "evt_ignored_0"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("pages of ignored events: %v, want %v", seen, want)
	}
	byType, err := f.svc.PageEvents(context.Background(), credits.EventFilter{Type: credits.EventCheckoutCompleted})
	if err != nil || len(byType.Data) != 1 || byType.Data[0].ID != "evt_buy_cs_1" {
		t.Errorf("events of one type: %+v (%v)", byType.Data, err)
	}
	f.now = f.now.Add(credits.DefaultIgnoredPayloadRetention + time.Hour)
	if _, err := f.svc.SweepExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := f.event("evt_ignored_0"); len(ev.Payload) != 0 {
		t.Errorf("an old ignored event kept its payload (%d bytes)", len(ev.Payload))
	}
	if ev := f.event("evt_buy_cs_1"); len(ev.Payload) == 0 {
		t.Error("a purchase's event lost its payload")
	}
}
