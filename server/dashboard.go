package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	ExpiresInSeconds int64     `json:"expires_in_seconds"`
	Can              *[]string `json:"can"`
	MemberID         string    `json:"member_id"`
}

// handleCreateDashboardSession makes a short-lived signed link to one
// account's credits page, as Stripe's customer portal does. The page may do
// what the key may (a spend key's page buys; an admin key's also changes
// auto-recharge and the card), or less when the request names less.
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
	key := requestKey(r)
	can, err := linkCapabilities(key, req.Can)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	account, err := s.Service.GetAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	memberID, can, err := s.memberPage(r, account.ID, req.MemberID, can)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	keyID := key.ID
	if keyID == credits.BootstrapKeyID {
		// CREDITS_API_KEY's value, as its operator sessions name it: a
		// change of the value ends the links it made.
		keyID = s.bootstrapSessionKey(s.SigningKey)
	}
	url, expires, err := s.dashboardLink(r.Context(), credits.NewWebSession{Kind: credits.SessionLink, AccountID: account.ID, KeyID: keyID, Can: can, TTL: ttl, MemberID: memberID})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"url": url, "expires_at": expires, "can": can})
}

// linkCapabilities is what a link's page may do: what the key may, or the
// narrower set asked for; never more (403).
func linkCapabilities(key credits.APIKey, asked *[]string) ([]string, error) {
	allowed := credits.Capabilities(key.Scope)
	if asked == nil {
		return allowed, nil
	}
	can := []string{}
	for _, c := range *asked {
		switch {
		case !slices.Contains(credits.Capabilities(credits.ScopeAdmin), c):
			return nil, credits.Errorf(credits.EINVALID, "can may hold %s, not %q", strings.Join(credits.Capabilities(credits.ScopeAdmin), ", "), c)
		case !slices.Contains(allowed, c):
			return nil, credits.Errorf(EFORBIDDEN, "this API key's scope is %s: its links may offer %s only, not %s", key.Scope, strings.Join(allowed, ", "), c)
		case !slices.Contains(can, c):
			can = append(can, c)
		}
	}
	return can, nil
}

// DashboardLink returns a signed link that opens one account's credits page
// with every capability (the demo's link); the link is recorded, so that
// logging the account out revokes it.
func (s *Server) DashboardLink(ctx context.Context, accountID string, ttl time.Duration) (string, time.Time, error) {
	return s.dashboardLink(ctx, credits.NewWebSession{Kind: credits.SessionLink, AccountID: accountID,
		Can: credits.Capabilities(credits.ScopeAdmin), TTL: ttl})
}

func (s *Server) dashboardLink(ctx context.Context, req credits.NewWebSession) (string, time.Time, error) {
	link, secret, err := s.Service.CreateWebSession(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	expires := link.ExpiresAt.UTC().Truncate(time.Second)
	token := s.signer().sign(tokenPurposeLink, secret, expires)
	return s.publicURL() + "/dashboard/login?token=" + token, expires, nil
}

// webSession checks a signed token of purpose and the live session of kind
// it names.
func (s *Server) webSession(r *http.Request, token, purpose, kind string) (credits.WebSession, error) {
	secret, err := s.signer().verify(token, purpose, s.Service.Now())
	if err != nil {
		return credits.WebSession{}, err
	}
	return s.Service.CheckWebSession(r.Context(), secret, kind)
}

// customerSession is webSession for a link or a customer's session, which
// also lives only as long as the key that made it: a key revoked after it
// passed its check, while the request that wrote the link was in flight,
// must not leave a link that opens (ErrSessionInvalid).
func (s *Server) customerSession(r *http.Request, token, purpose, kind string) (credits.WebSession, error) {
	ws, err := s.webSession(r, token, purpose, kind)
	if err == nil {
		err = s.customerSessionLive(r, ws)
	}
	return ws, err
}

// customerSessionLive checks what a customer's link or session stands on:
// the key that made it (customerKeyLive) and, for a member's page, the
// member, whose removal ends its pages as it ends its spending.
func (s *Server) customerSessionLive(r *http.Request, ws credits.WebSession) error {
	if err := s.customerKeyLive(r, ws); err != nil || ws.MemberID == "" {
		return err
	}
	_, err := s.Service.GetMember(r.Context(), ws.AccountID, ws.MemberID)
	if credits.ErrorCode(err) == credits.ENOTFOUND {
		return credits.ErrSessionInvalid
	}
	return err
}

// customerKeyLive checks the key that made a link or a customer's session:
// none (the demo's link) passes; CREDITS_API_KEY's links pass while the
// value that made them is the configured one, and the customers' sessions
// they opened stay when it changes (a new value ends the old one's operator
// sessions and unopened links, not the customers' pages); any other key
// must be live.
func (s *Server) customerKeyLive(r *http.Request, ws credits.WebSession) error {
	switch {
	case ws.KeyID == "":
		return nil
	case ws.KeyID == credits.BootstrapKeyID || strings.HasPrefix(ws.KeyID, credits.BootstrapKeyID+"."):
		if ws.Kind == credits.SessionDashboard || s.isBootstrapSession(ws.KeyID) {
			return nil
		}
		return credits.ErrSessionInvalid // a link of an earlier value, or of "bootstrap", which names none
	}
	_, err := s.Service.LiveAPIKey(r.Context(), ws.KeyID)
	if credits.ErrorCode(err) == credits.EUNAUTHORIZED {
		return credits.ErrSessionInvalid
	}
	return err
}

func (s *Server) signer() signer { return signer{key: s.SigningKey, previous: s.PreviousSigningKeys} }

// handleDashboardLoginPage shows whose page a link opens, and a button to
// continue: a link sent by someone else never signs a browser in silently
// (login CSRF), and a mail scanner that fetches the link does not use it.
func (s *Server) handleDashboardLoginPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	link, err := s.customerSession(r, token, tokenPurposeLink, credits.SessionLink)
	if err == nil && link.Used {
		err = credits.ErrLinkUsed
	}
	if err != nil {
		s.linkRefused(w, r, err)
		return
	}
	account, err := s.Service.GetAccount(r.Context(), link.AccountID)
	if err != nil {
		s.renderError(w, r, err, "", "")
		return
	}
	s.render(w, r, http.StatusOK, "dashboard_login", view{Title: "Open your credits page",
		Data: map[string]string{"Email": account.Email, "Token": token}})
}

