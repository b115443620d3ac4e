package stripestub

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Checkout Session expiry bounds (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-expires_at).
const (
	minSessionLifetime     = 30 * time.Minute
	maxSessionLifetime     = 24 * time.Hour
	defaultSessionLifetime = 24 * time.Hour
)

// Price is a price the stub knows, for line items that name one.
type Price struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Active     bool   `json:"active"`
	Currency   string `json:"currency"`
	Livemode   bool   `json:"livemode"`
	Product    string `json:"product"`
	Type       string `json:"type"`
	UnitAmount int64  `json:"unit_amount"`
}

// LineItem is a Checkout Session's line item (object "item").
type LineItem struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	AmountDiscount int64  `json:"amount_discount"`
	AmountSubtotal int64  `json:"amount_subtotal"`
	AmountTax      int64  `json:"amount_tax"`
	AmountTotal    int64  `json:"amount_total"`
	Currency       string `json:"currency"`
	Description    string `json:"description"`
	Price          Price  `json:"price"`
	Quantity       int64  `json:"quantity"`
}

// CustomerDetails is who paid a completed session.
type CustomerDetails struct {
	Email NullString `json:"email"`
}

// TotalDetails are a session's discounts, shipping and tax: none here.
type TotalDetails struct {
	AmountDiscount int64 `json:"amount_discount"`
	AmountShipping int64 `json:"amount_shipping"`
	AmountTax      int64 `json:"amount_tax"`
}

// CheckoutSession is Stripe's checkout.session object, the fields the stub keeps.
type CheckoutSession struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	AmountSubtotal     *int64            `json:"amount_subtotal"`
	AmountTotal        *int64            `json:"amount_total"`
	CancelURL          NullString        `json:"cancel_url"`
	ClientReferenceID  NullString        `json:"client_reference_id"`
	Created            int64             `json:"created"`
	Currency           NullString        `json:"currency"`
	Customer           NullString        `json:"customer"`
	CustomerDetails    *CustomerDetails  `json:"customer_details"`
	CustomerEmail      NullString        `json:"customer_email"`
	ExpiresAt          int64             `json:"expires_at"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	Mode               string            `json:"mode"`
	PaymentIntent      NullString        `json:"payment_intent"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	PaymentStatus      string            `json:"payment_status"`
	SetupIntent        NullString        `json:"setup_intent"`
	Status             string            `json:"status"`
	SuccessURL         NullString        `json:"success_url"`
	TotalDetails       TotalDetails      `json:"total_details"`
	URL                NullString        `json:"url"`
	// LineItems, PaymentIntentMetadata and SetupFutureUsage are what was
	// asked for; Stripe shows them through other endpoints and objects.
	LineItems             []LineItem        `json:"-"`
	PaymentIntentMetadata map[string]string `json:"-"`
	SetupIntentMetadata   map[string]string `json:"-"`
	SetupFutureUsage      string            `json:"-"`
	seq                   int
}

func (c *CheckoutSession) stripeID() string { return c.ID }
func (c *CheckoutSession) createdAt() int64 { return c.Created }
func (c *CheckoutSession) order() int       { return c.seq }

func (c *CheckoutSession) copy() CheckoutSession {
	out := *c
	out.Metadata = cloneMap(c.Metadata)
	out.PaymentIntentMetadata = cloneMap(c.PaymentIntentMetadata)
	out.SetupIntentMetadata = cloneMap(c.SetupIntentMetadata)
	if c.CustomerDetails != nil {
		details := *c.CustomerDetails
		out.CustomerDetails = &details
	}
	out.PaymentMethodTypes = append([]string{}, c.PaymentMethodTypes...)
	out.LineItems = slices.Clone(c.LineItems)
	return out
}

// AddPrice makes a price known, for line items that name it.
func (s *Stub) AddPrice(id string, unitAmount int64, currency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prices[id] = Price{ID: id, Object: "price", Active: true, Currency: currency, Product: "prod_" + id,
		Type: "one_time", UnitAmount: unitAmount}
}

func (s *Stub) routeCheckout() {
	s.route("POST /v1/checkout/sessions", s.handleCreateSession)
	s.route("GET /v1/checkout/sessions", s.handleListSessions)
	s.route("GET /v1/checkout/sessions/{id}", s.handleRetrieveSession)
	s.route("GET /v1/checkout/sessions/{id}/line_items", s.handleSessionLineItems)
	s.route("POST /v1/checkout/sessions/{id}/expire", s.handleExpireSession)
}

