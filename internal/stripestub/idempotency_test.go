package stripestub

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
)

func TestSameKeySameParametersReplaysTheFirstAnswer(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	first, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	second, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := second.ID, first.ID; got != want {
		t.Errorf("replayed PaymentIntent %s, want %s", got, want)
	}
	if got, want := string(second.LastResponse.RawJSON), string(first.LastResponse.RawJSON); got != want {
		t.Errorf("replayed body differs:\n%s\nwant\n%s", got, want)
	}
	if replayed(first) || !replayed(second) {
		t.Errorf("Idempotent-Replayed first %v second %v, want false then true", replayed(first), replayed(second))
	}
	if got, want := second.LastResponse.Header.Get("Original-Request"), first.LastResponse.RequestID; got != want {
		t.Errorf("Original-Request %q, want the first request's id %q", got, want)
	}
	if got, want := len(s.SucceededPaymentIntents()), 1; got != want {
		t.Errorf("%d succeeded PaymentIntents, want %d", got, want)
	}
}

func TestSameKeyOtherParametersIsAnIdempotencyError(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 2)
	if _, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil)); err != nil {
		t.Fatal(err)
	}
	for name, params := range map[string]*stripe.PaymentIntentCreateParams{
		"another card":   chargeParams("rch_1", "cus_1", "pm_other", 500, nil),
		"another amount": chargeParams("rch_1", "cus_1", "pm_card_visa", 700, nil),
		"more metadata":  chargeParams("rch_1", "cus_1", "pm_card_visa", 500, map[string]string{"k": "v"}),
	} {
		_, err := api.V1PaymentIntents.Create(ctx, params)
		stripeErr := apiErr(t, err)
		if got, want := stripeErr.Type, stripe.ErrorTypeIdempotency; got != want {
			t.Errorf("%s: error type %q, want %q", name, got, want)
		}
		if got, want := stripeErr.HTTPStatusCode, http.StatusBadRequest; got != want {
			t.Errorf("%s: status %d, want %d", name, got, want)
		}
	}
	if got, want := len(s.PaymentIntents()), 1; got != want {
		t.Errorf("%d PaymentIntents, want %d", got, want)
	}
	// stripe-go does not retry an idempotency_error: one request each.
	if got, want := s.RequestCount(http.MethodPost, "/v1/payment_intents"), 4; got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
}

func TestKeyInUseAnswers409AndIsNotRetriedByStripeGo(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 2)
	hold := s.HoldNext(http.MethodPost, "/v1/payment_intents")
	type result struct {
		pi  *stripe.PaymentIntent
		err error
	}
	done := make(chan result, 1)
	go func() {
		pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
		done <- result{pi, err}
	}()
	<-hold.Arrived()
	_, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	stripeErr := apiErr(t, err)
	if got, want := stripeErr.Code, stripe.ErrorCodeIdempotencyKeyInUse; got != want {
		t.Errorf("code %q, want %q", got, want)
	}
	if got, want := stripeErr.HTTPStatusCode, http.StatusConflict; got != want {
		t.Errorf("status %d, want %d", got, want)
	}
	// stripe-go v85 retries a 409 only when it carries no Stripe error
	// (a Stripe error's canRetry decides first): one request, not three.
	if got, want := s.RequestCount(http.MethodPost, "/v1/payment_intents"), 2; got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
	hold.Release()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	again, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.ID, r.pi.ID; got != want || !replayed(again) {
		t.Errorf("after the held request: %s (replayed %v), want %s replayed", got, replayed(again), want)
	}
}

func TestPrunedKeyChargesAgain(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	first, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	s.PruneIdempotencyKeys()
	second, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID || replayed(second) {
		t.Errorf("after pruning got %s (replayed %v), want a new PaymentIntent", second.ID, replayed(second))
	}
	if got, want := len(s.SucceededPaymentIntents()), 2; got != want {
		t.Errorf("%d succeeded PaymentIntents, want %d: the card is charged twice", got, want)
	}
	if got, want := s.IdempotencyKeys("/v1/payment_intents"), []string{"rch_1", "rch_1"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("keys %v, want %v", got, want)
	}
}

func TestSaved500IsReplayedForItsKey(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 2)
	s.FailNext(http.MethodPost, "/v1/payment_intents", http.StatusInternalServerError)
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
		stripeErr := apiErr(t, err)
		if got, want := stripeErr.Type, stripe.ErrorTypeAPI; got != want {
			t.Errorf("attempt %d: type %q, want %q", attempt, got, want)
		}
		if got, want := stripeErr.HTTPStatusCode, http.StatusInternalServerError; got != want {
			t.Errorf("attempt %d: status %d, want %d", attempt, got, want)
		}
		if got, want := stripeErr.LastResponse.Header.Get("Idempotent-Replayed") == "true", attempt == 2; got != want {
			t.Errorf("attempt %d: replayed %v, want %v", attempt, got, want)
		}
	}
	// stripe-go v85 does not retry a 500 that carries a Stripe error.
	if got, want := s.RequestCount(http.MethodPost, "/v1/payment_intents"), 2; got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
	if got := len(s.PaymentIntents()); got != 0 {
		t.Errorf("%d PaymentIntents after a 500, want none", got)
	}
	s.PruneIdempotencyKeys()
	if _, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil)); err != nil {
		t.Errorf("after pruning: %v, want the charge made", err)
	}
}

