package stripestub

import (
	"testing"

	stripe "github.com/stripe/stripe-go/v85"
)

func TestCustomers(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	params := &stripe.CustomerCreateParams{Email: stripe.String("u1@example.com"), Metadata: map[string]string{"account_id": "u1"}}
	params.SetIdempotencyKey("credits-customer-u1")
	c, err := api.V1Customers.Create(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.V1Customers.Retrieve(ctx, c.ID, nil)
	if err != nil || got.Email != "u1@example.com" || got.Metadata["account_id"] != "u1" || got.Deleted {
		t.Fatalf("retrieved %+v %v, want the customer", got, err)
	}
	s.DeleteCustomer(c.ID)
	deleted, err := api.V1Customers.Retrieve(ctx, c.ID, nil)
	if err != nil || !deleted.Deleted || deleted.ID != c.ID {
		t.Errorf("retrieved %+v %v, want it deleted", deleted, err)
	}
	// The same key within 24 hours replays the customer made first, now deleted.
	params.SetIdempotencyKey("credits-customer-u1")
	again, err := api.V1Customers.Create(ctx, params)
	if err != nil || again.ID != c.ID || again.LastResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("created again %+v %v, want the deleted customer replayed", again, err)
	}
	_, err = api.V1PaymentIntents.Create(ctx, chargeParams("k", c.ID, "pm_card_visa", 500, nil))
	if e := apiErr(t, err); e.Code != stripe.ErrorCodeResourceMissing || e.Param != "customer" {
		t.Errorf("charging a deleted customer: %s on %s, want resource_missing on customer", e.Code, e.Param)
	}
	if _, err := api.V1Customers.Delete(ctx, c.ID, nil); apiErr(t, err).HTTPStatusCode != 404 {
		t.Errorf("deleting twice: %v, want 404", err)
	}
	other, err := api.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("u2@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := api.V1Customers.Delete(ctx, other.ID, nil)
	if err != nil || !gone.Deleted {
		t.Errorf("delete: %+v %v, want deleted", gone, err)
	}
	if got := len(s.Events("customer.deleted")); got != 2 {
		t.Errorf("%d customer.deleted events, want 2", got)
	}
}