// handleDashboardLogin exchanges a link, once and from a same-origin form,
// for a session cookie with the link's account and capabilities, and sends
// the browser to the page's clean URL.
func (s *Server) handleDashboardLogin(w http.ResponseWriter, r *http.Request) {
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		s.renderMessage(w, r, http.StatusForbidden, "Link not valid", message{Kind: "error",
			Message: "This sign-in came from another site. Open the link the application gave you, and continue from its page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	secret, err := s.signer().verify(r.PostFormValue("token"), tokenPurposeLink, s.Service.Now())
	var session credits.WebSession
	var sessionSecret string
	if err == nil {
		session, sessionSecret, err = s.Service.UseLink(r.Context(), secret, DashboardSessionTTL)
	}
	if err == nil {
		// The link's key, checked after the link is used: a key revoked
		// before this point ends the session made here.
		link := session
		link.Kind = credits.SessionLink
		if err = s.customerKeyLive(r, link); err != nil {
			if rerr := s.Service.RevokeWebSession(r.Context(), session.ID); rerr != nil {
				err = rerr
			}
		}
	}
	if err != nil {
		s.linkRefused(w, r, err)
		return
	}
	s.setCookie(w, dashboardCookie, s.signer().sign(tokenPurposeSession, sessionSecret, session.ExpiresAt), DashboardSessionTTL)
	http.Redirect(w, r, "/dashboard/credits", http.StatusSeeOther)
}

// linkRefused answers a link that does not open the page: 410 for one used
// before, 403 for one not valid.
func (s *Server) linkRefused(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, credits.ErrLinkUsed):
		s.renderMessage(w, r, http.StatusGone, "Link already used", message{Kind: "error",
			Message: "This link was already used: a link opens your credits page once. Ask the application for a new one."})
	case errors.Is(err, credits.ErrSessionInvalid), errors.Is(err, errTokenInvalid), errors.Is(err, errTokenExpired):
		s.renderMessage(w, r, http.StatusForbidden, "Link not valid", message{Kind: "error", Message: linkProblem(err)})
	default:
		s.renderError(w, r, err, "", "")
	}
}

// handleDashboardLogout ends the customer's session at once.
func (s *Server) handleDashboardLogout(w http.ResponseWriter, r *http.Request) {
	session, cookie := s.dashboardSession(w, r)
	if cookie == "" || !s.checkDashboardForm(w, r, cookie) {
		return
	}
	if err := s.Service.RevokeWebSession(r.Context(), session.ID); err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(dashboardCookie), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	s.renderMessage(w, r, http.StatusOK, "Signed out", message{Kind: "ok",
		Message: "You are signed out. Open your credits page again from the application."})
}

