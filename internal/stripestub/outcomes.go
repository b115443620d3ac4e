package stripestub

import "net/http"

// Outcome is what confirming a PaymentIntent with a payment method does
// (https://docs.stripe.com/testing#declined-payments,
// https://docs.stripe.com/declines/codes).
type Outcome struct {
	// Status is the PaymentIntent's status after confirmation: succeeded,
	// processing, requires_action, or requires_payment_method for a card
	// error (Code, DeclineCode, Message), answered 402.
	Status      string
	Code        string
	DeclineCode string
	Message     string
	// HTTPStatus, when set, answers an invalid_request_error with Code,
	// Param and Message instead, and no PaymentIntent is made.
	HTTPStatus int
	Param      string
}

// Succeeds is the outcome of pm_card_visa and of any card without one set.
func Succeeds() Outcome { return Outcome{Status: "succeeded"} }

// Processing leaves the PaymentIntent processing until SetPaymentIntentStatus.
func Processing() Outcome { return Outcome{Status: "processing"} }

// RequiresAction asks for authentication on session (3D Secure).
func RequiresAction() Outcome { return Outcome{Status: "requires_action"} }

// AuthenticationRequired is an off-session card that needs its holder:
// Stripe answers a card_error and leaves the PaymentIntent
// requires_payment_method (https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method).
func AuthenticationRequired() Outcome {
	return Outcome{Status: "requires_payment_method", Code: "authentication_required", DeclineCode: "authentication_required",
		Message: "Your card was declined. This transaction requires authentication."}
}

// declineCodesWithOwnCode are decline reasons Stripe reports as the
// error's code rather than as card_declined with a decline_code.
var declineCodesWithOwnCode = map[string]string{
	"expired_card":     "Your card has expired.",
	"incorrect_cvc":    "Your card's security code is incorrect.",
	"incorrect_number": "Your card number is incorrect.",
	"processing_error": "An error occurred while processing your card. Try again in a little bit.",
}

// Declined is a card decline with Stripe's decline code (insufficient_funds,
// lost_card, stolen_card, generic_decline, try_again_later, ...).
func Declined(declineCode string) Outcome {
	if message, ok := declineCodesWithOwnCode[declineCode]; ok {
		return Outcome{Status: "requires_payment_method", Code: declineCode, DeclineCode: declineCode, Message: message}
	}
	message := "Your card was declined."
	if declineCode == "insufficient_funds" {
		message = "Your card has insufficient funds."
	}
	return Outcome{Status: "requires_payment_method", Code: "card_declined", DeclineCode: declineCode, Message: message}
}

// InvalidRequest answers an invalid_request_error and makes no PaymentIntent.
func InvalidRequest(status int, code, param, message string) Outcome {
	return Outcome{HTTPStatus: status, Code: code, Param: param, Message: message}
}

// PaymentMethodMissing is a payment method removed (or never known).
func PaymentMethodMissing(pm string) Outcome {
	return InvalidRequest(http.StatusBadRequest, "resource_missing", "payment_method", "No such PaymentMethod: '"+pm+"'")
}

// SetOutcome sets what confirming with payment method pm does.
func (s *Stub) SetOutcome(pm string, outcome Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[pm] = outcome
}

// AttachPaymentMethod saves pm for customer: from then on it pays only for
// that customer, as Stripe refuses another's saved card.
func (s *Stub) AttachPaymentMethod(pm, customer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attachedTo[pm] = customer
}

// DetachPaymentMethod removes pm from its customer: it can no longer pay.
func (s *Stub) DetachPaymentMethod(pm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attachedTo[pm] = ""
}

// outcomeFor is what confirming with pm does now; callers hold s.mu.
func (s *Stub) outcomeFor(pm, customer string) Outcome {
	if owner, tracked := s.attachedTo[pm]; tracked && owner != customer {
		return InvalidRequest(http.StatusBadRequest, "", "payment_method",
			"The provided PaymentMethod "+pm+" does not belong to the Customer "+customer+": attach it to the Customer first.")
	}
	if outcome, ok := s.outcomes[pm]; ok {
		return outcome
	}
	return Succeeds()
}
