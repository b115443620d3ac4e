package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/credits/credits"
)

// Pricing: features and rate cards (admin), check and usage (spend).
func (s *Server) pricingRoutes() []apiRoute {
	read, spend, admin := credits.ScopeRead, credits.ScopeSpend, credits.ScopeAdmin
	return []apiRoute{
		{"POST /v1/features", admin, anyAccount, s.handleCreateFeature},
		{"GET /v1/features", read, catalog, s.handleListFeatures},
		{"POST /v1/rate_cards", admin, anyAccount, s.handleCreateRateCard},
		{"POST /v1/rate_cards/{id}/versions", admin, anyAccount, s.handleAddRateCardVersion},
		{"GET /v1/rate_cards/{id}", read, catalog, s.handleGetRateCard},
		{"GET /v1/rate_cards/{id}/versions/{n}", read, catalog, s.handleGetRateCardVersion},
		{"PUT /v1/accounts/{id}/rate_card", admin, pathAccount, s.handleSetAccountRateCard},
		{"POST /v1/accounts/{id}/check", spend, pathAccount, s.handleCheck},
		{"POST /v1/accounts/{id}/usage", spend, pathAccount, s.handleUsage},
		{"GET /v1/accounts/{id}/usage", read, pathAccount, s.handleUsageTotals},
	}
}

type featureRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Unit string `json:"unit"`
}

func (s *Server) handleCreateFeature(w http.ResponseWriter, r *http.Request) {
	var req featureRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.Service.CreateFeature(r.Context(), credits.Feature{ID: req.ID, Name: req.Name, Unit: req.Unit})
	s.answer(w, r, http.StatusCreated, f, err)
}

func (s *Server) handleListFeatures(w http.ResponseWriter, r *http.Request) {
	features, err := s.Service.ListFeatures(r.Context())
	s.answer(w, r, http.StatusOK, map[string]any{"data": features}, err)
}

// answer writes v with status, or the error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

type rateCardRequest struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Rates       []credits.Rate `json:"rates"`
	Rounding    string         `json:"rounding"`
	Minimum     int64          `json:"minimum"`
	EffectiveAt *time.Time     `json:"effective_at"`
}

type versionRequest struct {
	Rates       []credits.Rate `json:"rates"`
	Rounding    string         `json:"rounding"`
	Minimum     int64          `json:"minimum"`
	EffectiveAt *time.Time     `json:"effective_at"`
}

func (s *Server) handleCreateRateCard(w http.ResponseWriter, r *http.Request) {
	var req rateCardRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.Service.CreateRateCard(r.Context(), credits.RateCardRequest(req))
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) handleAddRateCardVersion(w http.ResponseWriter, r *http.Request) {
	var req versionRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.Service.AddRateCardVersion(r.Context(), r.PathValue("id"), credits.RateCardRequest{Rates: req.Rates,
		Rounding: req.Rounding, Minimum: req.Minimum, EffectiveAt: req.EffectiveAt})
	s.answer(w, r, http.StatusCreated, v, err)
}

// cardReached refuses, to a key bound to an account, a rate card other than
// the one pricing that account (another account's own card is its own
// business), as not found.
func (s *Server) cardReached(r *http.Request) error {
	return s.readsCard(r, r.PathValue("id"), false)
}

// readsCard answers 404 for a rate card that the request's key, bound to an
// account, does not read: any card but the one that prices its account (and,
// when orDefault, the default card, which it may go back to).
func (s *Server) readsCard(r *http.Request, cardID string, orDefault bool) error {
	key := requestKey(r)
	if key.AccountID == "" || (orDefault && cardID == credits.DefaultRateCard) {
		return nil
	}
	id, err := s.Service.PricingRateCard(r.Context(), key.AccountID)
	if err == nil && id != cardID {
		err = credits.Errorf(credits.ENOTFOUND, "rate card %s not found", cardID)
	}
	return err
}

