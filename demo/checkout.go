// Package demo is the offline demo: a stand-in for Stripe Checkout, for
// development without a Stripe account, and the packs and account it starts
// with. It serves its own checkout page; the server mounts its routes.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/credits/credits"
)

//go:embed templates/checkout.html
var templates embed.FS

var checkoutPage = template.Must(template.ParseFS(templates, "templates/checkout.html"))

// Test cards, as Stripe's test mode knows them.
const (
	CardPays              = "4242424242424242"
	CardDeclined          = "4000000000000002"
	CardInsufficientFunds = "4000000000009995"
	// CardAuthentication pays on a checkout page (the customer is there to
	// authenticate) and asks for authentication off-session.
	CardAuthentication = "4000002760003184"
)

// Limits of the demo checkout's webhook delivery.
const (
	deliveryAttempts = 8
	retryBase        = 250 * time.Millisecond
	sessionLimit     = 10_000
	payFormMaxBytes  = 4096
)

// Checkout is the offline demo's stand-in for Stripe Checkout. Its checkout
// page is clearly marked as a simulation; paying with a test card sends a
// real signed checkout.session.completed event to the service's own webhook
// over HTTP, so that the demo runs the same verification and fulfilment path
// as Stripe's events. It keeps its sessions in memory. It is never used in
// production.
type Checkout struct {
	PublicURL  string
	WebhookURL string // set once the server listens
	// Sign returns the Stripe-Signature header of an event sent at a time.
	Sign   func(payload []byte, at time.Time) string
	Logger *slog.Logger
	Client *http.Client

	mu       sync.Mutex
	sessions map[string]*simulatedSession
	// deliveries are the events on their way to the webhook; stop (Close)
	// ends them.
	deliveries sync.WaitGroup
	stopped    context.Context
	stop       context.CancelFunc
	// intents maps a setup or payment intent that saved a card to the card's number.
	intents map[string]string
	// charges answers an off-session charge's idempotency key again.
	charges map[string]credits.ChargeResult
}

type simulatedSession struct {
	req           credits.CheckoutRequest
	setup         *credits.SetupRequest // a setup-mode session: it saves a card
	paid          bool
	expired       bool
	paymentIntent string
	setupIntent   string
}

var _ credits.Payments = (*Checkout)(nil)

// NewCheckout returns a demo checkout whose events sign signs.
func NewCheckout(publicURL string, sign func(payload []byte, at time.Time) string, logger *slog.Logger) *Checkout {
	stopped, stop := context.WithCancel(context.Background())
	return &Checkout{
		PublicURL: strings.TrimRight(publicURL, "/"), Sign: sign, Logger: logger,
		Client:   &http.Client{Timeout: 10 * time.Second},
		sessions: map[string]*simulatedSession{}, intents: map[string]string{}, charges: map[string]credits.ChargeResult{},
		stopped: stopped, stop: stop,
	}
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateCheckoutSession records a simulated session and returns the URL of
// its checkout page.
func (s *Checkout) CreateCheckoutSession(_ context.Context, req credits.CheckoutRequest) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= sessionLimit {
		return "", "", errors.New("the demo checkout holds too many sessions; restart the demo")
	}
	id := randomID("cs_test_demo_")
	s.sessions[id] = &simulatedSession{req: req}
	return id, s.PublicURL + "/demo/checkout/" + id, nil
}

// RetrieveSession answers as Stripe would for a simulated session.
func (s *Checkout) RetrieveSession(_ context.Context, id string, _ bool) (credits.StripeSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	session, ok := s.sessions[id]
	if !ok {
		return credits.StripeSession{}, noSession(id)
	}
	return session.stripeSession(id), nil
}

