package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/credits/credits"
)

// teamRoutes are the members' and the transfers' routes. A transfer names
// its accounts in its body: a key bound to one account cannot make one.
func (s *Server) teamRoutes() []apiRoute {
	read, spend, admin := credits.ScopeRead, credits.ScopeSpend, credits.ScopeAdmin
	return []apiRoute{
		{"GET /v1/accounts/{id}/members", read, pathAccount, s.handleListMembers},
		{"PUT /v1/accounts/{id}/members/{member_id}", admin, pathAccount, s.handlePutMember},
		{"GET /v1/accounts/{id}/members/{member_id}", read, pathAccount, s.handleGetMember},
		{"DELETE /v1/accounts/{id}/members/{member_id}", admin, pathAccount, s.handleDeleteMember},
		{"POST /v1/transfers", spend, anyAccount, s.handleCreateTransfer},
		{"GET /v1/transfers/{id}", read, anyAccount, s.handleGetTransfer},
		{"GET /v1/accounts/{id}/transfers", read, pathAccount, s.handleListTransfers},
	}
}

// memberRequest is PUT …/members/{member_id}: absent fields stay as they
// are; "cap": null removes the cap.
type memberRequest struct {
	Name  *string         `json:"name"`
	Email *string         `json:"email"`
	Cap   json.RawMessage `json:"cap"`
}

func (s *Server) handlePutMember(w http.ResponseWriter, r *http.Request) {
	var req memberRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	mr := credits.MemberRequest{Name: req.Name, Email: req.Email}
	if req.Cap != nil {
		mr.SetCap = true
		if !bytes.Equal(bytes.TrimSpace(req.Cap), []byte("null")) {
			var c struct {
				Credits *int64 `json:"credits"`
				Period  string `json:"period"`
			}
			dec := json.NewDecoder(bytes.NewReader(req.Cap))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil || c.Credits == nil {
				s.writeError(w, r, credits.Errorf(credits.EINVALID, "cap must be {\"credits\": n, \"period\": \"day\"|\"week\"|\"month\"|\"total\"} or null"))
				return
			}
			mr.Cap = &credits.MemberCap{Credits: *c.Credits, Period: c.Period}
		}
	}
	view, err := s.Service.PutMember(r.Context(), r.PathValue("id"), r.PathValue("member_id"), mr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) handleGetMember(w http.ResponseWriter, r *http.Request) {
	view, err := s.Service.GetMember(r.Context(), r.PathValue("id"), r.PathValue("member_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request) {
	views, err := s.Service.ListMembers(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": views})
}

func (s *Server) handleDeleteMember(w http.ResponseWriter, r *http.Request) {
	if err := s.Service.DeleteMember(r.Context(), r.PathValue("id"), r.PathValue("member_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// spendAs is the member a request spends as: a key bound to a member spends
// as it alone (a body naming another member is refused), and as it when the
// body names none.
func spendAs(r *http.Request, memberID string) (string, error) {
	key := requestKey(r)
	switch {
	case key.MemberID == "":
		return memberID, nil
	case memberID == "" || memberID == key.MemberID:
		return key.MemberID, nil
	}
	return "", credits.Errorf(EFORBIDDEN, "this API key spends as member %s only", key.MemberID)
}

type transferRequest struct {
	From           string `json:"from"`
	To             string `json:"to"`
	Credits        int64  `json:"credits"`
	Description    string `json:"description"`
	IncludeGranted bool   `json:"include_granted"`
}

func (s *Server) handleCreateTransfer(w http.ResponseWriter, r *http.Request) {
	var req transferRequest
	idem, ok := s.decodeIdempotent(w, r, "transfers", true, &req)
	if !ok {
		return
	}
	t, replayed, err := s.Service.Transfer(r.Context(), credits.TransferRequest(req), idem)
	s.writeIdempotent(w, r, "transfer", t, replayed, err)
}

func (s *Server) handleGetTransfer(w http.ResponseWriter, r *http.Request) {
	t, err := s.Service.GetTransfer(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleListTransfers(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	transfers, err := s.Service.ListTransfers(r.Context(), r.PathValue("id"), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": transfers})
}

// memberPage is the member a dashboard link is for ("": the account's own
// page), as a member key allows (spendAs), and what the page may do: a
// member's page buys for the account at most; the card and auto-recharge
// are the account's.
func (s *Server) memberPage(r *http.Request, accountID, asked string, can []string) (string, []string, error) {
	memberID, err := spendAs(r, asked)
	if err != nil || memberID == "" {
		return memberID, can, err
	}
	if _, err := s.Service.GetMember(r.Context(), accountID, memberID); err != nil {
		return "", nil, err
	}
	if slices.Contains(can, credits.CanPurchase) {
		return memberID, []string{credits.CanPurchase}, nil
	}
	return memberID, []string{}, nil
}

// holdOfMember reports whether the request's hold was made as the member.
func (s *Server) holdOfMember(r *http.Request, memberID string) bool {
	held, err := s.Service.HoldMember(r.Context(), r.PathValue("id"))
	return err == nil && held == memberID
}

// memberStillThere refuses a key bound to a member that has been deleted
// since (403) its reads of the team's account and anything of the member's
// holds: its page ends then, and so do these. Its spends answer 404 for the
// member, as anyone's naming it do.
func (s *Server) memberStillThere(r *http.Request, key credits.APIKey, scope string, reach int) error {
	if key.MemberID == "" || scope != credits.ScopeRead && reach != pathHold {
		return nil
	}
	_, err := s.Service.GetMember(r.Context(), key.AccountID, key.MemberID)
	if credits.ErrorCode(err) == credits.ENOTFOUND {
		return credits.Errorf(EFORBIDDEN, "this API key is bound to member %s of account %s, who was removed", key.MemberID, key.AccountID)
	}
	return err
}

// memberReads reports whether a key bound to a member may read what a
// route of its account reads: the account, and its own member, as the
// member's page shows; the team's ledger, purchases, holds, members and
// transfers are the account's, not the member's.
func memberReads(r *http.Request, key credits.APIKey, scope string, reach int) bool {
	if key.MemberID == "" || scope != credits.ScopeRead || reach != pathAccount {
		return true
	}
	switch r.Pattern {
	case "GET /v1/accounts/{id}":
		return true
	case "GET /v1/accounts/{id}/members/{member_id}":
		return r.PathValue("member_id") == key.MemberID
	}
	return false
}
