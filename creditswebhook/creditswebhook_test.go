package creditswebhook_test

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits/creditswebhook"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	payload := []byte(`{"id":"evt_1","type":"balance.low"}`)
	good := creditswebhook.Sign(payload, now, "whsec_a")
	tests := []struct {
		name    string
		payload []byte
		header  string
		secrets []string
		want    error
	}{
		{"good", payload, good, []string{"whsec_a"}, nil},
		{"one of several secrets", payload, good, []string{"whsec_b", "whsec_a"}, nil},
		{"two signatures while rotating", payload, creditswebhook.Sign(payload, now, "whsec_old", "whsec_new"), []string{"whsec_new"}, nil},
		{"tampered payload", []byte(`{"id":"evt_1","type":"balance.recovered"}`), good, []string{"whsec_a"}, creditswebhook.ErrMismatch},
		{"wrong secret", payload, good, []string{"whsec_b"}, creditswebhook.ErrMismatch},
		{"stale", payload, creditswebhook.Sign(payload, now.Add(-6*time.Minute), "whsec_a"), []string{"whsec_a"}, creditswebhook.ErrStale},
		{"from the future", payload, creditswebhook.Sign(payload, now.Add(6*time.Minute), "whsec_a"), []string{"whsec_a"}, creditswebhook.ErrStale},
		{"tampered time", payload, strings.Replace(good, "t=1800000000", "t=1800000001", 1), []string{"whsec_a"}, creditswebhook.ErrMismatch},
		{"no header", payload, "", []string{"whsec_a"}, creditswebhook.ErrNoSignature},
		{"no v1", payload, "t=1800000000", []string{"whsec_a"}, creditswebhook.ErrNoSignature},
		{"a v0 only", payload, strings.Replace(good, "v1=", "v0=", 1), []string{"whsec_a"}, creditswebhook.ErrNoSignature},
		{"bad hex", payload, "t=1800000000,v1=zz", []string{"whsec_a"}, creditswebhook.ErrNoSignature},
		{"no secrets", payload, good, nil, creditswebhook.ErrMismatch},
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
	req.Header.Set(creditswebhook.Header, creditswebhook.Sign(payload, time.Now(), "whsec_a"))
	body, err := creditswebhook.VerifyRequest(req, "whsec_a")
	if err != nil || !bytes.Equal(body, payload) {
		t.Errorf("VerifyRequest = %q, %v", body, err)
	}
	big := httptest.NewRequest("POST", "/hooks/credits", bytes.NewReader(make([]byte, creditswebhook.MaxBodyBytes+1)))
	if _, err := creditswebhook.VerifyRequest(big, "whsec_a"); err == nil {
		t.Error("a body over the limit was read")
	}
}

// FuzzVerify: no header verifies a payload without the secret.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add("t=1800000000,v1=" + strings.Repeat("ab", 32))
	f.Add(creditswebhook.Sign([]byte("other"), now, "whsec_a"))
	f.Add(",,=,t=,v1=")
	f.Fuzz(func(t *testing.T, header string) {
		if err := creditswebhook.Verify([]byte("payload"), header, []string{"whsec_a"}, creditswebhook.DefaultTolerance, now); err == nil {
			t.Fatalf("header %q verified without the secret", header)
		}
	})
}