// dashboardSession returns the session of the request's cookie and the
// cookie, or answers 403 and returns an empty cookie.
func (s *Server) dashboardSession(w http.ResponseWriter, r *http.Request) (credits.WebSession, string) {
	cookie, err := r.Cookie(s.cookieName(dashboardCookie))
	if err != nil {
		s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error",
			Message: "Open your credits page from the link in the application: this page needs it to know who you are."})
		return credits.WebSession{}, ""
	}
	ws, err := s.customerSession(r, cookie.Value, tokenPurposeSession, credits.SessionDashboard)
	if err != nil {
		s.renderSessionInvalid(w, r, err)
		return credits.WebSession{}, ""
	}
	return ws, cookie.Value
}

// renderSessionInvalid answers a customer's page whose session failed its
// check: 403 asking to open the page again, or the error itself when the
// check could not be made.
func (s *Server) renderSessionInvalid(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, credits.ErrSessionInvalid) && !errors.Is(err, errTokenInvalid) && !errors.Is(err, errTokenExpired) {
		s.renderError(w, r, err, "", "")
		return
	}
	msg := "Your session is not valid. Open your credits page again from the application."
	if errors.Is(err, errTokenExpired) {
		msg = "Your session has expired. Open your credits page again from the application."
	}
	s.renderMessage(w, r, http.StatusForbidden, "Sign-in needed", message{Kind: "error", Message: msg})
}

// dashboardForm checks a customer page's form: a live session, its CSRF
// token, and that the page may do what the form does (403 saying who can,
// otherwise). It returns the session, with no account when it answered.
func (s *Server) dashboardForm(w http.ResponseWriter, r *http.Request, capability string) credits.WebSession {
	session, cookie := s.dashboardSession(w, r)
	if cookie == "" || !s.checkDashboardForm(w, r, cookie) {
		return credits.WebSession{}
	}
	if capability != "" && !session.Allows(capability) {
		s.refuseForm(w, r, capability)
		return credits.WebSession{}
	}
	return session
}

func (s *Server) refuseForm(w http.ResponseWriter, r *http.Request, capability string) {
	s.renderMessage(w, r, http.StatusForbidden, "Not on this page", message{Kind: "error", Message: notAllowed(capability),
		Link: "/dashboard/credits", LinkText: "Back to your credits"})
}

// notAllowed says what a page cannot do, and who can.
func notAllowed(capability string) string {
	switch capability {
	case credits.CanPurchase:
		return "This page does not offer purchases: buy credits from the application."
	case credits.CanCard:
		return "This page cannot save or remove your card: the application's administrators can. Ask the application's support."
	}
	return "This page cannot change auto-recharge: the application's administrators can. Ask the application's support."
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	ws, session := s.dashboardSession(w, r)
	if session == "" {
		return
	}
	accountID := ws.AccountID
	before, err := intParam(r, "before")
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	q := dashboardQuery(before)
	q.MemberID = ws.MemberID
	d, err := s.Service.Dashboard(r.Context(), accountID, q)
	if err != nil {
		s.renderError(w, r, err, "", "")
		return
	}
	page := dashboardPage{Dashboard: d}
	v := view{Title: "Your credits", CSRF: s.signer().csrf(session), Can: capabilitySet(ws)}
	if before == 0 {
		waited, err := s.awaitCard(r, accountID, q, &page, &v)
		if err != nil {
			s.renderError(w, r, err, "", "")
			return
		}
		if waited { // what the page stands on may have gone meanwhile
			if err := s.customerSessionLive(r, ws); err != nil {
				s.renderSessionInvalid(w, r, err)
				return
			}
		}
	}
	v.Chart, v.Data = newChart(page.History, s.Service.Now()), page
	s.render(w, r, http.StatusOK, "dashboard", v)
}

func capabilitySet(ws credits.WebSession) map[string]bool {
	set := map[string]bool{}
	for _, c := range ws.Can {
		set[c] = true
	}
	return set
}

// handleDashboardPurchase creates a Checkout Session for a pack and sends the
// customer to it.
func (s *Server) handleDashboardPurchase(w http.ResponseWriter, r *http.Request) {
	session := s.dashboardForm(w, r, credits.CanPurchase)
	accountID := session.AccountID
	if accountID == "" {
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
	if saveCard && !session.Allows(credits.CanCard) {
		s.refuseForm(w, r, credits.CanCard)
		return
	}
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
	session := s.ownSession(r)
	return session.AccountID != "" && session.AccountID == accountID
}

// ownSession is the live dashboard session of the request's cookie, or none.
func (s *Server) ownSession(r *http.Request) credits.WebSession {
	cookie, err := r.Cookie(s.cookieName(dashboardCookie))
	if err != nil {
		return credits.WebSession{}
	}
	session, err := s.customerSession(r, cookie.Value, tokenPurposeSession, credits.SessionDashboard)
	if err != nil {
		return credits.WebSession{}
	}
	return session
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
