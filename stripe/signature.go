// Package stripe is the Stripe adapter: it verifies webhook signatures, maps
// Stripe events to domain events, and creates and reads Checkout Sessions
// through stripe-go. It holds no SQL and no HTTP routing.
package stripe

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// DefaultTolerance is how far a signature's timestamp may be from now, either
// way, as Stripe's own libraries allow.
const DefaultTolerance = 300 * time.Second

// Limits on the signature header.
const (
	MaxSignatureHeaderLength = 4096
	maxSignaturesPerHeader   = 16
)

// Signature errors. Each means the request is refused with 400 and nothing is
// written.
var (
	ErrNotSigned        = errors.New("missing Stripe-Signature header")
	ErrInvalidHeader    = errors.New("malformed Stripe-Signature header")
	ErrNoSignatures     = errors.New("Stripe-Signature header has no v1 signature")
	ErrTooOld           = errors.New("Stripe-Signature timestamp is too old")
	ErrTooNew           = errors.New("Stripe-Signature timestamp is in the future")
	ErrNoValidSignature = errors.New("no Stripe-Signature v1 signature matches a configured webhook secret")
)

// Verifier checks Stripe-Signature headers against every configured secret,
// so that a secret can be rotated without dropping events.
type Verifier struct {
	Secrets   []string
	Tolerance time.Duration
	Now       func() time.Time
}

// Verify checks that payload was signed by Stripe with one of the secrets,
// within the tolerance; comparisons are constant-time.
func (v *Verifier) Verify(payload []byte, header string) error {
	timestamp, signatures, err := parseHeader(header)
	if err != nil {
		return err
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	age := now.Sub(timestamp)
	if age > tolerance {
		return ErrTooOld
	}
	if age < -tolerance {
		return ErrTooNew
	}
	for _, secret := range v.Secrets {
		expected := webhook.ComputeSignature(timestamp, payload, secret)
		for _, sig := range signatures {
			if hmac.Equal(expected, sig) {
				return nil
			}
		}
	}
	return ErrNoValidSignature
}

// parseHeader reads "t=1495999758,v1=ABC,v1=DEF,v0=GHI".
func parseHeader(header string) (time.Time, [][]byte, error) {
	if header == "" {
		return time.Time{}, nil, ErrNotSigned
	}
	if len(header) > MaxSignatureHeaderLength {
		return time.Time{}, nil, ErrInvalidHeader
	}
	var timestamp time.Time
	var haveTimestamp bool
	var signatures [][]byte
	for pair := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return time.Time{}, nil, ErrInvalidHeader
		}
		switch key {
		case "t":
			seconds, err := strconv.ParseInt(value, 10, 64)
			if err != nil || seconds <= 0 || haveTimestamp {
				return time.Time{}, nil, ErrInvalidHeader
			}
			timestamp, haveTimestamp = time.Unix(seconds, 0), true
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != 32 || len(signatures) >= maxSignaturesPerHeader {
				continue // a signature that cannot match is ignored, as Stripe's libraries do
			}
			signatures = append(signatures, sig)
		}
	}
	if !haveTimestamp {
		return time.Time{}, nil, ErrInvalidHeader
	}
	if len(signatures) == 0 {
		return time.Time{}, nil, ErrNoSignatures
	}
	return timestamp, signatures, nil
}

// SignatureHeader signs payload as Stripe does; tests and the offline demo
// use it to send events through the same verification path.
func SignatureHeader(payload []byte, secret string, at time.Time) string {
	sig := webhook.ComputeSignature(at, payload, secret)
	return "t=" + strconv.FormatInt(at.Unix(), 10) + ",v1=" + hex.EncodeToString(sig)
}
