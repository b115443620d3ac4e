package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/credits/credits"
)

// The operator pages sit behind a sign-in with the API key itself, so that
// they are exactly as strong as the API.

func (s *Server) handleAdminLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "admin_login", view{Title: "Operator sign-in", Data: map[string]string{}})
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	key, err := s.keyOf(r.Context(), r.PostFormValue("api_key"))
	if code := credits.ErrorCode(err); err != nil && (code == credits.EINTERNAL || code == credits.EUNAVAILABLE) {
		s.renderError(w, r, err, "/admin/login", "Sign in")
		return
	}
	// Every try counts, right or wrong, so that guessing is slow; but a key
	// that signs in (found, admin, unbound) counts only against its own
	// bucket, over all addresses, never against its address's: wrong keys
	// sent from the operator's address (a NAT, or the proxy itself when
	// CREDITS_TRUSTED_PROXIES is not set) cannot lock the operator out.
	limits := s.rateLimiters()
	if err == nil && key.Scope == credits.ScopeAdmin && key.AccountID == "" {
		if s.limited(w, r, limits.signInsPerKey, key.ID) {
			return
		}
	} else if s.limited(w, r, limits.signIns, clientNetwork(r)) {
		return
	}
	if err != nil || key.Scope != credits.ScopeAdmin {
		s.render(w, r, http.StatusUnauthorized, "admin_login", view{Title: "Operator sign-in", Data: map[string]string{"Error": "That is not the API key."}})
		return
	}
	if key.AccountID != "" {
		// The pages reach every account: a key bound to one never opens them.
		s.render(w, r, http.StatusForbidden, "admin_login", view{Title: "Operator sign-in", Data: map[string]string{"Error": "This admin key is bound to account " +
			key.AccountID + ": the operator pages reach every account and need an admin key that is not bound to one."}})
		return
	}
	keyID := key.ID
	if keyID == credits.BootstrapKeyID {
		keyID = s.bootstrapSessionKey(s.SigningKey)
	}
	session, secret, err := s.Service.CreateWebSession(r.Context(), credits.NewWebSession{Kind: credits.SessionOperator, KeyID: keyID, TTL: AdminSessionTTL})
	if err != nil {
		s.renderError(w, r, err, "/admin/login", "Sign in")
		return
	}
	s.setCookie(w, adminCookie, s.signer().sign(tokenPurposeAdmin, secret, session.ExpiresAt), AdminSessionTTL)
	http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
}

// bootstrapSessionKey names CREDITS_API_KEY's value in an operator
// session, so that changing the value (the bootstrap key's revocation) ends
// the sessions it signed in; an HMAC under the signing secret, so that the
// database tells nothing about the value.
func (s *Server) bootstrapSessionKey(signingKey []byte) string {
	return credits.BootstrapKeyID + "." + macWith(signingKey, "bootstrap-key."+s.APIKey)[:22]
}

// isBootstrapSession reports whether an operator session was signed in by
// the current CREDITS_API_KEY.
func (s *Server) isBootstrapSession(keyID string) bool {
	if s.APIKey == "" || !strings.HasPrefix(keyID, credits.BootstrapKeyID+".") {
		return false
	}
	ok := subtle.ConstantTimeCompare([]byte(keyID), []byte(s.bootstrapSessionKey(s.SigningKey))) == 1
	for _, key := range s.PreviousSigningKeys {
		ok = subtle.ConstantTimeCompare([]byte(keyID), []byte(s.bootstrapSessionKey(key))) == 1 || ok
	}
	return ok
}

// operatorKey is the live, unbound admin key that made an operator session:
// every operator page and action checks it, so that revoking the key (or a
// key that lost its reach) ends the session at once, on every replica.
func (s *Server) operatorKey(r *http.Request, session credits.WebSession) (credits.APIKey, error) {
	var key credits.APIKey
	var err error
	if s.isBootstrapSession(session.KeyID) {
		key = credits.APIKey{ID: credits.BootstrapKeyID, Scope: credits.ScopeAdmin}
	} else {
		key, err = s.Service.LiveAPIKey(r.Context(), session.KeyID)
	}
	if err == nil && (key.Scope != credits.ScopeAdmin || key.AccountID != "") {
		err = credits.Errorf(EFORBIDDEN, "the operator pages need an admin key that is not bound to an account")
	}
	return key, err
}

