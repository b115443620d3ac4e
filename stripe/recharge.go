package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/credits/credits"
)

// CreateCustomer creates the account's customer. The idempotency key is
// derived from the account and from how many customers it had before
// (generation), so that two requests racing to create it (or a retry after a
// lost answer) get one customer, and a customer made after customer.deleted
// is a new one, not the deleted one replayed.
func (c *Client) CreateCustomer(ctx context.Context, account credits.Account, generation int64) (string, error) {
	params := &stripego.CustomerCreateParams{
		Email:    stripego.String(account.Email),
		Metadata: map[string]string{"account_id": account.ID},
	}
	key := "credits-customer-" + account.ID
	if generation > 0 {
		key = fmt.Sprintf("%s-%d", key, generation)
	}
	params.SetIdempotencyKey(key)
	customer, err := c.api.V1Customers.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("stripe: create customer: %w", err)
	}
	return customer.ID, nil
}

// CreateSetupSession creates a Checkout session in setup mode: it saves a
// card for the customer and charges nothing.
func (c *Client) CreateSetupSession(ctx context.Context, req credits.SetupRequest) (string, string, error) {
	params := &stripego.CheckoutSessionCreateParams{
		Mode:               stripego.String(string(stripego.CheckoutSessionModeSetup)),
		Customer:           stripego.String(req.CustomerID),
		PaymentMethodTypes: []*string{stripego.String("card")},
		ClientReferenceID:  stripego.String(req.Account.ID),
		SuccessURL:         stripego.String(req.SuccessURL),
		CancelURL:          stripego.String(req.CancelURL),
		Metadata:           map[string]string{"account_id": req.Account.ID},
		SetupIntentData: &stripego.CheckoutSessionCreateSetupIntentDataParams{
			Metadata: map[string]string{"account_id": req.Account.ID},
		},
	}
	session, err := c.api.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return "", "", fmt.Errorf("stripe: create setup session: %w", err)
	}
	return session.ID, session.URL, nil
}

// intentObject is what the service reads of a setup or payment intent
// whose payment method is expanded.
type intentObject struct {
	Customer      expandable `json:"customer"`
	PaymentMethod *struct {
		ID       string     `json:"id"`
		Customer expandable `json:"customer"`
		Card     *struct {
			Brand string `json:"brand"`
			Last4 string `json:"last4"`
		} `json:"card"`
	} `json:"payment_method"`
}

// SavedCard reads the card a setup intent (seti_…) or a payment intent
// (pi_…) saved, with its payment method expanded.
func (c *Client) SavedCard(ctx context.Context, intentID string) (credits.SavedCard, string, error) {
	var raw []byte
	switch {
	case strings.HasPrefix(intentID, "seti_"):
		params := &stripego.SetupIntentRetrieveParams{}
		params.AddExpand("payment_method")
		si, err := c.api.V1SetupIntents.Retrieve(ctx, intentID, params)
		if err != nil {
			return credits.SavedCard{}, "", fmt.Errorf("stripe: retrieve setup intent %s: %w", intentID, err)
		}
		if si.LastResponse != nil {
			raw = si.LastResponse.RawJSON
		}
	case strings.HasPrefix(intentID, "pi_"):
		params := &stripego.PaymentIntentRetrieveParams{}
		params.AddExpand("payment_method")
		pi, err := c.api.V1PaymentIntents.Retrieve(ctx, intentID, params)
		if err != nil {
			return credits.SavedCard{}, "", fmt.Errorf("stripe: retrieve payment intent %s: %w", intentID, err)
		}
		if pi.LastResponse != nil {
			raw = pi.LastResponse.RawJSON
		}
	default:
		return credits.SavedCard{}, "", fmt.Errorf("stripe: %q is not a setup or payment intent", intentID)
	}
	var intent intentObject
	if err := json.Unmarshal(raw, &intent); err != nil {
		return credits.SavedCard{}, "", fmt.Errorf("stripe: intent %s: %w", intentID, err)
	}
	pm := intent.PaymentMethod
	if pm == nil || pm.ID == "" {
		return credits.SavedCard{}, plain(string(intent.Customer)), nil
	}
	card := credits.SavedCard{PaymentMethodID: plain(pm.ID)}
	if pm.Card != nil {
		card.Brand, card.Last4 = plain(pm.Card.Brand), plain(pm.Card.Last4)
	}
	// The card belongs to the customer it is attached to, whatever the
	// intent says.
	owner := plain(string(pm.Customer))
	if owner == "" {
		owner = plain(string(intent.Customer))
	}
	return card, owner, nil
}

