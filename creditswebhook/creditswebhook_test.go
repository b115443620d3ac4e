package creditswebhook_test

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits/creditswebhook"
)

// Secrets as credits issues them: whsec_ and 64 hex digits.
const (
	secretA = "whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "whsec_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	payload := []byte(`{"id":"evt_1","type":"balance.low"}`)
	good := creditswebhook.Sign(payload, now, secretA)
	tests := []struct {
		name    string
		payload []byte
		header  string
		secrets []string
		want    error
	}{
		{"good", payload, good, []string{secretA}, nil},
		{"one of several secrets", payload, good, []string{secretB, secretA}, nil},
		{"two signatures while rotating", payload, creditswebhook.Sign(payload, now, "whsec_old_0123456789abcdef", "whsec_new_0123456789abcdef"), []string{"whsec_new_0123456789abcdef"}, nil},
		{"tampered payload", []byte(`{"id":"evt_1","type":"balance.recovered"}`), good, []string{secretA}, creditswebhook.ErrMismatch},
		{"wrong secret", payload, good, []string{secretB}, creditswebhook.ErrMismatch},
		{"stale", payload, creditswebhook.Sign(payload, now.Add(-6*time.Minute), secretA), []string{secretA}, creditswebhook.ErrStale},
		{"from the future", payload, creditswebhook.Sign(payload, now.Add(6*time.Minute), secretA), []string{secretA}, creditswebhook.ErrStale},
		{"tampered time", payload, strings.Replace(good, "t=1800000000", "t=1800000001", 1), []string{secretA}, creditswebhook.ErrMismatch},
		{"no header", payload, "", []string{secretA}, creditswebhook.ErrNoSignature},
		{"no v1", payload, "t=1800000000", []string{secretA}, creditswebhook.ErrNoSignature},
		{"a v0 only", payload, strings.Replace(good, "v1=", "v0=", 1), []string{secretA}, creditswebhook.ErrNoSignature},
		{"bad hex", payload, "t=1800000000,v1=zz", []string{secretA}, creditswebhook.ErrNoSignature},
		{"no secrets", payload, good, nil, creditswebhook.ErrSecret},
		{"an empty secret", payload, creditswebhook.Sign(payload, now, ""), []string{""}, creditswebhook.ErrSecret},
		{"an empty secret beside a good one", payload, creditswebhook.Sign(payload, now, ""), []string{secretA, ""}, creditswebhook.ErrSecret},
		{"whsec_ alone", payload, creditswebhook.Sign(payload, now, "whsec_"), []string{"whsec_"}, creditswebhook.ErrSecret},
		{"15 bytes after whsec_", payload, creditswebhook.Sign(payload, now, "whsec_0123456789abcde"), []string{"whsec_0123456789abcde"}, creditswebhook.ErrSecret},
		{"16 bytes after whsec_", payload, creditswebhook.Sign(payload, now, "whsec_0123456789abcdef"), []string{"whsec_0123456789abcdef"}, nil},
		{"16 bytes without a prefix", payload, creditswebhook.Sign(payload, now, "0123456789abcdef"), []string{"0123456789abcdef"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := creditswebhook.Verify(tt.payload, tt.header, tt.secrets, creditswebhook.DefaultTolerance, now)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	req := httptest.NewRequest("POST", "/hooks/credits", bytes.NewReader(payload))
	req.Header.Set(creditswebhook.Header, creditswebhook.Sign(payload, time.Now(), secretA))
	body, err := creditswebhook.VerifyRequest(req, secretA)
	if err != nil || !bytes.Equal(body, payload) {
		t.Errorf("VerifyRequest = %q, %v", body, err)
	}
	big := httptest.NewRequest("POST", "/hooks/credits", bytes.NewReader(make([]byte, creditswebhook.MaxBodyBytes+1)))
	if _, err := creditswebhook.VerifyRequest(big, secretA); err == nil {
		t.Error("a body over the limit was read")
	}
}

// A receiver written as docs/webhooks.md shows, with its environment
// variable unset, refuses a request signed with the empty secret, and says why.
func TestVerifyRequestUnsetSecret(t *testing.T) {
	t.Setenv("CREDITS_WEBHOOK_SECRET", "")
	payload := []byte(`{"id":"evt_forged","type":"purchase.completed"}`)
	req := httptest.NewRequest("POST", "/hooks/credits", bytes.NewReader(payload))
	req.Header.Set(creditswebhook.Header, creditswebhook.Sign(payload, time.Now(), ""))
	_, err := creditswebhook.VerifyRequest(req, os.Getenv("CREDITS_WEBHOOK_SECRET"))
	if !errors.Is(err, creditswebhook.ErrSecret) {
		t.Fatalf("VerifyRequest with an unset secret = %v, want ErrSecret", err)
	}
	if !strings.Contains(err.Error(), "secret") {
		t.Errorf("the error does not say what is wrong: %v", err)
	}
}

// FuzzVerify: no header verifies a payload without the secret.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add("t=1800000000,v1=" + strings.Repeat("ab", 32))
	f.Add(creditswebhook.Sign([]byte("other"), now, secretA))
	f.Add(",,=,t=,v1=")
	f.Fuzz(func(t *testing.T, header string) {
		if err := creditswebhook.Verify([]byte("payload"), header, []string{secretA}, creditswebhook.DefaultTolerance, now); err == nil {
			t.Fatalf("header %q verified without the secret", header)
		}
	})
}