// requireOperator wraps the operator pages: no valid cookie, or a session
// whose key is revoked, bound or not admin, sends to the sign-in; a POST must
// carry the cookie's CSRF token.
func (s *Server) requireOperator(next func(http.ResponseWriter, *http.Request, view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie(s.cookieName(adminCookie))
		var session credits.WebSession
		if err == nil {
			session, err = s.webSession(r, cookie.Value, tokenPurposeAdmin, credits.SessionOperator)
		}
		if err == nil {
			_, err = s.operatorKey(r, session)
		}
		if err != nil && !signedOut(err) {
			s.renderError(w, r, err, "/admin/login", "Sign in")
			return
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
		next(w, r, view{Operator: true, CSRF: s.signer().csrf(cookie.Value), session: session})
	}
}

// signedOut reports whether an error says the request has no live session
// (as opposed to a store that failed to tell).
func signedOut(err error) bool {
	code := credits.ErrorCode(err)
	return errors.Is(err, http.ErrNoCookie) || errors.Is(err, credits.ErrSessionInvalid) || errors.Is(err, errTokenInvalid) ||
		errors.Is(err, errTokenExpired) || code == credits.EUNAUTHORIZED || code == EFORBIDDEN
}

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request, v view) {
	if err := s.Service.RevokeWebSession(r.Context(), v.session.ID); err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(adminCookie), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// flashAndRedirect keeps a notice with the operator's session and sends the
// browser to a page that shows it once.
func (s *Server) flashAndRedirect(w http.ResponseWriter, r *http.Request, v view, notice, to string) {
	if err := s.Service.SetFlash(r.Context(), v.session.ID, notice); err != nil {
		s.renderError(w, r, err, to, "Back")
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// takeFlash returns the session's notice, once.
func (s *Server) takeFlash(r *http.Request, v view) string {
	notice, err := s.Service.TakeFlash(r.Context(), v.session)
	if err != nil {
		s.Logger.Warn("forget a notice", "request_id", requestID(r), "error", err)
	}
	return notice
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
	notice := s.takeFlash(r, v)
	older := ""
	if events.HasMore {
		older = "/admin/events?" + url.Values{"status": {q.Get("status")}, "type": {q.Get("type")},
			"starting_after": {events.Data[len(events.Data)-1].ID}}.Encode()
	}
	v.Title, v.Data = "Stripe events", map[string]any{"Events": events.Data, "Statuses": eventStatuses, "Notice": notice,
		"Older": older, "Type": q.Get("type")}
	s.render(w, r, http.StatusOK, "admin_events", v)
}

func (s *Server) handleAdminAcceptEvent(w http.ResponseWriter, r *http.Request, v view) {
	ev, err := s.Service.AcceptEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/events", "Events")
		return
	}
	s.flashAndRedirect(w, r, v, "Event "+ev.ID+" was accepted: its session is credited as sold.", "/admin/events")
}

func (s *Server) handleAdminRetryEvent(w http.ResponseWriter, r *http.Request, v view) {
	ev, err := s.Service.RetryEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/events", "Events")
		return
	}
	s.flashAndRedirect(w, r, v, "Event "+ev.ID+" is queued again.", "/admin/events")
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
	notice := s.takeFlash(r, v)
	v.Title, v.Data = "Webhooks", map[string]any{"Endpoints": out, "Notice": notice, "PingPrefix": credits.PingEventPrefix}
	s.render(w, r, http.StatusOK, "admin_webhooks", v)
}

func (s *Server) handleAdminResendWebhookEvent(w http.ResponseWriter, r *http.Request, v view) {
	a, err := s.Service.ResendWebhookEvent(r.Context(), r.PathValue("id"), r.PathValue("event_id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/webhooks", "Webhooks")
		return
	}
	result := fmt.Sprintf("answered %d", a.StatusCode)
	if a.Error != "" {
		result = a.Error
	}
	s.flashAndRedirect(w, r, v, "Event "+a.EventID+" was sent again: "+result+".", "/admin/webhooks")
}

func (s *Server) handleAdminEnableWebhookEndpoint(w http.ResponseWriter, r *http.Request, v view) {
	ep, err := s.Service.EnableWebhookEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err, "/admin/webhooks", "Webhooks")
		return
	}
	s.flashAndRedirect(w, r, v, "Endpoint "+ep.ID+" is enabled: deliveries resume where they stopped.", "/admin/webhooks")
}

// handleAdminSessions lists the live operator sessions, each revocable.
func (s *Server) handleAdminSessions(w http.ResponseWriter, r *http.Request, v view) {
	sessions, err := s.Service.OperatorSessions(r.Context())
	if err != nil {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	v.Title, v.Data = "Operator sessions", map[string]any{"Sessions": sessions, "Notice": s.takeFlash(r, v), "Own": v.session.ID}
	s.render(w, r, http.StatusOK, "admin_sessions", v)
}

func (s *Server) handleAdminRevokeSession(w http.ResponseWriter, r *http.Request, v view) {
	id := r.PathValue("id")
	if err := s.Service.RevokeWebSession(r.Context(), id); err != nil {
		s.renderError(w, r, err, "/admin/sessions", "Sessions")
		return
	}
	if id == v.session.ID {
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
		return
	}
	s.flashAndRedirect(w, r, v, "Session "+shortID(id)+" is revoked.", "/admin/sessions")
}

// shortID is the start of a session's id, enough to tell sessions apart.
func shortID(id string) string { return id[:min(len(id), 12)] }
