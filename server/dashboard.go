package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/credits/credits"
)

// What the dashboard pages show.
const (
	DashboardPageSize    = 20                  // ledger rows, purchases, holds and expiring lots
	expiringSoonWindow   = 30 * 24 * time.Hour // lots expiring within it are listed
	balanceHistoryLength = 200                 // entries drawn in the balance chart
)

func dashboardQuery(before int64) credits.DashboardQuery {
	return credits.DashboardQuery{Before: before, PageSize: DashboardPageSize, ExpiringWithin: expiringSoonWindow, HistoryLength: balanceHistoryLength}
}

type dashboardSessionRequest struct {
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
}

// handleCreateDashboardSession makes a short-lived signed link to one
// account's credits page, as Stripe's customer portal does.
func (s *Server) handleCreateDashboardSession(w http.ResponseWriter, r *http.Request) {
	var req dashboardSessionRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ttl := DashboardLinkTTL
	if req.ExpiresInSeconds != 0 {
		// The range is checked on the seconds, before they are multiplied.
		if req.ExpiresInSeconds < 60 || req.ExpiresInSeconds > int64(MaxDashboardLinkTTL/time.Second) {
			s.writeError(w, r, credits.Errorf(credits.EINVALID, "expires_in_seconds must be between 60 and %d", int(MaxDashboardLinkTTL/time.Second)))
			return
		}
		ttl = time.Duration(req.ExpiresInSeconds) * time.Second
	}
	account, err := s.Service.GetAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	url, expires, err := s.DashboardLink(r.Context(), account.ID, ttl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"url": url, "expires_at": expires})
}

// DashboardLink returns a signed link that opens one account's credits
// page; the link is recorded, so that logging the account out revokes it.
func (s *Server) DashboardLink(ctx context.Context, accountID string, ttl time.Duration) (string, time.Time, error) {
	link, err := s.Service.CreateWebSession(ctx, credits.SessionLink, accountID, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	expires := link.ExpiresAt.UTC().Truncate(time.Second)
	token := s.signer().sign(tokenPurposeLink, link.ID, expires)
	return s.publicURL() + "/dashboard/login?token=" + token, expires, nil
}

// webSession checks a signed token of purpose and the live session of kind
// it names.
func (s *Server) webSession(r *http.Request, token, purpose, kind string) (credits.WebSession, error) {
	id, err := s.signer().verify(token, purpose, s.Service.Now())
	if err != nil {
		return credits.WebSession{}, err
	}
	return s.Service.CheckWebSession(r.Context(), id, kind)
}

func (s *Server) signer() signer { return signer{key: s.SigningKey} }

// handleDashboardLogin exchanges a link for a session cookie scoped to the
// link's account.
func (s *Server) handleDashboardLogin(w http.ResponseWriter, r *http.Request) {
	link, err := s.webSession(r, r.URL.Query().Get("token"), tokenPurposeLink, credits.SessionLink)
	if err != nil {
		if !errors.Is(err, credits.ErrSessionInvalid) && !errors.Is(err, errTokenInvalid) && !errors.Is(err, errTokenExpired) {
			s.renderError(w, r, err, "", "")
			return
		}
		s.renderMessage(w, r, http.StatusForbidden, "Link not valid", message{Kind: "error", Message: linkProblem(err)})
		return
	}
	session, err := s.Service.CreateWebSession(r.Context(), credits.SessionDashboard, link.AccountID, DashboardSessionTTL)
	if err != nil {
		s.renderError(w, r, err, "", "")
		return
	}
	s.setCookie(w, dashboardCookie, s.signer().sign(tokenPurposeSession, session.ID, session.ExpiresAt), DashboardSessionTTL)
	http.Redirect(w, r, "/dashboard/credits", http.StatusSeeOther)
}

// dashboardAccount returns the account of the request's session cookie, or
// answers 403 and returns "".
func (s *Server) dashboardAccount(w http.ResponseWriter, r *http.Request) (accountID, session string) {
	cookie, err := r.Cookie(s.cookieName(dashboardCookie))
	if err != nil {
		s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error",
			Message: "Open your credits page from the link in the application: this page needs it to know who you are."})
		return "", ""
	}
	ws, err := s.webSession(r, cookie.Value, tokenPurposeSession, credits.SessionDashboard)
	if err != nil {
		if !errors.Is(err, credits.ErrSessionInvalid) && !errors.Is(err, errTokenInvalid) && !errors.Is(err, errTokenExpired) {
			s.renderError(w, r, err, "", "")
			return "", ""
		}
		msg := "Your session is not valid. Open your credits page again from the application."
		if errors.Is(err, errTokenExpired) {
			msg = "Your session has expired. Open your credits page again from the application."
		}
		s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error", Message: msg})
		return "", ""
	}
	return ws.AccountID, cookie.Value
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	accountID, session := s.dashboardAccount(w, r)
	if accountID == "" {
		return
	}
	before, err := intParam(r, "before")
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	d, err := s.Service.Dashboard(r.Context(), accountID, dashboardQuery(before))
	if err != nil {
		s.renderError(w, r, err, "", "")
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", view{
		Title: "Your credits", CSRF: s.signer().csrf(session), Chart: newChart(d.History, s.Service.Now()), Data: d,
	})
}

