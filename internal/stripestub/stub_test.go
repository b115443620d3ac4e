package stripestub

import (
	"context"
	"errors"
	"net/http"
	"testing"

	stripe "github.com/stripe/stripe-go/v85"
)

// newAPI is a stripe-go client of the stub, as stripe/client.go makes one,
// with retries as given and no sleep between them.
func newAPI(t *testing.T, url string, retries int64) *stripe.Client {
	t.Helper()
	config := &stripe.BackendConfig{URL: stripe.String(url), MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}
	backend, ok := stripe.GetBackendWithConfig(stripe.APIBackend, config).(*stripe.BackendImplementation)
	if !ok {
		t.Fatal("stripe-go's API backend is not a *BackendImplementation")
	}
	backend.SetNetworkRetriesSleep(false)
	return stripe.NewClient("sk_test_stub", stripe.WithBackends(&stripe.Backends{API: backend, Connect: backend, Uploads: backend}))
}

// chargeParams is an off-session charge as stripe/recharge.go sends it.
func chargeParams(key, customer, pm string, amount int64, metadata map[string]string) *stripe.PaymentIntentCreateParams {
	params := &stripe.PaymentIntentCreateParams{
		Amount: stripe.Int64(amount), Currency: stripe.String("usd"), Customer: stripe.String(customer),
		PaymentMethod: stripe.String(pm), Confirm: stripe.Bool(true), OffSession: stripe.Bool(true),
		Description: stripe.String("recharge"), Metadata: metadata,
		PaymentMethodTypes: []*string{stripe.String("card")},
	}
	if key != "" {
		params.SetIdempotencyKey(key)
	}
	return params
}

// apiErr returns err's Stripe error, failing the test when it has none.
func apiErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var stripeErr *stripe.Error
	if !errors.As(err, &stripeErr) {
		t.Fatalf("got error %v, want a Stripe error", err)
	}
	return stripeErr
}

func replayed(pi *stripe.PaymentIntent) bool {
	return pi.LastResponse != nil && pi.LastResponse.Header.Get("Idempotent-Replayed") == "true"
}

var ctx = context.Background()

func TestStubAnswersWhatItDoesNotModelFromStripeMock(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	si, err := api.V1SetupIntents.Retrieve(ctx, "seti_123", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := si.Object, "setup_intent"; got != want {
		t.Errorf("forwarded object %q, want %q", got, want)
	}
	if got, want := s.RequestCount(http.MethodGet, "/v1/setup_intents/seti_123"), 1; got != want {
		t.Errorf("%d requests recorded, want %d", got, want)
	}
}