func (ss *simulatedSession) stripeSession(id string) credits.StripeSession {
	status := "unpaid"
	if ss.paid {
		status = "paid"
	}
	if ss.setup != nil {
		return credits.StripeSession{ID: id, Mode: "setup", Status: "complete", PaymentStatus: "no_payment_required",
			ClientReferenceID: ss.setup.Account.ID, Email: ss.setup.Account.Email, Customer: ss.setup.CustomerID,
			SetupIntent: ss.setupIntent, Metadata: map[string]string{"account_id": ss.setup.Account.ID}}
	}
	metadata := map[string]string{"account_id": ss.req.Account.ID, "pack_id": ss.req.Pack.ID, "quantity": fmt.Sprint(ss.req.Quantity)}
	if ss.req.Reference != "" {
		metadata["credits_checkout"] = ss.req.Reference
	}
	if ss.req.SaveCard {
		metadata[credits.SaveCardMetadataKey] = "true"
	}
	state := "open"
	switch {
	case ss.paid:
		state = "complete"
	case ss.expired:
		state = "expired"
	}
	return credits.StripeSession{
		ID: id, Mode: "payment", Status: state, PaymentStatus: status, ClientReferenceID: ss.req.Account.ID, Email: ss.req.Account.Email,
		Metadata: metadata, Customer: ss.req.CustomerID,
		AmountTotal: ss.req.Pack.UnitAmount * ss.req.Quantity, Currency: ss.req.Pack.Currency, PaymentIntent: ss.paymentIntent,
		LineItems: []credits.LineItem{{PriceID: ss.req.Pack.StripePriceID, Quantity: ss.req.Quantity}},
	}
}

// Routes are the checkout page's routes, for the server to mount.
func (s *Checkout) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /demo/checkout/{id}":  http.HandlerFunc(s.handlePage),
		"POST /demo/checkout/{id}": http.HandlerFunc(s.handlePay),
	}
}

type checkoutView struct {
	ID, PackName, Email, Total, Card, Error, CancelURL string
	Quantity, Credits                                  int64
	Paid, Setup, SavesCard                             bool
}

func (s *Checkout) view(id string) (checkoutView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return checkoutView{}, false
	}
	if ss.setup != nil {
		return checkoutView{ID: id, Email: ss.setup.Account.Email, CancelURL: ss.setup.CancelURL, Paid: ss.paid, Setup: true, SavesCard: true}, true
	}
	p := ss.req.Pack
	return checkoutView{
		ID: id, PackName: p.Name, Email: ss.req.Account.Email, Quantity: ss.req.Quantity, Credits: p.Credits * ss.req.Quantity,
		Total:     credits.FormatMoney(p.UnitAmount*ss.req.Quantity, p.Currency),
		CancelURL: ss.req.CancelURL, Paid: ss.paid, SavesCard: ss.req.SaveCard,
	}, true
}