// handleDashboardPurchase creates a Checkout Session for a pack and sends the
// customer to it.
func (s *Server) handleDashboardPurchase(w http.ResponseWriter, r *http.Request) {
	accountID, session := s.dashboardAccount(w, r)
	if accountID == "" {
		return
	}
	if !s.checkDashboardForm(w, r, session) {
		return
	}
	if s.limited(w, r, s.rateLimiters().checkouts, accountID) {
		return // each checkout is a session at Stripe
	}
	quantity := int64(1)
	if q := r.PostFormValue("quantity"); q != "" {
		var err error
		if quantity, err = strconv.ParseInt(q, 10, 64); err != nil {
			s.renderError(w, r, credits.Errorf(credits.EINVALID, "quantity must be a whole number"), "/dashboard/credits", "Back to your credits")
			return
		}
	}
	saveCard := r.PostFormValue("save_card") == "on"
	cs, _, err := s.Service.CreateCheckout(r.Context(), accountID, r.PostFormValue("pack_id"), quantity, saveCard, s.returnURLs(), nil)
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	http.Redirect(w, r, cs.URL, http.StatusSeeOther)
}

// handleCheckoutSuccess is where Checkout returns the customer. It confirms the
// session with the payment provider and credits it if paid; the webhook,
// arriving before or after, adds nothing more. Only the session's own account
// sees its balance here.
func (s *Server) handleCheckoutSuccess(w http.ResponseWriter, r *http.Request) {
	outcome, err := s.Service.ConfirmCheckout(r.Context(), r.URL.Query().Get("session_id"))
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Go to your credits")
		return
	}
	own := s.ownsSession(r, outcome.Session.AccountID)
	m := message{Link: "/dashboard/credits", LinkText: "Go to your credits"}
	v := view{Title: "Payment received"}
	switch {
	case outcome.Paid:
		m.Kind, m.Message = "ok", "Thank you! Your payment was received and your credits were added."
		if own {
			m.Balance = formatNumber(outcome.Account.Balance) + " credits"
		}
	case outcome.Closed == credits.SessionExpired:
		v.Title = "Checkout expired"
		m.Kind, m.Message = "warn", "This checkout expired before it was paid: nothing was charged. You can start a new purchase from your credits page."
	case outcome.Closed == credits.SessionPaymentFailed:
		v.Title = "Payment failed"
		m.Kind, m.Message = "warn", "The payment did not go through: nothing was added. You can try again from your credits page."
	default:
		m.Kind, m.Message = "warn", "Your payment is processing. Your credits are added as soon as it is confirmed; this page updates by itself."
		v.Title, v.Refresh = "Payment processing", 3
	}
	v.Data = m
	s.render(w, r, http.StatusOK, "message", v)
}

func (s *Server) ownsSession(r *http.Request, accountID string) bool {
	cookie, err := r.Cookie(s.cookieName(dashboardCookie))
	if err != nil {
		return false
	}
	session, err := s.webSession(r, cookie.Value, tokenPurposeSession, credits.SessionDashboard)
	return err == nil && session.AccountID == accountID
}

func (s *Server) handleCheckoutCancel(w http.ResponseWriter, r *http.Request) {
	s.renderMessage(w, r, http.StatusOK, "Payment cancelled", message{Kind: "warn",
		Message: "The payment was cancelled. Nothing was charged.", Link: "/dashboard/credits", LinkText: "Back to your credits"})
}

// linkProblem says why a link does not open the page.
func linkProblem(err error) string {
	if errors.Is(err, credits.ErrSessionInvalid) {
		return "This link is not valid any more: it was revoked. Ask the application for a new one."
	}
	return err.Error()
}
