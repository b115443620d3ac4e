package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Lifetimes of what the pages hand out.
const (
	DashboardLinkTTL     = 15 * time.Minute
	MaxDashboardLinkTTL  = 7 * 24 * time.Hour
	DashboardSessionTTL  = 12 * time.Hour
	AdminSessionTTL      = 8 * time.Hour
	dashboardCookie      = "credits_dashboard"
	adminCookie          = "credits_admin"
	tokenPurposeLink     = "link"
	tokenPurposeSession  = "session"
	tokenPurposeAdmin    = "admin"
	maxTokenLength       = 1024
	csrfField            = "csrf"
	tokenNonceBytes      = 12
	signatureEncodedSize = 43 // base64url of 32 bytes, unpadded
)

// Token errors: the pages answer 403 and say which.
var (
	errTokenInvalid = errors.New("this link is not valid: it was changed or is not a credits link")
	errTokenExpired = errors.New("this link has expired: ask the application for a new one")
)

// signer makes and checks tokens of the form
// purpose.subject.expiry.nonce.signature, signed with HMAC-SHA256 by key; a
// token signed by a previous key is still accepted, so that rotating
// CREDITS_SIGNING_SECRET signs nobody out during its window.
type signer struct {
	key      []byte
	previous [][]byte
}

func (s signer) sign(purpose, subject string, expires time.Time) string {
	nonce := make([]byte, tokenNonceBytes)
	_, _ = rand.Read(nonce)
	body := strings.Join([]string{purpose, base64.RawURLEncoding.EncodeToString([]byte(subject)),
		strconv.FormatInt(expires.Unix(), 10), hex.EncodeToString(nonce)}, ".")
	return body + "." + s.mac(body)
}

func (s signer) mac(body string) string { return macWith(s.key, body) }

func macWith(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifies reports whether mac is body's, by the key or a previous one.
func (s signer) verifies(body, mac string) bool {
	ok := hmac.Equal([]byte(macWith(s.key, body)), []byte(mac))
	for _, key := range s.previous {
		ok = hmac.Equal([]byte(macWith(key, body)), []byte(mac)) || ok
	}
	return ok
}

// verify returns the subject of a token made for purpose, if it is intact
// and not expired.
func (s signer) verify(token, purpose string, now time.Time) (string, error) {
	if len(token) > maxTokenLength {
		return "", errTokenInvalid
	}
	parts := strings.Split(token, ".")
	if len(parts) != 5 || parts[0] != purpose || len(parts[4]) != signatureEncodedSize {
		return "", errTokenInvalid
	}
	body := strings.Join(parts[:4], ".")
	if !s.verifies(body, parts[4]) {
		return "", errTokenInvalid
	}
	subject, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errTokenInvalid
	}
	expires, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", errTokenInvalid
	}
	if now.Unix() >= expires {
		return "", errTokenExpired
	}
	return string(subject), nil
}

// csrf returns the form token bound to one session cookie.
func (s signer) csrf(sessionToken string) string {
	return s.mac("csrf." + sessionToken)
}

func (s signer) checkCSRF(r *http.Request, sessionToken string) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && s.verifies("csrf."+sessionToken, got)
}

// secure reports whether the service is reached over https.
func (s *Server) secure() bool { return strings.HasPrefix(strings.ToLower(s.PublicURL), "https://") }

// cookieName is a cookie's name: with the __Host- prefix over https, so that
// a browser keeps it only when it is Secure, for the whole host, with no
// Domain (no sibling subdomain can set or read it).
func (s *Server) cookieName(base string) string {
	if s.secure() {
		return "__Host-" + base
	}
	return base
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when the public
// URL is https.
func (s *Server) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(),
	})
}
