package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/credits/credits"
)

// idempotency reads the Idempotency-Key header. A key is scoped to the API
// key and the account; the request hash covers the method, the path and the
// decoded request (so that whitespace or key order in the body do not matter),
// and the same key with another request is refused. It returns nil when there
// is no key and none is required.
func (s *Server) idempotency(r *http.Request, accountID string, required bool, req any) (*credits.Idempotency, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		if required {
			return nil, credits.Errorf(credits.EINVALID, "the Idempotency-Key header is required: a unique key per operation, reused only to retry it")
		}
		return nil, nil
	}
	if err := credits.ValidateIdempotencyKey(key); err != nil {
		return nil, err
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	// Scoped to the key's id, not its secret: a rotated secret keeps its
	// keys' answers.
	return &credits.Idempotency{
		Scope:       requestKey(r).ID + "/" + accountID,
		Key:         key,
		RequestHash: credits.HashRequest(r.Method, r.URL.Path, string(canonical)),
	}, nil
}

// decodeIdempotent decodes the body into req and reads the idempotency key.
func (s *Server) decodeIdempotent(w http.ResponseWriter, r *http.Request, accountID string, required bool, req any) (*credits.Idempotency, bool) {
	if err := decode(w, r, req); err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	idem, err := s.idempotency(r, accountID, required, req)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return idem, true
}

// decodeSpend is decodeIdempotent for a spend that may be made as a member:
// a member-bound key spends as its member, and names no other (spendAs).
func (s *Server) decodeSpend(w http.ResponseWriter, r *http.Request, accountID string, required bool, req any, memberID *string) (*credits.Idempotency, bool) {
	idem, ok := s.decodeIdempotent(w, r, accountID, required, req)
	if !ok {
		return nil, false
	}
	var err error
	if *memberID, err = spendAs(r, *memberID); err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return idem, true
}

// writeIdempotent answers an idempotent operation; a replayed answer says so.
func (s *Server) writeIdempotent(w http.ResponseWriter, r *http.Request, operation string, result any, replayed bool, err error) {
	switch {
	case replayed:
		s.Metrics.spend(operation, "replayed")
	case err != nil:
		s.Metrics.spend(operation, credits.ErrorCode(err))
	default:
		s.Metrics.spend(operation, "ok")
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, result)
}

type debitRequest struct {
	Amount      int64            `json:"amount"`
	Description string           `json:"description"`
	Metadata    credits.Metadata `json:"metadata"`
	MemberID    string           `json:"member_id"`
}

func (s *Server) handleDebit(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req debitRequest
	idem, ok := s.decodeSpend(w, r, accountID, true, &req, &req.MemberID)
	if !ok {
		return
	}
	result, replayed, err := s.Service.Debit(r.Context(), accountID, credits.DebitRequest(req), idem)
	s.writeIdempotent(w, r, "debit", result, replayed, err)
}

type grantRequest struct {
	Amount    int64      `json:"amount"`
	ExpiresAt *time.Time `json:"expires_at"`
	Priority  int64      `json:"priority"`
	Reason    string     `json:"reason"`
}

func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req grantRequest
	idem, ok := s.decodeIdempotent(w, r, accountID, false, &req)
	if !ok {
		return
	}
	if req.ExpiresAt != nil {
		utc := req.ExpiresAt.UTC().Truncate(time.Microsecond)
		req.ExpiresAt = &utc
	}
	result, replayed, err := s.Service.Grant(r.Context(), accountID, credits.GrantRequest(req), idem)
	s.writeIdempotent(w, r, "grant", result, replayed, err)
}

type adjustmentRequest struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
}

func (s *Server) handleAdjustment(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req adjustmentRequest
	idem, ok := s.decodeIdempotent(w, r, accountID, false, &req)
	if !ok {
		return
	}
	result, replayed, err := s.Service.Adjust(r.Context(), accountID, credits.AdjustmentRequest(req), idem)
	s.writeIdempotent(w, r, "adjustment", result, replayed, err)
}

type holdRequest struct {
	Amount           int64  `json:"amount"`
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
	Description      string `json:"description"`
	MemberID         string `json:"member_id"`
}

func (s *Server) handleCreateHold(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req holdRequest
	idem, ok := s.decodeSpend(w, r, accountID, true, &req, &req.MemberID)
	if !ok {
		return
	}
	hold, replayed, err := s.Service.CreateHold(r.Context(), accountID, credits.HoldRequest(req), idem)
	s.writeIdempotent(w, r, "hold", hold, replayed, err)
}

func (s *Server) handleListHolds(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	holds, err := s.Service.ListHolds(r.Context(), r.PathValue("id"), r.URL.Query().Get("status"), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if holds == nil {
		holds = []credits.Hold{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": holds})
}

func (s *Server) handleGetHold(w http.ResponseWriter, r *http.Request) {
	hold, err := s.Service.GetHold(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hold)
}

type captureRequest struct {
	Amount *int64 `json:"amount"` // nil: all
}

func (s *Server) handleCaptureHold(w http.ResponseWriter, r *http.Request) {
	var req captureRequest
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, decodeError(err))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 { // no body: capture all
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decode(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	hold, err := s.Service.CaptureHold(r.Context(), r.PathValue("id"), req.Amount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hold)
}

func (s *Server) handleReleaseHold(w http.ResponseWriter, r *http.Request) {
	hold, err := s.Service.ReleaseHold(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hold)
}
