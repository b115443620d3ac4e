package stripestub

import (
	"fmt"
	"net/http"
)

// stripeError is Stripe's error object (https://docs.stripe.com/api/errors).
type stripeError struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message"`
	Param         string         `json:"param,omitempty"`
	DocURL        string         `json:"doc_url,omitempty"`
	PaymentIntent *PaymentIntent `json:"payment_intent,omitempty"`
	Charge        string         `json:"charge,omitempty"`
}

func errorResponse(status int, e stripeError) response {
	if e.Code != "" && e.DocURL == "" {
		e.DocURL = "https://stripe.com/docs/error-codes/" + kebab(e.Code)
	}
	return jsonResponse(status, map[string]stripeError{"error": e})
}

func kebab(code string) string {
	b := []byte(code)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// invalidRequest is an invalid_request_error that the endpoint found while
// executing: it is saved under the request's key.
func invalidRequest(status int, code, param, message string) response {
	return errorResponse(status, stripeError{Type: "invalid_request_error", Code: code, Param: param, Message: message})
}

// invalidParams is a parameter validation failure: Stripe answers it
// before the endpoint executes, so nothing is saved under the key.
func invalidParams(code, param, message string) response {
	resp := invalidRequest(http.StatusBadRequest, code, param, message)
	resp.unsaved = true
	return resp
}

func missingParam(param string) response {
	return invalidParams("parameter_missing", param, fmt.Sprintf("Missing required param: %s.", param))
}

func invalidInteger(param, value string) response {
	return invalidParams("parameter_invalid_integer", param, fmt.Sprintf("Invalid integer: %s", value))
}

// noSuch is a parameter naming an object that does not exist: 400.
func noSuch(kind, param, id string) response {
	return invalidRequest(http.StatusBadRequest, "resource_missing", param, fmt.Sprintf("No such %s: '%s'", kind, id))
}

// notFound is a URL naming an object that does not exist: 404.
func notFound(kind, id string) response {
	return invalidRequest(http.StatusNotFound, "resource_missing", "id", fmt.Sprintf("No such %s: '%s'", kind, id))
}

// apiError is Stripe's answer when something went wrong on its side.
func apiError(status int) response {
	return errorResponse(status, stripeError{Type: "api_error",
		Message: "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach out to support (https://support.stripe.com/contact)."})
}

// rateLimit is Stripe's 429 (https://docs.stripe.com/rate-limits).
func rateLimit() response {
	resp := errorResponse(http.StatusTooManyRequests, stripeError{Type: "invalid_request_error", Code: "rate_limit",
		Message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."})
	resp.unsaved = true
	return resp
}

func idempotencyMismatch(key string) response {
	resp := errorResponse(http.StatusBadRequest, stripeError{Type: "idempotency_error",
		Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key)})
	resp.unsaved = true
	return resp
}

func idempotencyKeyInUse(key string) response {
	resp := errorResponse(http.StatusConflict, stripeError{Type: "invalid_request_error", Code: "idempotency_key_in_use",
		Message: fmt.Sprintf("There is currently another in-progress request using this idempotency key (that probably means you submitted twice, and the other request is still going through): %s. Please try again later.", key)})
	resp.unsaved = true
	return resp
}
