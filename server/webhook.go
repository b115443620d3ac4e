package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/credits/credits"
)

// handleWebhook receives Stripe events. It answers 2xx only once the event and
// its effects are committed; 400 for anything unsigned or malformed (nothing
// is written); 5xx when we fail, so that Stripe retries.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxWebhookBodyBytes)
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		s.Metrics.webhook("refused")
		if errors.As(err, &maxErr) {
			s.writeError(w, r, credits.Errorf(credits.ETOOLARGE, "webhook body is larger than %d bytes", MaxWebhookBodyBytes))
			return
		}
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "could not read the body"))
		return
	}
	event, err := s.Webhook.ParseWebhook(payload, r.Header.Get("Stripe-Signature"))
	if err != nil {
		s.Metrics.webhook("refused")
		s.Logger.Warn("webhook refused", "error", err, "request_id", requestID(r))
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "%s", err.Error()))
		return
	}
	recorded, err := s.Service.HandleEvent(r.Context(), event)
	if err != nil {
		s.Metrics.webhook("failed")
		s.writeError(w, r, err)
		return
	}
	s.Metrics.webhook(recorded.Status)
	switch recorded.Status {
	case credits.EventUnmatched, credits.EventFailed:
		s.Logger.Error("stripe event not applied", "event", recorded.ID, "type", recorded.Type,
			"session", recorded.SessionID, "status", recorded.Status, "reason", recorded.Error)
	case credits.EventIgnored:
		s.Logger.Info("stripe event ignored", "event", recorded.ID, "type", recorded.Type, "reason", recorded.Error)
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "event": recorded.ID, "status": recorded.Status})
}
