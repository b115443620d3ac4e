package server

import (
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
	url, expires := s.DashboardLink(account.ID, ttl)
	writeJSON(w, http.StatusCreated, map[string]any{"url": url, "expires_at": expires})
}

// DashboardLink returns a signed link that opens one account's credits page.
func (s *Server) DashboardLink(accountID string, ttl time.Duration) (string, time.Time) {
	expires := s.Service.Now().UTC().Add(ttl).Truncate(time.Second)
	token := s.signer().sign(tokenPurposeLink, accountID, expires)
	return s.publicURL() + "/dashboard/login?token=" + token, expires
}

func (s *Server) signer() signer { return signer{key: s.SigningKey} }

// handleDashboardLogin exchanges a link for a session cookie scoped to the
// link's account.
func (s *Server) handleDashboardLogin(w http.ResponseWriter, r *http.Request) {
	accountID, err := s.signer().verify(r.URL.Query().Get("token"), tokenPurposeLink, s.Service.Now())
	if err != nil {
		s.renderMessage(w, r, http.StatusForbidden, "Link not valid", message{Kind: "error", Message: err.Error()})
		return
	}
	session := s.signer().sign(tokenPurposeSession, accountID, s.Service.Now().Add(DashboardSessionTTL))
	s.setCookie(w, dashboardCookie, session, DashboardSessionTTL)
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
	accountID, err = s.signer().verify(cookie.Value, tokenPurposeSession, s.Service.Now())
	if err != nil {
		msg := "Your session is not valid. Open your credits page again from the application."
		if errors.Is(err, errTokenExpired) {
			msg = "Your session has expired. Open your credits page again from the application."
		}
		s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error", Message: msg})
		return "", ""
	}
	return accountID, cookie.Value
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
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	if !s.signer().checkCSRF(r, session) {
		s.renderMessage(w, r, http.StatusForbidden, "Form expired", message{Kind: "error",
			Message: "This form is not valid any more. Go back to your credits page and try again.", Link: "/dashboard/credits", LinkText: "Back to your credits"})
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
	cs, _, err := s.Service.CreateCheckout(r.Context(), accountID, r.PostFormValue("pack_id"), quantity, s.returnURLs(), nil)
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
	owner, err := s.signer().verify(cookie.Value, tokenPurposeSession, s.Service.Now())
	return err == nil && owner == accountID
}

func (s *Server) handleCheckoutCancel(w http.ResponseWriter, r *http.Request) {
	s.renderMessage(w, r, http.StatusOK, "Payment cancelled", message{Kind: "warn",
		Message: "The payment was cancelled. Nothing was charged.", Link: "/dashboard/credits", LinkText: "Back to your credits"})
}
