package server

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/credits/credits"
)

// The operator pages sit behind a sign-in with the API key itself, so that
// they are exactly as strong as the API.

func (s *Server) handleAdminLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "admin_login", view{Title: "Operator sign-in", Data: map[string]string{}})
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	if s.limited(w, r, s.rateLimiters().signIns, clientAddress(r)) {
		return // every try counts, right or wrong: guessing is slow
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	key, err := s.keyOf(r.Context(), r.PostFormValue("api_key"))
	if err == nil && key.Scope != credits.ScopeAdmin {
		err = credits.Errorf(EFORBIDDEN, "not an admin key")
	}
	if code := credits.ErrorCode(err); err != nil && (code == credits.EINTERNAL || code == credits.EUNAVAILABLE) {
		s.renderError(w, r, err, "/admin/login", "Sign in")
		return
	}
	if err != nil {
		s.render(w, r, http.StatusUnauthorized, "admin_login", view{Title: "Operator sign-in", Data: map[string]string{"Error": "That is not the API key."}})
		return
	}
	session, err := s.Service.CreateWebSession(r.Context(), credits.SessionOperator, "", AdminSessionTTL)
	if err != nil {
		s.renderError(w, r, err, "/admin/login", "Sign in")
		return
	}
	s.setCookie(w, adminCookie, s.signer().sign(tokenPurposeAdmin, session.ID, session.ExpiresAt), AdminSessionTTL)
	http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
}

