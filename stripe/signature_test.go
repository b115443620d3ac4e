package stripe_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits/stripe"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	payload := []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed"}`)
	const secret, rotated = "whsec_current", "whsec_previous"
	sign := func(p []byte, s string, at time.Time) string { return stripe.SignatureHeader(p, s, at) }
	sigOf := func(header string) string { return header[len(fmt.Sprintf("t=%d,v1=", now.Unix())):] }
	good := sign(payload, secret, now)

	tests := []struct {
		name    string
		secrets []string
		payload []byte
		header  string
		want    error
	}{
		{"good", []string{secret}, payload, good, nil},
		{"good at the edge of the past tolerance", []string{secret}, payload, sign(payload, secret, now.Add(-300*time.Second)), nil},
		{"good at the edge of the future tolerance", []string{secret}, payload, sign(payload, secret, now.Add(300*time.Second)), nil},
		{"stale", []string{secret}, payload, sign(payload, secret, now.Add(-301*time.Second)), stripe.ErrTooOld},
		{"future", []string{secret}, payload, sign(payload, secret, now.Add(301*time.Second)), stripe.ErrTooNew},
		{"tampered payload", []string{secret}, append([]byte(nil), append(payload[:len(payload)-1], ' ', '}')...), good, stripe.ErrNoValidSignature},
		{"tampered timestamp", []string{secret}, payload, fmt.Sprintf("t=%d,v1=%s", now.Unix()+1, sigOf(good)), stripe.ErrNoValidSignature},
		{"wrong secret", []string{"whsec_other"}, payload, good, stripe.ErrNoValidSignature},
		{"rotated: second secret matches", []string{"whsec_new", secret}, payload, good, nil},
		{"rotated: second v1 matches", []string{rotated}, payload,
			fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), sigOf(good), sigOf(sign(payload, rotated, now))), nil},
		{"v0 only", []string{secret}, payload, fmt.Sprintf("t=%d,v0=%s", now.Unix(), sigOf(good)), stripe.ErrNoSignatures},
		{"unknown schemes ignored", []string{secret}, payload, good + ",v0=abcd,x9=zz", nil},
		{"missing header", []string{secret}, payload, "", stripe.ErrNotSigned},
		{"garbage", []string{secret}, payload, "garbage", stripe.ErrInvalidHeader},
		{"no timestamp", []string{secret}, payload, "v1=" + sigOf(good), stripe.ErrInvalidHeader},
		{"bad timestamp", []string{secret}, payload, "t=abc,v1=" + sigOf(good), stripe.ErrInvalidHeader},
		{"two timestamps", []string{secret}, payload, good + fmt.Sprintf(",t=%d", now.Unix()), stripe.ErrInvalidHeader},
		{"signature not hex", []string{secret}, payload, fmt.Sprintf("t=%d,v1=zz", now.Unix()), stripe.ErrNoSignatures},
		{"signature truncated", []string{secret}, payload, fmt.Sprintf("t=%d,v1=%s", now.Unix(), sigOf(good)[:62]), stripe.ErrNoSignatures},
		{"no secrets configured", nil, payload, good, stripe.ErrNoValidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := stripe.Verifier{Secrets: tt.secrets, Now: func() time.Time { return now }}
			if got := v.Verify(tt.payload, tt.header); !errors.Is(got, tt.want) {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

// The header we make is the one Stripe documents: t=<unix>,v1=<hex hmac>.
func TestSignatureHeaderFormat(t *testing.T) {
	at := time.Unix(1700000000, 0)
	header := stripe.SignatureHeader([]byte("x"), "whsec_s", at)
	var ts int64
	var sig string
	if _, err := fmt.Sscanf(header, "t=%d,v1=%s", &ts, &sig); err != nil || ts != at.Unix() {
		t.Fatalf("header %q: %v", header, err)
	}
	if b, err := hex.DecodeString(sig); err != nil || len(b) != 32 {
		t.Errorf("signature %q is not a hex SHA-256 HMAC", sig)
	}
}