func (s *Checkout) render(w http.ResponseWriter, status int, v checkoutView) {
	var buf bytes.Buffer
	if err := checkoutPage.Execute(&buf, v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Checkout) handlePage(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(r.PathValue("id"))
	if !ok {
		http.Error(w, "No such demo checkout session (they live in memory until a restart).", http.StatusNotFound)
		return
	}
	s.render(w, http.StatusOK, v)
}

// handlePay charges a test card: 4242… pays and sends the event; the other
// test cards are declined and nothing happens.
func (s *Checkout) handlePay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, ok := s.view(id)
	if !ok {
		http.Error(w, "No such demo checkout session.", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, payFormMaxBytes)
	card := strings.NewReplacer(" ", "", "-", "").Replace(r.PostFormValue("card"))
	v.Card = r.PostFormValue("card")
	switch {
	case card == CardPays || card == CardAuthentication: // on the page, the customer authenticates
	case v.Setup && (card == CardDeclined || card == CardInsufficientFunds):
		// Saving charges nothing: the card is saved, and declines when charged.
	case card == CardDeclined:
		v.Error = "Your card was declined."
		s.render(w, http.StatusPaymentRequired, v)
		return
	case card == CardInsufficientFunds:
		v.Error = "Your card has insufficient funds."
		s.render(w, http.StatusPaymentRequired, v)
		return
	default:
		v.Error = "This is a simulation: use a test card, such as 4242 4242 4242 4242."
		s.render(w, http.StatusBadRequest, v)
		return
	}
	event, successURL, err := s.pay(id, card)
	if err != nil {
		v.Error = err.Error()
		s.render(w, http.StatusConflict, v)
		return
	}
	if err := s.deliver(r.Context(), event); err != nil {
		s.Logger.Warn("demo checkout: webhook delivery failed; retrying in the background", "session", id, "error", err)
		s.deliverWithRetries(event)
	}
	http.Redirect(w, r, successURL, http.StatusSeeOther)
}

// pay marks a session paid (or, in setup mode, its card saved) and returns
// its event and success URL.
func (s *Checkout) pay(id, card string) ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss.paid {
		return nil, "", errors.New("this session is already paid")
	}
	if ss.expired {
		return nil, "", errors.New("this session has expired")
	}
	ss.paid = true
	successURL := ss.req.SuccessURL
	if ss.setup != nil {
		ss.setupIntent = randomID("seti_demo_")
		s.intents[ss.setupIntent] = card
		successURL = ss.setup.SuccessURL
	} else {
		ss.paymentIntent = randomID("pi_demo_")
		if ss.req.SaveCard {
			s.intents[ss.paymentIntent] = card
		}
	}
	session := ss.stripeSession(id)
	object := map[string]any{
		"id": id, "object": "checkout.session", "mode": session.Mode, "livemode": false, "status": "complete",
		"payment_status": session.PaymentStatus, "client_reference_id": session.ClientReferenceID,
		"customer_details": map[string]any{"email": session.Email}, "customer_email": session.Email,
		"metadata": session.Metadata, "amount_total": session.AmountTotal, "currency": session.Currency,
		"payment_intent": nilIfEmpty(session.PaymentIntent), "setup_intent": nilIfEmpty(session.SetupIntent),
		"customer": nilIfEmpty(session.Customer),
	}
	event, err := eventPayload(credits.EventCheckoutCompleted, object)
	return event, strings.ReplaceAll(successURL, "{CHECKOUT_SESSION_ID}", id), err
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// eventPayload wraps an object in an event, as Stripe sends it.
func eventPayload(eventType string, object map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{
		"id": randomID("evt_demo_"), "object": "event", "type": eventType, "livemode": false,
		"created": time.Now().Unix(), "api_version": "2025-01-27.acacia", "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
}

// deliver sends a signed event to the webhook once.
func (s *Checkout) deliver(ctx context.Context, event []byte) error {
	if s.WebhookURL == "" {
		return errors.New("no webhook URL yet")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL, bytes.NewReader(event))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", s.Sign(event, time.Now()))
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

// deliverWithRetries retries with exponential back-off, as Stripe does (on
// a much shorter scale).
func (s *Checkout) deliverWithRetries(event []byte) {
	s.deliveries.Go(func() { s.deliverLater(event) })
}

// Close stops the demo's deliveries in flight and waits for them: they end
// with the service.
func (s *Checkout) Close() {
	s.stop()
	s.deliveries.Wait()
}

func (s *Checkout) deliverLater(event []byte) {
	ctx := s.stopped
	delay := retryBase
	for attempt := 1; attempt <= deliveryAttempts; attempt++ {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		err := s.deliver(ctx, event)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.Logger.Warn("demo checkout: webhook delivery failed", "attempt", attempt, "error", err)
		delay *= 2
	}
	s.Logger.Error("demo checkout: gave up delivering an event; the success page credits the session anyway")
}

// noSession answers for a session the demo does not have, as Stripe
// answers for one that does not exist (a 404: it never will).
func noSession(id string) error {
	return &credits.PaymentFailure{Treatment: credits.TreatFail, HTTPStatus: 404, Code: "resource_missing",
		Message: "demo checkout: no session " + id + " (sessions live in memory until a restart)"}
}
