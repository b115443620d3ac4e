package server

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDashboardToken feeds arbitrary strings to the dashboard token parser:
// none may verify but the tokens that the signer made, and none may panic.
func FuzzDashboardToken(f *testing.F) {
	s := signer{key: []byte("fuzz signing key")}
	now := time.Unix(1_800_000_000, 0)
	valid := map[string]bool{}
	for _, subject := range []string{"alice", "", "user.with.dots", strings.Repeat("x", 300)} {
		token := signedWithNonce(s, tokenPurposeLink, subject, now.Add(time.Hour))
		valid[token] = true
		f.Add(token)
		f.Add(token[:len(token)-1])
		f.Add(strings.Replace(token, tokenPurposeLink, tokenPurposeAdmin, 1))
	}
	f.Add("")
	f.Add("....")
	f.Add("link.YWxpY2U.99999999999999999999.00.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, token string) {
		subject, err := s.verify(token, tokenPurposeLink, now)
		if err == nil && !valid[token] {
			t.Fatalf("token %q verified (subject %q) but was never signed", token, subject)
		}
		if err != nil && err != errTokenInvalid && err != errTokenExpired {
			t.Fatalf("token %q: unexpected error %v", token, err)
		}
	})
}

// FuzzDashboardTokenTampering changes one byte of a valid token: the result
// must not verify.
func FuzzDashboardTokenTampering(f *testing.F) {
	s := signer{key: []byte("fuzz signing key")}
	now := time.Unix(1_800_000_000, 0)
	token := signedWithNonce(s, tokenPurposeSession, "alice", now.Add(time.Hour))
	f.Add(uint16(0), byte('x'))
	f.Add(uint16(len(token)-1), byte('A'))
	f.Add(uint16(strings.Index(token, ".")+1), byte('Y'))
	f.Fuzz(func(t *testing.T, position uint16, b byte) {
		i := int(position) % len(token)
		if token[i] == b {
			return
		}
		tampered := token[:i] + string([]byte{b}) + token[i+1:]
		if subject, err := s.verify(tampered, tokenPurposeSession, now); err == nil {
			t.Fatalf("tampered token %q verified as %q", tampered, subject)
		}
	})
}

// signedWithNonce signs as signer.sign does, with a fixed nonce, so that every
// fuzzing process makes the same tokens.
func signedWithNonce(s signer, purpose, subject string, expires time.Time) string {
	body := strings.Join([]string{purpose, base64.RawURLEncoding.EncodeToString([]byte(subject)),
		strconv.FormatInt(expires.Unix(), 10), "000102030405060708090a0b"}, ".")
	token := body + "." + s.mac(body)
	if got, err := s.verify(token, purpose, expires.Add(-time.Second)); err != nil || got != subject {
		panic("signedWithNonce no longer signs as signer.sign does")
	}
	return token
}
