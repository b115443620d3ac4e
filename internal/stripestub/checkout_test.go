package stripestub

import (
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
)

// sessionParams is a payment session as stripe/client.go makes one.
func sessionParams(expiresAt int64) *stripe.CheckoutSessionCreateParams {
	return &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String("payment"),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Quantity: stripe.Int64(2),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(500),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Starter")}}}},
		CustomerEmail:      stripe.String("u1@example.com"),
		SuccessURL:         stripe.String("https://example.com/ok"),
		CancelURL:          stripe.String("https://example.com/cancel"),
		Metadata:           map[string]string{"account_id": "u1"},
		PaymentIntentData:  &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: map[string]string{"account_id": "u1", "credits_checkout": "chk_1"}},
		PaymentMethodTypes: []*string{stripe.String("card")},
		ExpiresAt:          stripe.Int64(expiresAt),
	}
}

func TestCheckoutSessionLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		act        func(s *Stub, api *stripe.Client, id string) error
		wantStatus stripe.CheckoutSessionStatus
		wantPaid   bool
		wantEvent  string
	}{
		{"completed", func(s *Stub, _ *stripe.Client, id string) error { s.CompleteSession(id, "pm_card_visa"); return nil },
			"complete", true, "checkout.session.completed"},
		{"expired by the API", func(_ *Stub, api *stripe.Client, id string) error {
			_, err := api.V1CheckoutSessions.Expire(ctx, id, nil)
			return err
		}, "expired", false, "checkout.session.expired"},
		{"expired by the test", func(s *Stub, _ *stripe.Client, id string) error { s.ExpireSession(id); return nil },
			"expired", false, "checkout.session.expired"},
		{"expired when its time comes", func(s *Stub, _ *stripe.Client, _ string) error {
			later := s.Now().Add(2 * time.Hour)
			s.SetNow(func() time.Time { return later })
			return nil
		}, "expired", false, "checkout.session.expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, 0)
			cs, err := api.V1CheckoutSessions.Create(ctx, sessionParams(s.Now().Add(time.Hour).Unix()))
			if err != nil {
				t.Fatal(err)
			}
			if cs.Status != "open" || cs.AmountTotal != 1000 || cs.Currency != "usd" || cs.URL == "" {
				t.Fatalf("created %+v, want an open session of 1000 usd with a url", cs)
			}
			if err := tc.act(s, api, cs.ID); err != nil {
				t.Fatal(err)
			}
			got, err := api.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || (got.PaymentStatus == "paid") != tc.wantPaid {
				t.Errorf("session %s %s, want %s paid %v", got.Status, got.PaymentStatus, tc.wantStatus, tc.wantPaid)
			}
			if tc.wantPaid {
				pi := s.SucceededPaymentIntents()
				if len(pi) != 1 || got.PaymentIntent == nil || got.PaymentIntent.ID != pi[0].ID || pi[0].Amount != 1000 || pi[0].Metadata["credits_checkout"] != "chk_1" {
					t.Errorf("paid with %+v, want one PaymentIntent of 1000 with payment_intent_data's metadata", pi)
				}
			}
			if events := s.Events(tc.wantEvent); len(events) != 1 {
				t.Errorf("%d %s events, want 1", len(events), tc.wantEvent)
			}
			_, err = api.V1CheckoutSessions.Expire(ctx, cs.ID, nil)
			if e := apiErr(t, err); e.HTTPStatusCode != 400 || e.Type != stripe.ErrorTypeInvalidRequest {
				t.Errorf("expiring a %s session: %d %s, want 400 invalid_request_error", got.Status, e.HTTPStatusCode, e.Type)
			}
		})
	}
}

func TestCheckoutSessionLineItemsListAndErrors(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.AddPrice("price_starter", 700, "usd")
	params := sessionParams(s.Now().Add(time.Hour).Unix())
	params.LineItems = []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_starter"), Quantity: stripe.Int64(3)}}
	cs, err := api.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	var items []*stripe.LineItem
	for item, err := range api.V1CheckoutSessions.ListLineItems(ctx, &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(cs.ID)}).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item)
	}
	if len(items) != 1 || items[0].Price.ID != "price_starter" || items[0].Quantity != 3 || items[0].AmountTotal != 2100 {
		t.Errorf("line items %+v, want 3 × price_starter = 2100", items)
	}
	var listed []string
	for cs, err := range api.V1CheckoutSessions.List(ctx, &stripe.CheckoutSessionListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: s.Now().Unix() - 1}}).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, cs.ID)
	}
	if len(listed) != 1 || listed[0] != cs.ID {
		t.Errorf("listed %v, want %s", listed, cs.ID)
	}
	both := sessionParams(s.Now().Add(time.Hour).Unix())
	both.Customer = stripe.String("cus_1")
	unknownPrice := sessionParams(s.Now().Add(time.Hour).Unix())
	unknownPrice.LineItems = []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_nope"), Quantity: stripe.Int64(1)}}
	for name, tc := range map[string]struct {
		params   *stripe.CheckoutSessionCreateParams
		wantHTTP int
	}{
		"customer and customer_email": {both, 400},
		"expires in 10 minutes":       {sessionParams(s.Now().Add(10 * time.Minute).Unix()), 400},
		"expires in 25 hours":         {sessionParams(s.Now().Add(25 * time.Hour).Unix()), 400},
		"unknown price":               {unknownPrice, 400},
	} {
		_, err := api.V1CheckoutSessions.Create(ctx, tc.params)
		if e := apiErr(t, err); e.HTTPStatusCode != tc.wantHTTP {
			t.Errorf("%s: %d, want %d", name, e.HTTPStatusCode, tc.wantHTTP)
		}
	}
}

func TestDelayedSessionPaymentSettlesLater(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		to        string
		wantPaid  stripe.CheckoutSessionPaymentStatus
		wantEvent string
	}{
		{"succeeded", "paid", "checkout.session.async_payment_succeeded"},
		{"requires_payment_method", "unpaid", "checkout.session.async_payment_failed"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, 0)
			cs, err := api.V1CheckoutSessions.Create(ctx, sessionParams(s.Now().Add(time.Hour).Unix()))
			if err != nil {
				t.Fatal(err)
			}
			s.CompleteSessionPending(cs.ID, "pm_bank")
			pending, _ := api.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
			if pending.Status != "complete" || pending.PaymentStatus != "unpaid" {
				t.Fatalf("pending session %s %s, want complete unpaid", pending.Status, pending.PaymentStatus)
			}
			s.SetPaymentIntentStatus(pending.PaymentIntent.ID, tc.to)
			got, _ := api.V1CheckoutSessions.Retrieve(ctx, cs.ID, nil)
			if got.PaymentStatus != tc.wantPaid || len(s.Events(tc.wantEvent)) != 1 {
				t.Errorf("session %s with %d %s events, want %s and one", got.PaymentStatus, len(s.Events(tc.wantEvent)), tc.wantEvent, tc.wantPaid)
			}
		})
	}
}