func (s *Server) handleGetRateCard(w http.ResponseWriter, r *http.Request) {
	if err := s.cardReached(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.Service.GetRateCard(r.Context(), r.PathValue("id"))
	s.answer(w, r, http.StatusOK, c, err)
}

func (s *Server) handleGetRateCardVersion(w http.ResponseWriter, r *http.Request) {
	if err := s.cardReached(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 1 {
		s.writeError(w, r, credits.Errorf(credits.ENOTFOUND, "rate card %s has no version %q", r.PathValue("id"), r.PathValue("n")))
		return
	}
	v, err := s.Service.GetRateCardVersion(r.Context(), r.PathValue("id"), n)
	s.answer(w, r, http.StatusOK, v, err)
}

type accountRateCardRequest struct {
	RateCardID string `json:"rate_card_id"`
}

func (s *Server) handleSetAccountRateCard(w http.ResponseWriter, r *http.Request) {
	var req accountRateCardRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	// A bound key assigns only a card it reads: another customer's card
	// is not its to see, nor to learn exists.
	if err := s.readsCard(r, req.RateCardID, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Service.SetAccountRateCard(r.Context(), r.PathValue("id"), req.RateCardID)
	s.answer(w, r, http.StatusOK, res, err)
}

type checkRequest struct {
	Feature          string            `json:"feature"`
	Quantity         *int64            `json:"quantity"`
	Quantities       map[string]int64  `json:"quantities"`
	Properties       map[string]string `json:"properties"`
	Description      string            `json:"description"`
	Reserve          bool              `json:"reserve"`
	ExpiresInSeconds int64             `json:"expires_in_seconds"`
	MemberID         string            `json:"member_id"`
}

// handleCheck prices a usage; with reserve, it holds the price (an
// Idempotency-Key, when sent, makes a retry answer the same hold).
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req checkRequest
	idem, ok := s.decodeSpend(w, r, accountID, false, &req, &req.MemberID)
	if !ok {
		return
	}
	res, replayed, err := s.Service.Check(r.Context(), accountID, credits.UsageRequest{Feature: req.Feature, Quantity: req.Quantity,
		Quantities: req.Quantities, Properties: req.Properties, Description: req.Description, Reserve: req.Reserve,
		ExpiresInSeconds: req.ExpiresInSeconds, MemberID: req.MemberID}, idem)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	s.answer(w, r, http.StatusOK, res, err)
}

type usageRequest struct {
	Feature     string            `json:"feature"`
	Quantity    *int64            `json:"quantity"`
	Quantities  map[string]int64  `json:"quantities"`
	Properties  map[string]string `json:"properties"`
	Description string            `json:"description"`
	Metadata    credits.Metadata  `json:"metadata"`
	HoldID      string            `json:"hold_id"`
	MemberID    string            `json:"member_id"`
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	var req usageRequest
	idem, ok := s.decodeSpend(w, r, accountID, true, &req, &req.MemberID)
	if !ok {
		return
	}
	res, replayed, err := s.Service.RecordUsage(r.Context(), accountID, credits.UsageRequest{Feature: req.Feature, Quantity: req.Quantity,
		Quantities: req.Quantities, Properties: req.Properties, Description: req.Description, Metadata: req.Metadata, HoldID: req.HoldID,
		MemberID: req.MemberID}, idem)
	s.writeIdempotent(w, r, "usage", res, replayed, err)
}

func (s *Server) handleUsageTotals(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.writeError(w, r, credits.Errorf(credits.EINVALID, "%s must be a time in RFC 3339 (2026-11-01T00:00:00Z)", p.name))
			return
		}
		*p.t = t
	}
	totals, err := s.Service.UsageTotals(r.Context(), r.PathValue("id"), from, to, r.URL.Query().Get("group_by"))
	s.answer(w, r, http.StatusOK, map[string]any{"data": totals}, err)
}
