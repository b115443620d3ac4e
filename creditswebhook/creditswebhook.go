// Package creditswebhook signs and verifies the webhooks that credits sends
// to applications, as Stripe signs its own: a header
//
//	Credits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// with one v1 per secret while a secret is being rotated. Receivers verify
// with Verify (or VerifyRequest), which checks the time against a tolerance
// and accepts any v1 made with any of their secrets. It imports only the
// standard library, so that a receiver in Go can use it as it is.
package creditswebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header is the signature header's name.
const Header = "Credits-Signature"

// Limits of verification.
const (
	// DefaultTolerance is how far a signature's time may be from now.
	DefaultTolerance = 5 * time.Minute
	// MaxBodyBytes is the largest body VerifyRequest reads.
	MaxBodyBytes = 1 << 20
	// maxHeaderLength bounds the header a receiver parses.
	maxHeaderLength = 4096
	// MinSecretBytes is the shortest secret Verify accepts, after an optional
	// "whsec_" prefix: the secrets credits issues are whsec_ and 64 hex digits.
	MinSecretBytes = 16
	// secretPrefix starts the secrets credits issues.
	secretPrefix = "whsec_"
)

// Errors of verification; Verify wraps them with detail.
var (
	ErrNoSignature = errors.New("creditswebhook: no Credits-Signature header, or one without t and v1")
	ErrStale       = errors.New("creditswebhook: the signature's time is outside the tolerance")
	ErrMismatch    = errors.New("creditswebhook: no signature matches the payload and the secrets")
	// ErrSecret is a receiver's mistake, not a sender's: no secret, or one
	// too short to keep a forger out (an unset environment variable reads as
	// ""). Nothing verifies until the receiver is given its endpoint's secret.
	ErrSecret = errors.New("creditswebhook: no usable secret: give the endpoint's whsec_ secret (at least 16 bytes after whsec_)")
)

// Sign returns the header value for payload, made at a time with each secret
// (two while a secret is rotated).
func Sign(payload []byte, at time.Time, secrets ...string) string {
	t := strconv.FormatInt(at.Unix(), 10)
	parts := []string{"t=" + t}
	for _, secret := range secrets {
		parts = append(parts, "v1="+hex.EncodeToString(mac(secret, t, payload)))
	}
	return strings.Join(parts, ",")
}

func mac(secret, t string, payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t))
	m.Write([]byte("."))
	m.Write(payload)
	return m.Sum(nil)
}

// Verify checks that header signs payload with one of the secrets, at a time
// within tolerance of now.
func Verify(payload []byte, header string, secrets []string, tolerance time.Duration, now time.Time) error {
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	if len(header) > maxHeaderLength {
		return fmt.Errorf("%w: the header is too long", ErrNoSignature)
	}
	var t string
	var signatures [][]byte
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
		case key == "t":
			t = value
		case key == "v1":
			if sig, err := hex.DecodeString(value); err == nil && len(sig) == sha256.Size {
				signatures = append(signatures, sig)
			}
		}
	}
	seconds, err := strconv.ParseInt(t, 10, 64)
	if err != nil || len(signatures) == 0 {
		return ErrNoSignature
	}
	if at := time.Unix(seconds, 0); at.Before(now.Add(-tolerance)) || at.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: signed at %s, now %s", ErrStale, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for _, secret := range secrets {
		want := mac(secret, t, payload)
		for _, sig := range signatures {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrMismatch
}

// checkSecrets refuses an empty list and any empty or short secret, so that a
// receiver whose secret is unset fails closed instead of accepting signatures
// made with "" (which anyone can make). It never says what a secret is.
func checkSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%w: none given", ErrSecret)
	}
	for i, secret := range secrets {
		if len(strings.TrimPrefix(secret, secretPrefix)) < MinSecretBytes {
			return fmt.Errorf("%w: secret %d of %d is empty or shorter than %d bytes", ErrSecret, i+1, len(secrets), MinSecretBytes)
		}
	}
	return nil
}

// VerifyRequest reads a webhook request's body (at most MaxBodyBytes) and
// verifies its signature with DefaultTolerance; it returns the body.
func VerifyRequest(r *http.Request, secrets ...string) ([]byte, error) {
	if err := checkSecrets(secrets); err != nil {
		return nil, err // before reading: a receiver without a secret reads nothing
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("creditswebhook: read the body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("creditswebhook: the body is larger than %d bytes", MaxBodyBytes)
	}
	return body, Verify(body, r.Header.Get(Header), secrets, DefaultTolerance, time.Now())
}