func (s *Stub) handleCreateSession(req *stripeRequest) response {
	form := req.form
	mode := form.Get("mode")
	switch {
	case mode == "":
		return missingParam("mode")
	case mode != "payment" && mode != "setup":
		return invalidParams("", "mode", fmt.Sprintf("This stand-in makes payment and setup sessions, not %q.", mode))
	case form.Get("customer") != "" && form.Get("customer_email") != "":
		return invalidParams("", "customer_email", "You may only specify one of these parameters: customer, customer_email.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	cs := &CheckoutSession{ID: newID("cs_test_"), Object: "checkout.session", CancelURL: NullString(form.Get("cancel_url")),
		ClientReferenceID: NullString(form.Get("client_reference_id")), Created: now.Unix(),
		Customer: NullString(form.Get("customer")), CustomerEmail: NullString(form.Get("customer_email")),
		ExpiresAt: now.Add(defaultSessionLifetime).Unix(), Metadata: mapParam(form, "metadata"), Mode: mode,
		PaymentMethodTypes: listParam(form, "payment_method_types"), PaymentStatus: "unpaid", Status: "open",
		SuccessURL: NullString(form.Get("success_url")), PaymentIntentMetadata: mapParam(form, "payment_intent_data[metadata]"),
		SetupIntentMetadata: mapParam(form, "setup_intent_data[metadata]"),
		SetupFutureUsage:    form.Get("payment_intent_data[setup_future_usage]"), seq: s.nextSeq()}
	cs.URL = NullString("https://checkout.stripe.com/c/pay/" + cs.ID)
	if len(cs.PaymentMethodTypes) == 0 {
		cs.PaymentMethodTypes = []string{"card"}
	}
	if bad := s.sessionExpiry(cs, form, now); bad.status != 0 {
		return bad
	}
	if c, ok := s.customers[string(cs.Customer)]; ok && c.Deleted {
		return noSuch("customer", "customer", c.ID)
	}
	if mode == "setup" {
		cs.PaymentStatus = "no_payment_required"
		cs.Currency = NullString(form.Get("currency"))
	} else if bad := s.sessionLineItems(cs, form); bad.status != 0 {
		return bad
	}
	s.sessions[cs.ID] = cs
	return jsonResponse(http.StatusOK, cs.copy())
}

func (s *Stub) sessionExpiry(cs *CheckoutSession, form url.Values, now time.Time) response {
	expiresAt, present, bad := intParam(form, "expires_at")
	switch {
	case bad.status != 0:
		return bad
	case !present:
		return response{}
	case time.Unix(expiresAt, 0).Before(now.Add(minSessionLifetime)):
		return invalidParams("", "expires_at", "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.")
	case time.Unix(expiresAt, 0).After(now.Add(maxSessionLifetime)):
		return invalidParams("", "expires_at", "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.")
	}
	cs.ExpiresAt = expiresAt
	return response{}
}

// sessionLineItems reads a payment session's line items and totals;
// callers hold s.mu.
func (s *Stub) sessionLineItems(cs *CheckoutSession, form url.Values) response {
	items := objectList(form, "line_items")
	if len(items) == 0 {
		return invalidParams("", "line_items", "`line_items` is required in `payment` mode.")
	}
	var total int64
	for i, item := range items {
		param := fmt.Sprintf("line_items[%d]", i)
		quantity, err := strconv.ParseInt(item.Get("quantity"), 10, 64)
		if err != nil || quantity < 1 {
			return missingParam(param + "[quantity]")
		}
		price, bad := s.linePrice(item, param)
		if bad.status != 0 {
			return bad
		}
		if cs.Currency != "" && string(cs.Currency) != price.Currency {
			return invalidParams("", param+"[price]", "All line items must use the same currency.")
		}
		cs.Currency = NullString(price.Currency)
		amount := price.UnitAmount * quantity
		total += amount
		cs.LineItems = append(cs.LineItems, LineItem{ID: newID("li_"), Object: "item", AmountSubtotal: amount, AmountTotal: amount,
			Currency: price.Currency, Description: item.Get("price_data[product_data][name]"), Price: price, Quantity: quantity})
	}
	cs.AmountSubtotal, cs.AmountTotal = &total, ptr(total)
	return response{}
}

// linePrice is a line item's known price or its inline price_data.
func (s *Stub) linePrice(item url.Values, param string) (Price, response) {
	if id := item.Get("price"); id != "" {
		price, ok := s.prices[id]
		if !ok {
			return Price{}, noSuch("price", param+"[price]", id)
		}
		return price, response{}
	}
	data := mapParam(item, "price_data")
	if data["currency"] == "" {
		return Price{}, missingParam(param + "[price_data][currency]")
	}
	unitAmount, err := strconv.ParseInt(data["unit_amount"], 10, 64)
	if err != nil {
		return Price{}, missingParam(param + "[price_data][unit_amount]")
	}
	return Price{ID: newID("price_"), Object: "price", Active: false, Currency: data["currency"], Product: newID("prod_"),
		Type: "one_time", UnitAmount: unitAmount}, response{}
}
