package client

import (
	"context"
	"net/http"
	"time"

	"github.com/credits/credits/client/api"
	"github.com/credits/credits/creditswebhook"
)

// Webhook verification, from package creditswebhook: credits signs each
// event it sends with the endpoint's whsec_ secret.
const (
	// WebhookSignatureHeader is the header that carries the signature.
	WebhookSignatureHeader = creditswebhook.Header
	// WebhookTolerance is how far a signature's time may be from now.
	WebhookTolerance = creditswebhook.DefaultTolerance
)

// The reasons a webhook does not verify (errors.Is finds them).
var (
	ErrWebhookNoSignature = creditswebhook.ErrNoSignature
	ErrWebhookStale       = creditswebhook.ErrStale
	ErrWebhookMismatch    = creditswebhook.ErrMismatch
	ErrWebhookSecret      = creditswebhook.ErrSecret
)

// VerifyWebhook checks that header (the Credits-Signature header's value)
// signs payload with one of secrets, made within WebhookTolerance of now.
func VerifyWebhook(payload []byte, header string, secrets ...string) error {
	return creditswebhook.Verify(payload, header, secrets, WebhookTolerance, time.Now())
}

// VerifyWebhookRequest reads a webhook request's body (at most 1 MiB),
// verifies its signature, and returns the body.
func VerifyWebhookRequest(r *http.Request, secrets ...string) ([]byte, error) {
	return creditswebhook.VerifyRequest(r, secrets...)
}

// CreateWebhookEndpoint is a new endpoint: its URL and the event types to
// send it ([]string{"*"}: every type).
type CreateWebhookEndpoint struct {
	URL         string
	Events      []string
	Description string
}

// NewWebhookEndpoint is a created endpoint (or one whose secret was
// rotated) with its signing secret, which is shown only then.
type NewWebhookEndpoint = api.WebhookEndpointWithSecret

// CreateWebhookEndpoint adds an endpoint (admin keys only).
func (c *Client) CreateWebhookEndpoint(ctx context.Context, e CreateWebhookEndpoint) (NewWebhookEndpoint, error) {
	body := api.CreateWebhookEndpointJSONRequestBody{URL: e.URL, Events: e.Events, Description: ifSet(e.Description)}
	return decode[NewWebhookEndpoint](c.api.CreateWebhookEndpoint(ctx, body))
}

// TestWebhookEndpoint sends the endpoint a ping now and answers the attempt.
func (c *Client) TestWebhookEndpoint(ctx context.Context, endpointID string) (WebhookAttempt, error) {
	return decode[WebhookAttempt](c.api.TestWebhookEndpoint(ctx, endpointID))
}
