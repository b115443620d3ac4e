package server

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/credits/credits"
)

type createPackRequest struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Credits          int64  `json:"credits"`
	UnitAmount       int64  `json:"unit_amount"`
	Currency         string `json:"currency"`
	StripePriceID    string `json:"stripe_price_id"`
	ExpiresAfterDays *int64 `json:"expires_after_days"`
	Active           *bool  `json:"active"`
}

func (s *Server) handleCreatePack(w http.ResponseWriter, r *http.Request) {
	var req createPackRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	pack := credits.Pack{
		ID: req.ID, Name: req.Name, Credits: req.Credits, UnitAmount: req.UnitAmount,
		Currency: req.Currency, StripePriceID: req.StripePriceID, ExpiresAfterDays: req.ExpiresAfterDays,
		Active: req.Active == nil || *req.Active,
	}
	pack, err := s.Service.CreatePack(r.Context(), pack)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, pack)
}

func (s *Server) handleListPacks(w http.ResponseWriter, r *http.Request) {
	activeOnly := r.URL.Query().Get("all") != "true"
	packs, err := s.Service.ListPacks(r.Context(), activeOnly)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if packs == nil {
		packs = []credits.Pack{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": packs})
}

type createAccountRequest struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func (s *Server) handleCreateAccount(w http.ResponseWriter, r *http.Request) {
	var req createAccountRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	account, err := s.Service.CreateAccount(r.Context(), req.ID, req.Email)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, account)
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	account, err := s.Service.GetAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, account)
}

func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Service.ListAccounts(r.Context(), r.URL.Query().Get("starting_after"), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

type createCheckoutRequest struct {
	PackID   string `json:"pack_id"`
	Quantity *int64 `json:"quantity"`
	SaveCard bool   `json:"save_card"` // the payment also saves its card for auto-recharge
}

// handleCreateCheckout creates a Checkout Session; an optional
// Idempotency-Key turns a double click into one session.
func (s *Server) handleCreateCheckout(w http.ResponseWriter, r *http.Request) {
	var req createCheckoutRequest
	idem, ok := s.decodeIdempotent(w, r, r.PathValue("id"), false, &req)
	if !ok {
		return
	}
	if key := requestKey(r); req.SaveCard && !slices.Contains(credits.Capabilities(key.Scope), credits.CanCard) {
		// As on the customer page: only an admin key saves a card, which
		// auto-recharge then charges off-session.
		s.writeError(w, r, credits.Errorf(EFORBIDDEN, "save_card needs an admin key: this API key's scope is %s (it may buy, not save a card)", key.Scope))
		return
	}
	quantity := int64(1)
	if req.Quantity != nil {
		quantity = *req.Quantity
	}
	session, replayed, err := s.Service.CreateCheckout(r.Context(), r.PathValue("id"), req.PackID, quantity, req.SaveCard, s.returnURLs(), idem)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, session)
}

func (s *Server) handleListEntries(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := intParam(r, "starting_after")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Service.ListEntries(r.Context(), r.PathValue("id"), after, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) handleListPurchases(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	purchases, err := s.Service.ListPurchases(r.Context(), r.PathValue("id"), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if purchases == nil {
		purchases = []credits.Purchase{}
	}
	for i := range purchases {
		purchases[i].Recharge = purchases[i].IsRecharge()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": purchases})
}

func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	events, err := s.Service.PageEvents(r.Context(), credits.EventFilter{
		Status: q.Get("status"), Type: q.Get("type"), StartingAfter: q.Get("starting_after"), Limit: int(limit)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, events)
}

// handleHealth reports reads and writes separately: 200 when both work,
// 503 when either fails (a full disk fails only writes).
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	reads, writes := s.Service.Health(r.Context())
	report := func(err error) string {
		if err == nil {
			return "ok"
		}
		s.Logger.Error("health check failed", "error", err)
		if credits.ErrorCode(err) == credits.EUNAVAILABLE {
			return "failing: " + credits.ErrorMessage(err)
		}
		return "failing"
	}
	status, body := http.StatusOK, map[string]string{"status": "ok", "reads": report(reads), "writes": report(writes)}
	if reads != nil || writes != nil {
		status, body["status"] = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, body)
}

// intParam reads an optional non-negative integer query parameter.
func intParam(r *http.Request, name string) (int64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, credits.Errorf(credits.EINVALID, "%s must be a non-negative integer", name)
	}
	return n, nil
}

type updateAccountRequest struct {
	LowBalanceThreshold *int64 `json:"low_balance_threshold"`
}

// handleUpdateAccount sets what an account's settings may change: its
// low-balance threshold (-1: the default, 0: off).
func (s *Server) handleUpdateAccount(w http.ResponseWriter, r *http.Request) {
	var req updateAccountRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.LowBalanceThreshold == nil {
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "low_balance_threshold is required"))
		return
	}
	account, err := s.Service.SetLowBalanceThreshold(r.Context(), r.PathValue("id"), *req.LowBalanceThreshold)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, account)
}
