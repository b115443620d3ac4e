package server

import "time"

// SignToken signs a token as the server does, for tests that stand for an
// attacker holding the signing secret.
func (s *Server) SignToken(purpose, subject string, expires time.Time) string {
	return s.signer().sign(purpose, subject, expires)
}

// CSRFToken is the form token of a session cookie.
func (s *Server) CSRFToken(cookie string) string { return s.signer().csrf(cookie) }
