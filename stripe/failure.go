package stripe

import (
	"errors"
	"net/http"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/credits/credits"
)

// failure says how the service treats an error of a call to Stripe, by
// Stripe's documented meaning of each answer (docs/stripe.md has the table):
//   - no answer at all (the network, a timeout, a canceled call): the
//     request may have run, so the payment is looked up before the same key
//     is sent again;
//   - 409 idempotency_key_in_use, 429, 401 and 403: the request did not run
//     (or another with the key still runs): the same key, later;
//   - a 5xx: Stripe saves the answer under the key and replays it, and the
//     request may or may not have run: look up, then a new key;
//   - idempotency_error: the key was used with other parameters, and
//     answers only that error now: look up, then a new key;
//   - any other 4xx: Stripe refused the request: the attempt fails with its
//     message.
//
// Card errors are answers, not failures: the caller handles them first.
func failure(err error) *credits.PaymentFailure {
	var stripeErr *stripego.Error
	if !errors.As(err, &stripeErr) {
		return &credits.PaymentFailure{Treatment: credits.TreatLookUp, Err: err}
	}
	f := &credits.PaymentFailure{HTTPStatus: stripeErr.HTTPStatusCode, Code: plain(string(stripeErr.Code)), Message: plain(stripeErr.Msg), Err: err}
	if f.Code == "" {
		f.Code = plain(string(stripeErr.Type))
	}
	switch status := stripeErr.HTTPStatusCode; {
	case stripeErr.Type == stripego.ErrorTypeIdempotency:
		f.Treatment = credits.TreatLookUpNewKey
	case status == http.StatusConflict, status == http.StatusTooManyRequests, status == http.StatusUnauthorized, status == http.StatusForbidden:
		f.Treatment = credits.TreatRetry
	case status >= 500:
		f.Treatment = credits.TreatLookUpNewKey
	case status >= 400:
		f.Treatment = credits.TreatFail
	default:
		f.Treatment = credits.TreatLookUp
	}
	return f
}
