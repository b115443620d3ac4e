package stripestub

import (
	"net/http"
	"slices"
)

// setupIntent is a SetupIntent made by completing a setup-mode session.
type setupIntent struct {
	ID            string
	Created       int64
	Customer      string
	PaymentMethod string
	Metadata      map[string]string
}

// render is the SetupIntent as Stripe shows it, its payment method
// expanded when asked; callers hold s.mu.
func (si *setupIntent) render(expandPaymentMethod bool) map[string]any {
	var pm any = NullString(si.PaymentMethod)
	if expandPaymentMethod {
		pm = paymentMethodObject(si.PaymentMethod, si.Customer)
	}
	return map[string]any{"id": si.ID, "object": "setup_intent", "created": si.Created, "customer": NullString(si.Customer),
		"livemode": false, "metadata": cloneMap(si.Metadata), "payment_method": pm, "payment_method_types": []string{"card"},
		"status": "succeeded", "usage": "off_session"}
}

// Payment methods and SetupIntents the stub made (by AttachPaymentMethod
// or a completed session) are answered from its state; others go to
// stripe-mock.
func (s *Stub) routePaymentMethods() {
	s.route("GET /v1/setup_intents/{id}", s.handleRetrieveSetupIntent)
	s.route("GET /v1/payment_methods/{id}", s.handleRetrievePaymentMethod)
	s.route("POST /v1/payment_methods/{id}/detach", s.handleDetachPaymentMethod)
}

func (s *Stub) handleRetrieveSetupIntent(req *stripeRequest) response {
	s.mu.Lock()
	si, ok := s.setupIntents[req.PathValue("id")]
	var object map[string]any
	if ok {
		object = si.render(slices.Contains(listParam(req.form, "expand"), "payment_method"))
	}
	s.mu.Unlock()
	if !ok {
		return s.forwarded(req.Request)
	}
	return jsonResponse(http.StatusOK, object)
}

func (s *Stub) handleRetrievePaymentMethod(req *stripeRequest) response {
	s.mu.Lock()
	customer, ok := s.attachedTo[req.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		return s.forwarded(req.Request)
	}
	return jsonResponse(http.StatusOK, paymentMethodObject(req.PathValue("id"), customer))
}

func (s *Stub) handleDetachPaymentMethod(req *stripeRequest) response {
	id := req.PathValue("id")
	s.mu.Lock()
	customer, ok := s.attachedTo[id]
	if ok && customer != "" {
		s.attachedTo[id] = ""
		s.recordEvent("payment_method.detached", paymentMethodObject(id, ""))
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return s.forwarded(req.Request)
	case customer == "":
		return invalidRequest(http.StatusBadRequest, "payment_method_unexpected_state", "",
			"The payment method you provided is not attached to a customer so detachment is impossible.")
	}
	return jsonResponse(http.StatusOK, paymentMethodObject(id, ""))
}