// DetachPaymentMethod removes a saved card from its customer.
func (c *Client) DetachPaymentMethod(ctx context.Context, id string) error {
	if _, err := c.api.V1PaymentMethods.Detach(ctx, id, nil); err != nil {
		var stripeErr *stripego.Error
		if errors.As(err, &stripeErr) && stripeErr.Code == stripego.ErrorCodeResourceMissing {
			return nil // already gone
		}
		return fmt.Errorf("stripe: detach payment method %s: %w", id, err)
	}
	return nil
}

// ChargeOffSession creates and confirms an off-session payment intent on
// the saved card, with the recharge's key as the idempotency key: a retry
// (after a crash, by another replica) gets Stripe's first answer, never a
// second charge. A card error (a decline, authentication required) is an
// answer; any other error is a *credits.PaymentFailure that says how to
// treat it. The saved method is a card, so the intent names card as its
// only method type: with automatic payment methods (on by default in
// current API versions) Stripe may refuse an off-session confirm that
// could redirect.
func (c *Client) ChargeOffSession(ctx context.Context, charge credits.OffSessionCharge) (credits.ChargeResult, error) {
	params := &stripego.PaymentIntentCreateParams{
		Amount:             stripego.Int64(charge.Amount),
		Currency:           stripego.String(charge.Currency),
		Customer:           stripego.String(charge.CustomerID),
		PaymentMethod:      stripego.String(charge.PaymentMethodID),
		PaymentMethodTypes: []*string{stripego.String("card")},
		Confirm:            stripego.Bool(true),
		OffSession:         stripego.Bool(true),
		Description:        stripego.String(charge.Description),
		Metadata:           charge.Metadata,
	}
	params.SetIdempotencyKey(charge.IdempotencyKey)
	pi, err := c.api.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		var stripeErr *stripego.Error
		if errors.As(err, &stripeErr) && stripeErr.Type == stripego.ErrorTypeCard {
			res := credits.ChargeResult{Code: plain(string(stripeErr.Code)), DeclineCode: plain(string(stripeErr.DeclineCode)), Message: plain(stripeErr.Msg)}
			if stripeErr.PaymentIntent != nil {
				res.PaymentIntent, res.Status = stripeErr.PaymentIntent.ID, string(stripeErr.PaymentIntent.Status)
				res.Amount, res.Currency = stripeErr.PaymentIntent.Amount, strings.ToLower(string(stripeErr.PaymentIntent.Currency))
			}
			return res, nil
		}
		return credits.ChargeResult{}, failure(err)
	}
	return credits.ChargeResult{PaymentIntent: pi.ID, Status: string(pi.Status), Amount: pi.Amount, Currency: strings.ToLower(string(pi.Currency))}, nil
}

// maxRechargePayments bounds how many of a customer's payment intents a
// look-up lists (ten pages) before it searches instead (a variable for
// tests).
var maxRechargePayments = 1000

// RechargePayments lists the customer's payment intents created at or after
// since (newest first, as Stripe lists them) and keeps those whose metadata
// names the recharge. It lists rather than searches: Stripe's search is
// eventually consistent ("less than a minute", up to an hour during
// outages) and may miss an intent made a moment ago, while a list reads
// what is there. A customer with more payment intents since than a look-up
// lists (a busy customer, a worker down for days) is searched instead: by
// then the recharge's own intents are old enough to be searchable.
func (c *Client) RechargePayments(ctx context.Context, customerID, rechargeID string, since time.Time) ([]credits.StripePaymentIntent, error) {
	params := &stripego.PaymentIntentListParams{Customer: stripego.String(customerID),
		CreatedRange: &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()}}
	params.Limit = stripego.Int64(100)
	var found []credits.StripePaymentIntent
	read := 0
	for pi, err := range c.api.V1PaymentIntents.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, fmt.Errorf("stripe: list the payment intents of customer %s: %w", customerID, failure(err))
		}
		if read++; read > maxRechargePayments {
			return c.searchRechargePayments(ctx, rechargeID)
		}
		if pi.Metadata[credits.RechargeMetadataKey] == rechargeID {
			found = append(found, paymentIntentOf(pi))
		}
	}
	return found, nil
}

