package stripestub

import (
	"fmt"
	"net/http"
)

func (s *Stub) handleRetrieveSession(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[req.PathValue("id")]
	if !ok {
		return notFound("checkout.session", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, cs.copy())
}

func (s *Stub) handleSessionLineItems(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[req.PathValue("id")]
	if !ok {
		return notFound("checkout.session", req.PathValue("id"))
	}
	env := listEnvelope{Object: "list", Data: []any{}, URL: "/v1/checkout/sessions/" + cs.ID + "/line_items"}
	for _, item := range cs.LineItems {
		env.Data = append(env.Data, item)
	}
	return jsonResponse(http.StatusOK, env)
}

func (s *Stub) handleListSessions(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	customer, paymentIntent, status := req.form.Get("customer"), req.form.Get("payment_intent"), req.form.Get("status")
	var items []*CheckoutSession
	for _, cs := range s.sessions {
		if (customer == "" || string(cs.Customer) == customer) && (status == "" || cs.Status == status) &&
			(paymentIntent == "" || string(cs.PaymentIntent) == paymentIntent) {
			items = append(items, cs)
		}
	}
	return listPage(req.form, "/v1/checkout/sessions", items, func(cs *CheckoutSession) any { return cs.copy() })
}

func (s *Stub) handleExpireSession(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[req.PathValue("id")]
	if !ok {
		return notFound("checkout.session", req.PathValue("id"))
	}
	if cs.Status != "open" {
		return invalidRequest(http.StatusBadRequest, "", "",
			fmt.Sprintf("Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of %q.", cs.Status))
	}
	s.expireSession(cs)
	return jsonResponse(http.StatusOK, cs.copy())
}

// expireSession ends an open session; callers hold s.mu.
func (s *Stub) expireSession(cs *CheckoutSession) {
	cs.Status, cs.URL = "expired", ""
	s.recordEvent("checkout.session.expired", cs.copy())
}

// expireDue expires open sessions past their expires_at, as Stripe does
// on its own; callers hold s.mu.
func (s *Stub) expireDue() {
	now := s.unixNow()
	for _, cs := range s.sessions {
		if cs.Status == "open" && now >= cs.ExpiresAt {
			s.expireSession(cs)
		}
	}
}

// ExpireSession expires an open session, as Stripe does at expires_at.
func (s *Stub) ExpireSession(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.openSession(id)
	s.expireSession(cs)
}

func (s *Stub) openSession(id string) *CheckoutSession {
	cs, ok := s.sessions[id]
	if !ok {
		panic("stripestub: no Checkout Session " + id)
	}
	if cs.Status != "open" {
		panic(fmt.Sprintf("stripestub: Checkout Session %s is %s, not open", id, cs.Status))
	}
	return cs
}

// CompleteSession pays an open session with payment method pm: a payment
// session gets a succeeded PaymentIntent (with its payment_intent_data
// metadata) and is paid; a setup session saves pm for its customer. Its
// checkout.session.completed is recorded.
func (s *Stub) CompleteSession(id, pm string) {
	s.completeSession(id, pm, Succeeds())
}

// CompleteSessionPending completes a payment session with a delayed method:
// its PaymentIntent is processing and the session unpaid until
// SetPaymentIntentStatus settles it, recording
// checkout.session.async_payment_succeeded or _failed.
func (s *Stub) CompleteSessionPending(id, pm string) {
	s.completeSession(id, pm, Processing())
}

func (s *Stub) completeSession(id, pm string, outcome Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.openSession(id)
	if cs.Mode == "setup" {
		si := &setupIntent{ID: newID("seti_"), Created: s.unixNow(), Customer: string(cs.Customer), PaymentMethod: pm,
			Metadata: cloneMap(cs.SetupIntentMetadata)}
		s.setupIntents[si.ID] = si
		cs.SetupIntent = NullString(si.ID)
		s.attachedTo[pm] = string(cs.Customer)
	} else {
		pi := &PaymentIntent{ID: newID("pi_"), Object: "payment_intent", Amount: *cs.AmountTotal, CaptureMethod: "automatic",
			ConfirmationMethod: "automatic", Created: s.unixNow(), Currency: string(cs.Currency), Customer: cs.Customer,
			Metadata: cloneMap(cs.PaymentIntentMetadata), PaymentMethod: NullString(pm), PaymentMethodTypes: cs.PaymentMethodTypes,
			SetupFutureUsage: NullString(cs.SetupFutureUsage), Status: "requires_confirmation", seq: s.nextSeq()}
		pi.ClientSecret = pi.ID + "_secret_" + newID("")
		s.paymentIntents[pi.ID] = pi
		cs.PaymentIntent = NullString(pi.ID)
		s.recordEvent("payment_intent.created", pi.copy())
		s.confirm(pi, outcome)
		if pi.Status == "succeeded" {
			cs.PaymentStatus = "paid"
		}
		if cs.SetupFutureUsage != "" && cs.Customer != "" {
			s.attachedTo[pm] = string(cs.Customer)
		}
	}
	cs.Status, cs.URL = "complete", ""
	cs.CustomerDetails = &CustomerDetails{Email: cs.CustomerEmail}
	if c, ok := s.customers[string(cs.Customer)]; ok && cs.CustomerDetails.Email == "" {
		cs.CustomerDetails.Email = c.Email
	}
	s.recordEvent("checkout.session.completed", cs.copy())
}

// sessionPaymentSettled ends the wait of a completed, unpaid session whose
// PaymentIntent settled; callers hold s.mu.
func (s *Stub) sessionPaymentSettled(pi *PaymentIntent, paid bool) {
	for _, cs := range s.sessions {
		if string(cs.PaymentIntent) != pi.ID || cs.Status != "complete" || cs.PaymentStatus != "unpaid" {
			continue
		}
		if paid {
			cs.PaymentStatus = "paid"
			s.recordEvent("checkout.session.async_payment_succeeded", cs.copy())
		} else {
			s.recordEvent("checkout.session.async_payment_failed", cs.copy())
		}
	}
}
