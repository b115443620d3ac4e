// Package outbound sends the application's webhooks over HTTP, signed with
// creditswebhook: a 10 s timeout, no redirects followed, at most 64 KiB of an
// answer read.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/creditswebhook"
)

// Limits of a delivery.
const (
	Timeout          = 10 * time.Second
	maxResponseBytes = 64 << 10
	userAgent        = "credits-webhooks/1"
)

// Sender delivers events with an HTTP client of its own.
type Sender struct {
	Client *http.Client
	// Now dates the signatures: real time, never the development test
	// clock, because the application checks a signature's age against its
	// own clock (creditswebhook.DefaultTolerance) and would refuse one dated
	// a day ahead. When deliveries are due still follows the service's clock.
	Now func() time.Time
}

var _ credits.WebhookSender = (*Sender)(nil)

// New returns a sender that follows no redirect. With publicOnly it refuses
// to connect to any address Refused names, checked on the address DNS gave
// at the moment of connecting; it then uses no proxy, so the check is made
// on the endpoint itself.
func New(publicOnly bool) *Sender {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if publicOnly {
		dialer := &net.Dialer{Timeout: Timeout, KeepAlive: 30 * time.Second, Control: refuseDial}
		transport.DialContext = dialer.DialContext
		transport.Proxy = nil
	}
	return &Sender{Client: &http.Client{
		Transport:     transport,
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, Now: time.Now}
}

// Send posts payload to url, signed with every secret.
func (s *Sender) Send(ctx context.Context, url string, payload []byte, secrets []string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(creditswebhook.Header, creditswebhook.Sign(payload, s.Now(), secrets...))
	resp, err := s.Client.Do(req)
	if err != nil {
		var urlErr interface{ Timeout() bool }
		if errors.As(err, &urlErr) && urlErr.Timeout() {
			return 0, fmt.Errorf("no answer within %s", Timeout)
		}
		return 0, fmt.Errorf("could not reach the endpoint: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	return resp.StatusCode, nil
}
