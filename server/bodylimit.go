package server

import (
	"net/http"
	"strings"

	"github.com/credits/credits"
)

// refuseLargeBodies answers 413 to a request whose Content-Length is over its
// route's limit before any handler reads: nothing is read, so a client that
// sent Expect: 100-continue is never asked for its body, and one that sends
// it anyway reads the answer before the connection closes. Bodies without a
// length (chunked) are still cut at the limit by http.MaxBytesReader.
func (s *Server) refuseLargeBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit := bodyLimitBytes(r.URL.Path); r.ContentLength > limit {
			w.Header().Set("Connection", "close") // the unread body must not be taken for the next request
			s.writeError(w, r, credits.Errorf(credits.ETOOLARGE, "body is larger than %d bytes", limit))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimitBytes is the largest body a path takes: Stripe's events, or a
// small JSON object or form everywhere else.
func bodyLimitBytes(path string) int64 {
	if path == "/stripe/webhook" || strings.HasPrefix(path, "/account/stripe-webhook/") {
		return MaxWebhookBodyBytes
	}
	return MaxAPIBodyBytes
}
