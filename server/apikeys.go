package server

import (
	"net/http"

	"github.com/credits/credits"
)

type createAPIKeyRequest struct {
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	AccountID string `json:"account_id"`
}

// handleCreateAPIKey makes a scoped key; its secret is in this answer only.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req createAPIKeyRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	key, secret, err := s.Service.CreateAPIKey(r.Context(), req.Name, req.Scope, req.AccountID)
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
