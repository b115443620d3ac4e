package server

import (
	"net/http"

	"github.com/credits/credits"
)

type createAPIKeyRequest struct {
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	AccountID string `json:"account_id"`
	MemberID  string `json:"member_id"`
}

// handleCreateAPIKey makes a scoped key; its secret is in this answer only.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req createAPIKeyRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	key, secret, err := s.Service.CreateMemberAPIKey(r.Context(), req.Name, req.Scope, req.AccountID, req.MemberID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": key, "secret": secret})
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Service.ListAPIKeys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if keys == nil {
		keys = []credits.APIKey{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": keys})
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	key, err := s.Service.RevokeAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, key)
}

type createWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// handleCreateWebhookEndpoint adds an endpoint; its signing secret is in
// this answer only.
func (s *Server) handleCreateWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	var req createWebhookEndpointRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ep, err := s.Service.CreateWebhookEndpoint(r.Context(), req.URL, req.Events, req.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"endpoint": ep, "secret": ep.Secret})
}

func (s *Server) handleListWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	endpoints, err := s.Service.WebhookEndpoints(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if endpoints == nil {
		endpoints = []credits.WebhookEndpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": endpoints})
}

func (s *Server) handleRemoveWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.RemoveWebhookEndpoint(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "deleted": true})
}

func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	attempts, err := s.Service.WebhookAttempts(r.Context(), r.PathValue("id"), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if attempts == nil {
		attempts = []credits.WebhookAttempt{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": attempts})
}

func (s *Server) handleEnableWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := s.Service.EnableWebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

func (s *Server) handleDisableWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := s.Service.DisableWebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

func (s *Server) handleResendWebhookEvent(w http.ResponseWriter, r *http.Request) {
	attempt, err := s.Service.ResendWebhookEvent(r.Context(), r.PathValue("id"), r.PathValue("event_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, attempt)
}

func (s *Server) handleGetWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := s.Service.WebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ep)
}

// handleRotateWebhookSecret answers the new secret, once; the old one signs
// too for 24 hours.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	ep, err := s.Service.RotateWebhookSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint": ep, "secret": ep.Secret})
}

func (s *Server) handleTestWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	attempt, err := s.Service.TestWebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, attempt)
}
