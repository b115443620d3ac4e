package server

import (
	"net/http"

	"github.com/credits/credits"
)

type autoRechargeRequest struct {
	Enabled      *bool  `json:"enabled"`
	Threshold    int64  `json:"threshold"`
	PackID       string `json:"pack_id"`
	Quantity     *int64 `json:"quantity"`
	MonthlyLimit *int64 `json:"monthly_limit"`
}

// handleSetAutoRecharge stores an account's auto-recharge settings, whole
// (PUT): monthly_limit is required, so that no card is charged without a cap.
func (s *Server) handleSetAutoRecharge(w http.ResponseWriter, r *http.Request) {
	var req autoRechargeRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case req.Enabled == nil:
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "enabled is required"))
		return
	case req.MonthlyLimit == nil:
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "monthly_limit is required (in the pack's minor units)"))
		return
	}
	in := credits.AutoRechargeSettings{Enabled: *req.Enabled, Threshold: req.Threshold, PackID: req.PackID, Quantity: 1, MonthlyLimit: *req.MonthlyLimit}
	if req.Quantity != nil {
		in.Quantity = *req.Quantity
	}
	view, err := s.Service.SetAutoRecharge(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) handleGetAutoRecharge(w http.ResponseWriter, r *http.Request) {
	view, err := s.Service.GetAutoRecharge(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) handleListRecharges(w http.ResponseWriter, r *http.Request) {
	view, err := s.Service.GetAutoRecharge(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := view.Recharges
	if data == nil {
		data = []credits.Recharge{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

// handleCreateSetupSession opens Checkout in setup mode: it saves a card for
// auto-recharge without buying anything.
func (s *Server) handleCreateSetupSession(w http.ResponseWriter, r *http.Request) {
	session, err := s.Service.CreateSetupSession(r.Context(), r.PathValue("id"), s.returnURLs())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": session.ID, "url": session.URL})
}

func (s *Server) handleRemoveCard(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.RemoveCard(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