// requireOperator wraps the operator pages: no valid cookie sends to the
// sign-in; a POST must carry the cookie's CSRF token.
func (s *Server) requireOperator(next func(http.ResponseWriter, *http.Request, view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie(s.cookieName(adminCookie))
		if err == nil {
			_, err = s.webSession(r, cookie.Value, tokenPurposeAdmin, credits.SessionOperator)
		}
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error", Message: "Sign in again.", Link: "/admin/login", LinkText: "Sign in"})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
			if !s.signer().checkCSRF(r, cookie.Value) {
				s.renderMessage(w, r, http.StatusForbidden, "Form expired", message{Kind: "error", Message: "This form is not valid any more; reload the page.", Link: "/admin/events", LinkText: "Events"})
				return
			}
		}
		next(w, r, view{Operator: true, CSRF: s.signer().csrf(cookie.Value)})
	}
}

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request, _ view) {
	if cookie, err := r.Cookie(s.cookieName(adminCookie)); err == nil {
		if id, err := s.signer().verify(cookie.Value, tokenPurposeAdmin, s.Service.Now()); err == nil {
			if err := s.Service.RevokeWebSession(r.Context(), id); err != nil {
				s.renderError(w, r, err, "/admin/accounts", "Accounts")
				return
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(adminCookie), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

func (s *Server) handleAdminAccounts(w http.ResponseWriter, r *http.Request, v view) {
	query := r.URL.Query().Get("q")
	accounts, err := s.Service.SearchAccounts(r.Context(), query, credits.MaxPageSize)
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	v.Title, v.Data = "Accounts", map[string]any{"Query": query, "Accounts": accounts}
	s.render(w, r, http.StatusOK, "admin_accounts", v)
}

func (s *Server) handleAdminAccount(w http.ResponseWriter, r *http.Request, v view) {
	before, err := intParam(r, "before")
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	d, err := s.Service.Dashboard(r.Context(), r.PathValue("id"), dashboardQuery(before))
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	v.Title, v.Data = "Account "+d.Account.ID, d
	s.render(w, r, http.StatusOK, "admin_account", v)
}

func (s *Server) handleAdminPayment(w http.ResponseWriter, r *http.Request, v view) {
	p, err := s.Service.GetPayment(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	v.Title, v.Data = "Payment "+p.Payment.ID, p
	s.render(w, r, http.StatusOK, "admin_payment", v)
}

var eventStatuses = []string{"", credits.EventUnmatched, credits.EventFailed, credits.EventPending, credits.EventProcessed, credits.EventIgnored}

func (s *Server) handleAdminEvents(w http.ResponseWriter, r *http.Request, v view) {
	q := r.URL.Query()
	events, err := s.Service.PageEvents(r.Context(), credits.EventFilter{Status: q.Get("status"), Type: q.Get("type"),
		StartingAfter: q.Get("starting_after"), Limit: credits.MaxPageSize})
	if err != nil {
		s.renderError(w, r, err, "/admin/events", "Events")
		return
	}
	notice := ""
	if retried := r.URL.Query().Get("retried"); retried != "" {
		notice = "Event " + retried + " is queued again."
	}
	if accepted := r.URL.Query().Get("accepted"); accepted != "" {
		notice = "Event " + accepted + " was accepted: its session is credited as sold."
	}
	older := ""
	if events.HasMore {
		older = "/admin/events?" + url.Values{"status": {q.Get("status")}, "type": {q.Get("type")},
			"starting_after": {events.Data[len(events.Data)-1].ID}}.Encode()
	}
	v.Title, v.Data = "Stripe events", map[string]any{"Events": events.Data, "Statuses": eventStatuses, "Notice": notice,
		"Older": older, "Type": q.Get("type")}
	s.render(w, r, http.StatusOK, "admin_events", v)
}

func (s *Server) handleAdminAcceptEvent(w http.ResponseWriter, r *http.Request, _ view) {
	ev, err := s.Service.AcceptEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/events", "Events")
		return
	}
	http.Redirect(w, r, "/admin/events?accepted="+ev.ID, http.StatusSeeOther)
}

func (s *Server) handleAdminRetryEvent(w http.ResponseWriter, r *http.Request, _ view) {
	ev, err := s.Service.RetryEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/events", "Events")
		return
	}
	http.Redirect(w, r, "/admin/events?retried="+ev.ID, http.StatusSeeOther)
}

// adminWebhookAttempts is how many attempts the webhooks page shows per
// endpoint.
const adminWebhookAttempts = 20

func (s *Server) handleAdminWebhooks(w http.ResponseWriter, r *http.Request, v view) {
	endpoints, err := s.Service.WebhookEndpoints(r.Context())
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	type endpointView struct {
		credits.WebhookEndpoint
		Attempts []credits.WebhookAttempt
	}
	var out []endpointView
	for _, ep := range endpoints {
		attempts, err := s.Service.WebhookAttempts(r.Context(), ep.ID, adminWebhookAttempts)
		if err != nil {
			s.renderError(w, r, err, "/admin/accounts", "Accounts")
			return
		}
		out = append(out, endpointView{ep, attempts})
	}
	notice := ""
	if q := r.URL.Query(); q.Get("resent") != "" {
		notice = "Event " + q.Get("resent") + " was sent again: " + q.Get("result") + "."
	} else if q.Get("enabled") != "" {
		notice = "Endpoint " + q.Get("enabled") + " is enabled: deliveries resume where they stopped."
	}
	v.Title, v.Data = "Webhooks", map[string]any{"Endpoints": out, "Notice": notice, "PingPrefix": credits.PingEventPrefix}
	s.render(w, r, http.StatusOK, "admin_webhooks", v)
}

func (s *Server) handleAdminResendWebhookEvent(w http.ResponseWriter, r *http.Request, _ view) {
	a, err := s.Service.ResendWebhookEvent(r.Context(), r.PathValue("id"), r.PathValue("event_id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/webhooks", "Webhooks")
		return
	}
	result := fmt.Sprintf("answered %d", a.StatusCode)
	if a.Error != "" {
		result = a.Error
	}
	http.Redirect(w, r, "/admin/webhooks?"+url.Values{"resent": {a.EventID}, "result": {result}}.Encode(), http.StatusSeeOther)
}

func (s *Server) handleAdminEnableWebhookEndpoint(w http.ResponseWriter, r *http.Request, _ view) {
	ep, err := s.Service.EnableWebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/webhooks", "Webhooks")
		return
	}
	http.Redirect(w, r, "/admin/webhooks?enabled="+url.QueryEscape(ep.ID), http.StatusSeeOther)
}