// searchRechargePayments finds a recharge's payment intents by Stripe's
// search on their metadata, whatever their customer.
func (c *Client) searchRechargePayments(ctx context.Context, rechargeID string) ([]credits.StripePaymentIntent, error) {
	if strings.ContainsAny(rechargeID, `'"\`) {
		return nil, fmt.Errorf("stripe: %q cannot be searched", rechargeID)
	}
	params := &stripego.PaymentIntentSearchParams{}
	params.Query = fmt.Sprintf("metadata['%s']:'%s'", credits.RechargeMetadataKey, rechargeID)
	var found []credits.StripePaymentIntent
	for pi, err := range c.api.V1PaymentIntents.Search(ctx, params).All(ctx) {
		if err != nil {
			return nil, fmt.Errorf("stripe: search the payment intents of recharge %s: %w", rechargeID, failure(err))
		}
		if len(found) == maxRechargePayments {
			return nil, fmt.Errorf("stripe: recharge %s has more than %d payment intents", rechargeID, maxRechargePayments)
		}
		if pi.Metadata[credits.RechargeMetadataKey] == rechargeID {
			found = append(found, paymentIntentOf(pi))
		}
	}
	return found, nil
}

// RetrievePaymentIntent reads a payment intent.
func (c *Client) RetrievePaymentIntent(ctx context.Context, id string) (credits.StripePaymentIntent, error) {
	pi, err := c.api.V1PaymentIntents.Retrieve(ctx, id, nil)
	if err != nil {
		return credits.StripePaymentIntent{}, failure(fmt.Errorf("stripe: retrieve payment intent %s: %w", id, err))
	}
	return paymentIntentOf(pi), nil
}

// paymentIntentOf reads what the service needs of stripe-go's payment intent.
func paymentIntentOf(pi *stripego.PaymentIntent) credits.StripePaymentIntent {
	out := credits.StripePaymentIntent{ID: pi.ID, Status: plain(string(pi.Status)), Amount: pi.Amount,
		Currency: plain(strings.ToLower(string(pi.Currency)))}
	if pi.Customer != nil {
		out.Customer = plain(pi.Customer.ID)
	}
	if len(pi.Metadata) > 0 {
		out.Metadata = make(map[string]string, len(pi.Metadata))
		for k, v := range pi.Metadata {
			out.Metadata[plain(k)] = plain(v)
		}
	}
	if e := pi.LastPaymentError; e != nil {
		out.Code, out.DeclineCode, out.Message = plain(string(e.Code)), plain(string(e.DeclineCode)), plain(e.Msg)
	}
	return out
}

// ExpireCheckoutSession expires an open session, so that it can no longer
// be paid. Stripe refuses it for a session that is not open.
func (c *Client) ExpireCheckoutSession(ctx context.Context, id string) error {
	if _, err := c.api.V1CheckoutSessions.Expire(ctx, id, nil); err != nil {
		return fmt.Errorf("stripe: expire checkout session %s: %w", id, failure(err))
	}
	return nil
}

type paymentIntentObject struct {
	ID               string            `json:"id"`
	Status           string            `json:"status"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	Customer         expandable        `json:"customer"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *struct {
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
	} `json:"last_payment_error"`
}

func decodePaymentIntent(raw json.RawMessage) (*credits.StripePaymentIntent, error) {
	p, err := decodeObject(raw, "payment intent", func(p *paymentIntentObject) string { return p.ID })
	if err != nil {
		return nil, err
	}
	out := &credits.StripePaymentIntent{ID: p.ID, Status: plain(p.Status), Amount: p.Amount, Currency: plain(strings.ToLower(p.Currency)),
		Customer: plain(string(p.Customer))}
	if len(p.Metadata) > 0 {
		out.Metadata = make(map[string]string, len(p.Metadata))
		for k, v := range p.Metadata {
			out.Metadata[plain(k)] = plain(v)
		}
	}
	if e := p.LastPaymentError; e != nil {
		out.Code, out.DeclineCode, out.Message = plain(e.Code), plain(e.DeclineCode), plain(e.Message)
	}
	return out, nil
}

type objectWithID struct {
	ID string `json:"id"`
}

func decodeID(raw json.RawMessage, what string) (string, error) {
	o, err := decodeObject(raw, what, func(o *objectWithID) string { return o.ID })
	if err != nil {
		return "", err
	}
	return o.ID, nil
}