func TestDroppedAnswerLeavesOneCharge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		retries int64
		wantErr bool
	}{
		{"stripe-go retries with the same key", 2, false},
		{"no retries: the caller sees no answer", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, tc.retries)
			s.DropAnswerNext(http.MethodPost, "/v1/payment_intents")
			pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
			if got := err != nil; got != tc.wantErr {
				t.Fatalf("error %v, want an error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && !replayed(pi) {
				t.Errorf("the retry's answer was not a replay")
			}
			if got, want := len(s.SucceededPaymentIntents()), 1; got != want {
				t.Errorf("%d succeeded PaymentIntents, want %d", got, want)
			}
			keys := s.IdempotencyKeys("/v1/payment_intents")
			for _, key := range keys {
				if key != "rch_1" {
					t.Errorf("keys %v, want rch_1 only", keys)
				}
			}
		})
	}
}

func TestValidationFailuresAreNotSaved(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	params := chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil)
	params.Amount = nil
	_, err := api.V1PaymentIntents.Create(ctx, params)
	if got, want := apiErr(t, err).Code, stripe.ErrorCodeParameterMissing; got != want {
		t.Fatalf("code %q, want %q", got, want)
	}
	// Stripe keeps nothing for a request that failed validation: the same
	// key with the parameter added runs.
	pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pi.Status, stripe.PaymentIntentStatusSucceeded; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
}

func TestRateLimitIsNotSavedNorRetried(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 2)
	s.RateLimitNext(2)
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
		stripeErr := apiErr(t, err)
		if got, want := stripeErr.HTTPStatusCode, http.StatusTooManyRequests; got != want {
			t.Errorf("attempt %d: status %d, want %d", attempt, got, want)
		}
		if got, want := stripeErr.Code, stripe.ErrorCodeRateLimit; got != want {
			t.Errorf("attempt %d: code %q, want %q", attempt, got, want)
		}
	}
	pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil || replayed(pi) {
		t.Fatalf("third attempt: %v (replayed %v), want a first execution", err, pi != nil && replayed(pi))
	}
	if got, want := s.RequestCount(http.MethodPost, "/v1/payment_intents"), 3; got != want {
		t.Errorf("%d requests, want %d (stripe-go does not retry rate_limit)", got, want)
	}
}

func TestKeysOutliveTheirLifetimeOnlyByTheClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		prune       func(s *Stub)
		wantCharges int
	}{
		{"kept 23 hours", func(s *Stub) { s.SetIdempotencyKeyLifetime(24 * time.Hour); s.moveClock(23 * time.Hour) }, 1},
		{"gone after 25 hours", func(s *Stub) { s.SetIdempotencyKeyLifetime(24 * time.Hour); s.moveClock(25 * time.Hour) }, 2},
		{"no lifetime set", func(s *Stub) { s.moveClock(25 * time.Hour) }, 1},
		{"pruned when 24 hours old", func(s *Stub) { s.moveClock(25 * time.Hour); s.PruneIdempotencyKeysOlderThan(24 * time.Hour) }, 2},
		{"too young to prune", func(s *Stub) { s.moveClock(time.Hour); s.PruneIdempotencyKeysOlderThan(24 * time.Hour) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, 0)
			if _, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil)); err != nil {
				t.Fatal(err)
			}
			tc.prune(s)
			if _, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil)); err != nil {
				t.Fatal(err)
			}
			if got := len(s.SucceededPaymentIntents()); got != tc.wantCharges {
				t.Errorf("%d charges, want %d", got, tc.wantCharges)
			}
		})
	}
}

// moveClock sets the stub's clock d ahead of where it stands.
func (s *Stub) moveClock(d time.Duration) {
	at := s.Now().Add(d)
	s.SetNow(func() time.Time { return at })
}

func TestConcurrentRequestsWithOneKeyChargeOnce(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	const senders = 8
	ids := make(chan string, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("rch_1", "cus_1", "pm_card_visa", 500, nil))
			if err != nil {
				var e *stripe.Error
				if !errors.As(err, &e) || e.Code != stripe.ErrorCodeIdempotencyKeyInUse {
					t.Errorf("concurrent send: %v, want the charge or idempotency_key_in_use", err)
				}
				return
			}
			ids <- pi.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || len(s.PaymentIntents()) != 1 {
		t.Errorf("answers named %v and %d PaymentIntents exist, want one", seen, len(s.PaymentIntents()))
	}
}
