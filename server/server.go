// Package server is the HTTP surface: the REST API under /v1, the Stripe
// webhook, and the pages. It uses the standard ServeMux with method patterns.
package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/credits/credits"
)

// Limits on requests.
const (
	MaxWebhookBodyBytes = 1 << 20  // Stripe's events are far smaller
	MaxAPIBodyBytes     = 64 << 10 // every API body is a small JSON object
	ReadHeaderTimeout   = 5 * time.Second
	ReadTimeout         = 15 * time.Second
	WriteTimeout        = 30 * time.Second
	IdleTimeout         = 120 * time.Second
)

// Where Stripe Checkout sends the customer back.
const (
	checkoutSuccessPath = "/checkout/success"
	checkoutCancelPath  = "/checkout/cancel"
)

// returnURLs are the pages that Stripe Checkout sends the customer back to.
func (s *Server) returnURLs() credits.ReturnURLs {
	return ReturnURLs(s.publicURL())
}

// ReturnURLs are the pages of a server at publicURL that Stripe Checkout
// sends the customer back to.
func ReturnURLs(publicURL string) credits.ReturnURLs {
	publicURL = strings.TrimRight(publicURL, "/")
	return credits.ReturnURLs{
		Success: publicURL + checkoutSuccessPath + "?session_id={CHECKOUT_SESSION_ID}",
		Cancel:  publicURL + checkoutCancelPath,
	}
}

// WebhookParser verifies a webhook request's signature and parses its event.
type WebhookParser interface {
	ParseWebhook(payload []byte, signature string) (credits.StripeEvent, error)
}

// Server serves the HTTP surface.
type Server struct {
	Service *credits.Service
	Webhook WebhookParser
	APIKey  string
	Logger  *slog.Logger
	// PublicURL is the base of links and redirects (http://localhost:8080).
	PublicURL string
	// SigningKey signs dashboard links, session cookies and form tokens; every
	// replica must have the same one.
	SigningKey []byte
	// PreviousSigningKeys still verify what they signed (a rotation's window).
	PreviousSigningKeys [][]byte
	// Production adds Strict-Transport-Security to every answer.
	Production bool
	// CardWait is how long the customer page, back from Save a card, waits
	// for the card to arrive by Stripe's webhook; zero means 4 seconds.
	CardWait time.Duration
	// Welcome, in development, makes / a page for newcomers (see handleHome).
	Welcome *Welcome
	// Extra handles more routes (the offline demo's checkout pages).
	Extra map[string]http.Handler
	// Metrics, when set, are kept and served at GET /metrics (with the API key).
	Metrics *Metrics
	// RateLimits of the public edges; zero means DefaultRateLimits.
	RateLimits RateLimits
	// Proxies are the proxies whose forwarding header names the client (for
	// the rate limits); none: the TCP peer is the client.
	Proxies Proxies

	limits limiters
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stripe/webhook", s.handleWebhook)
	mux.HandleFunc("POST /account/stripe-webhook/", s.handleWebhook)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /{$}", s.limitPages(s.handleHome))
	mux.HandleFunc("GET /v1/openapi.json", s.handleOpenAPI)
	mux.HandleFunc("GET "+checkoutSuccessPath, s.limitPages(s.handleCheckoutSuccess))
	mux.HandleFunc("GET "+checkoutCancelPath, s.limitPages(s.handleCheckoutCancel))
	mux.HandleFunc("GET /dashboard/login", s.limitPages(s.handleDashboardLoginPage))
	mux.HandleFunc("POST /dashboard/login", s.limitPages(s.handleDashboardLogin))
	mux.HandleFunc("POST /dashboard/logout", s.limitPages(s.handleDashboardLogout))
	mux.HandleFunc("GET /dashboard/credits", s.limitPages(s.handleDashboard))
	mux.HandleFunc("POST /dashboard/credits/purchase", s.limitPages(s.handleDashboardPurchase))
	mux.HandleFunc("POST /dashboard/credits/card", s.limitPages(s.handleDashboardSaveCard))
	mux.HandleFunc("POST /dashboard/credits/card/remove", s.limitPages(s.handleDashboardRemoveCard))
	mux.HandleFunc("POST /dashboard/credits/auto_recharge", s.limitPages(s.handleDashboardAutoRecharge))
	mux.HandleFunc("GET /admin/login", s.limitPages(s.handleAdminLoginForm))
	mux.HandleFunc("POST /admin/login", s.handleAdminLogin)
	mux.HandleFunc("POST /admin/logout", s.requireOperator(s.handleAdminLogout))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/accounts", http.StatusSeeOther))
	mux.HandleFunc("GET /admin/accounts", s.requireOperator(s.handleAdminAccounts))
	mux.HandleFunc("GET /admin/accounts/{id}", s.requireOperator(s.handleAdminAccount))
	mux.HandleFunc("GET /admin/events", s.requireOperator(s.handleAdminEvents))
	mux.HandleFunc("GET /admin/payments/{id}", s.requireOperator(s.handleAdminPayment))
	mux.HandleFunc("POST /admin/events/{id}/retry", s.requireOperator(s.handleAdminRetryEvent))
	mux.HandleFunc("POST /admin/events/{id}/accept", s.requireOperator(s.handleAdminAcceptEvent))
	mux.HandleFunc("GET /admin/webhooks", s.requireOperator(s.handleAdminWebhooks))
	mux.HandleFunc("POST /admin/webhooks/{id}/events/{event_id}/resend", s.requireOperator(s.handleAdminResendWebhookEvent))
	mux.HandleFunc("POST /admin/webhooks/{id}/enable", s.requireOperator(s.handleAdminEnableWebhookEndpoint))
	mux.HandleFunc("GET /admin/reconciliation", s.requireOperator(s.handleAdminReconciliation))
	mux.HandleFunc("GET /admin/sessions", s.requireOperator(s.handleAdminSessions))
	mux.HandleFunc("POST /admin/sessions/{id}/revoke", s.requireOperator(s.handleAdminRevokeSession))
	for pattern, h := range s.Extra {
		mux.Handle(pattern, h)
	}

	api := http.NewServeMux()
	routes := s.apiRoutes()
	if s.servesTestClock() {
		routes = append(routes, s.testClockRoutes()...)
	}
	for _, rt := range routes {
		api.Handle(rt.pattern, s.need(rt.scope, rt.reach, rt.handler))
	}
	api.HandleFunc("/v1/", s.notFoundOrNotAllowed(api, "/v1/"))
	mux.Handle("/v1/", s.requireAPIKey(api))
	if s.Metrics != nil {
		s.Metrics.watchReconcile(s.Service)
		mux.Handle("GET /metrics", s.requireAPIKey(s.need(credits.ScopeAdmin, anyAccount, s.Metrics.Handler().ServeHTTP)))
	}
	return s.withRequestID(s.withClientAddress(s.Metrics.instrument(s.securityHeaders(s.refuseLargeBodies(mux)))))
}

// hstsHeader keeps browsers on https for two years, subdomains included.
const hstsHeader = "max-age=63072000; includeSubDomains"

// securityHeaders tells browsers to trust every answer's Content-Type and,
// in production, to come back over https only.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if s.Production {
			w.Header().Set("Strict-Transport-Security", hstsHeader)
		}
		next.ServeHTTP(w, r)
	})
}

// HTTPServer returns an http.Server with all four timeouts set.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
}

type requestIDKey struct{}

func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := credits.NewID("req_")
		w.Header().Set("Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		watched := &headerWatch{ResponseWriter: w}
		defer s.recoverPanic(watched, r)
		next.ServeHTTP(watched, r)
	})
}

// recoverPanic turns a handler's panic into a 500 with the request id (when
// nothing was answered yet) and one log line with the stack, instead of a
// dropped connection. http.ErrAbortHandler goes on up, as net/http means it.
func (s *Server) recoverPanic(w *headerWatch, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	s.Logger.Error("request panicked", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r),
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if !w.wrote {
		s.writeError(w, r, &credits.Error{Code: credits.EINTERNAL, Message: "internal error"})
	}
}

// headerWatch notes whether an answer was started.
type headerWatch struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWatch) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *headerWatch) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *headerWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

func (s *Server) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="credits"`)
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store") // authenticated answers are nobody's to keep
		if s.apiLimited(w, r, key.ID) {
			return
		}
		withKey := r.WithContext(context.WithValue(r.Context(), apiKeyContext{}, key))
		next.ServeHTTP(w, withKey)
		r.Pattern = withKey.Pattern // the inner mux named the route on the copy: metrics read it here
	})
}

// apiKeyContext keys the request's API key in its context.
type apiKeyContext struct{}

// requestKey is the API key a request was authenticated with.
func requestKey(r *http.Request) credits.APIKey {
	key, _ := r.Context().Value(apiKeyContext{}).(credits.APIKey)
	return key
}

// authenticate finds the key of a request's bearer token: CREDITS_API_KEY
// (the bootstrap admin key) or a scoped key.
func (s *Server) authenticate(r *http.Request) (credits.APIKey, error) {
	token, ok := bearerToken(r)
	if !ok || token == "" {
		return credits.APIKey{}, credits.Errorf(credits.EUNAUTHORIZED, "missing API key: send Authorization: Bearer <key>")
	}
	return s.keyOf(r.Context(), token)
}

// keyOf finds the key of a secret.
func (s *Server) keyOf(ctx context.Context, secret string) (credits.APIKey, error) {
	if s.APIKey != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.APIKey)) == 1 {
		return credits.APIKey{ID: credits.BootstrapKeyID, Name: "CREDITS_API_KEY", Scope: credits.ScopeAdmin}, nil
	}
	return s.Service.Authenticate(ctx, secret)
}

// apiRoute is one /v1 route: its pattern, the scope it needs, what its {id}
// reaches, and its handler.
type apiRoute struct {
	pattern string
	scope   string
	reach   int
	handler http.HandlerFunc
}

func (s *Server) apiRoutes() []apiRoute {
	read, spend, admin := credits.ScopeRead, credits.ScopeSpend, credits.ScopeAdmin
	return append([]apiRoute{
		{"POST /v1/packs", admin, anyAccount, s.handleCreatePack},
		{"GET /v1/packs", read, catalog, s.handleListPacks},
		{"POST /v1/accounts", admin, anyAccount, s.handleCreateAccount},
		{"GET /v1/accounts", read, anyAccount, s.handleListAccounts},
		{"GET /v1/accounts/{id}", read, pathAccount, s.handleGetAccount},
		{"PATCH /v1/accounts/{id}", admin, pathAccount, s.handleUpdateAccount},
		{"POST /v1/accounts/{id}/checkout_sessions", spend, pathAccount, s.handleCreateCheckout},
		{"POST /v1/accounts/{id}/setup_sessions", admin, pathAccount, s.handleCreateSetupSession}, // a card is admin's, as on the page
		{"DELETE /v1/accounts/{id}/payment_method", admin, pathAccount, s.handleRemoveCard},
		{"GET /v1/accounts/{id}/auto_recharge", read, pathAccount, s.handleGetAutoRecharge},
		{"PUT /v1/accounts/{id}/auto_recharge", admin, pathAccount, s.handleSetAutoRecharge},
		{"GET /v1/accounts/{id}/recharges", read, pathAccount, s.handleListRecharges},
		{"GET /v1/accounts/{id}/entries", read, pathAccount, s.handleListEntries},
		{"GET /v1/accounts/{id}/purchases", read, pathAccount, s.handleListPurchases},
		{"POST /v1/accounts/{id}/debits", spend, pathAccount, s.handleDebit},
		{"POST /v1/accounts/{id}/grants", admin, pathAccount, s.handleGrant},
		{"POST /v1/accounts/{id}/adjustments", admin, pathAccount, s.handleAdjustment},
		{"POST /v1/accounts/{id}/holds", spend, pathAccount, s.handleCreateHold},
		{"GET /v1/accounts/{id}/holds", read, pathAccount, s.handleListHolds},
		{"GET /v1/holds/{id}", read, pathHold, s.handleGetHold},
		{"POST /v1/holds/{id}/capture", spend, pathHold, s.handleCaptureHold},
		{"POST /v1/holds/{id}/release", spend, pathHold, s.handleReleaseHold},
		{"POST /v1/accounts/{id}/dashboard_sessions", spend, pathAccount, s.handleCreateDashboardSession},
		{"GET /v1/events", admin, anyAccount, s.handleListEvents},
		{"POST /v1/api_keys", admin, anyAccount, s.handleCreateAPIKey},
		{"GET /v1/api_keys", admin, anyAccount, s.handleListAPIKeys},
		{"DELETE /v1/api_keys/{id}", admin, anyAccount, s.handleRevokeAPIKey},
		{"POST /v1/webhook_endpoints", admin, anyAccount, s.handleCreateWebhookEndpoint},
		{"GET /v1/webhook_endpoints", admin, anyAccount, s.handleListWebhookEndpoints},
		{"GET /v1/webhook_endpoints/{id}", admin, anyAccount, s.handleGetWebhookEndpoint},
		{"DELETE /v1/webhook_endpoints/{id}", admin, anyAccount, s.handleRemoveWebhookEndpoint},
		{"POST /v1/webhook_endpoints/{id}/rotate_secret", admin, anyAccount, s.handleRotateWebhookSecret},
		{"POST /v1/webhook_endpoints/{id}/test", admin, anyAccount, s.handleTestWebhookEndpoint},
		{"POST /v1/webhook_endpoints/{id}/enable", admin, anyAccount, s.handleEnableWebhookEndpoint},
		{"POST /v1/webhook_endpoints/{id}/disable", admin, anyAccount, s.handleDisableWebhookEndpoint},
		{"GET /v1/webhook_endpoints/{id}/deliveries", admin, anyAccount, s.handleWebhookDeliveries},
		{"POST /v1/webhook_endpoints/{id}/events/{event_id}/resend", admin, anyAccount, s.handleResendWebhookEvent},
		{"GET /v1/reconciliation", admin, anyAccount, s.handleGetReconciliation},
	}, append(s.pricingRoutes(), s.teamRoutes()...)...)
}

// APIPatterns lists the patterns of the /v1 routes ("GET /v1/packs", …),
// the test clock's too (served in development only).
func APIPatterns() []string {
	var out []string
	for _, rt := range append((&Server{}).apiRoutes(), (&Server{}).testClockRoutes()...) {
		out = append(out, rt.pattern)
	}
	return out
}

//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves the OpenAPI 3.1 description of /v1 (docs/openapi.json).
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// What a route's {id} names, for keys bound to one account.
const (
	anyAccount  = iota // the route reaches many accounts: not for a bound key
	catalog            // the route reaches no account (the packs)
	pathAccount        // {id} is an account
	pathHold           // {id} is a hold, of some account
)

// need lets a request through when its key has the scope, and, for a key
// bound to one account, when the route reaches that account alone.
func (s *Server) need(scope string, reach int, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := requestKey(r)
		if credits.ScopeRank(key.Scope) < credits.ScopeRank(scope) {
			s.writeError(w, r, credits.Errorf(EFORBIDDEN, "this API key's scope is %s; %s %s needs %s", key.Scope, r.Method, r.URL.Path, scope))
			return
		}
		if key.AccountID != "" && !s.reaches(r, key.AccountID, reach) {
			s.writeError(w, r, credits.Errorf(EFORBIDDEN, "this API key reaches account %s only", key.AccountID))
			return
		}
		if !memberReads(r, key, scope, reach) {
			s.writeError(w, r, credits.Errorf(EFORBIDDEN, "this API key reads member %s's own only", key.MemberID))
			return
		}
		if err := s.memberStillThere(r, key, scope, reach); err != nil {
			s.writeError(w, r, err)
			return
		}
		if key.MemberID != "" && reach == pathHold && !s.holdOfMember(r, key.MemberID) {
			s.writeError(w, r, credits.Errorf(EFORBIDDEN, "this API key reaches member %s's holds only", key.MemberID))
			return
		}
		next(w, r)
	})
}

// reaches reports whether a request reaches only the given account.
func (s *Server) reaches(r *http.Request, accountID string, reach int) bool {
	switch reach {
	case catalog:
		return true
	case pathAccount:
		return r.PathValue("id") == accountID
	case pathHold:
		hold, err := s.Service.GetHold(r.Context(), r.PathValue("id"))
		return err == nil && hold.AccountID == accountID
	}
	return false
}

// EFORBIDDEN is the code of a key without the scope or the reach a request needs.
const EFORBIDDEN = "forbidden"

// bearerToken reads an Authorization header of the Bearer scheme, whose name
// is case-insensitive (RFC 9110).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// methodsTried are the methods a route may have.
var methodsTried = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// notFoundOrNotAllowed answers a request that no /v1 route took: 405 with
// Allow when the path has routes for other methods, 404 otherwise.
func (s *Server) notFoundOrNotAllowed(api *http.ServeMux, catchAll string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, method := range methodsTried {
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, pattern := api.Handler(probe); pattern != catchAll && pattern != "" {
				allowed = append(allowed, method)
			}
		}
		if len(allowed) == 0 {
			s.writeError(w, r, credits.Errorf(credits.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, r, credits.Errorf(EMETHOD, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
	}
}

// EMETHOD is the code of a known path asked with a method it does not take.
const EMETHOD = "method_not_allowed"

var statusByCode = map[string]int{
	EMETHOD:               http.StatusMethodNotAllowed,
	ERATELIMITED:          http.StatusTooManyRequests,
	EFORBIDDEN:            http.StatusForbidden,
	credits.EINVALID:      http.StatusBadRequest,
	credits.ENORATE:       http.StatusBadRequest,
	credits.EUNAUTHORIZED: http.StatusUnauthorized,
	credits.EINSUFFICIENT: http.StatusPaymentRequired,
	credits.EINDEBT:       http.StatusPaymentRequired,
	credits.EMEMBERCAP:    http.StatusPaymentRequired,
	credits.ENOTFOUND:     http.StatusNotFound,
	credits.ECONFLICT:     http.StatusConflict,
	credits.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	credits.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	credits.EUNAVAILABLE:  http.StatusServiceUnavailable,
	credits.EINTERNAL:     http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if status, ok := statusByCode[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// writeError answers with the error's code and safe message; an internal
// error is logged here, once, with the request id the caller sees.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := credits.ErrorCode(err)
	var body errorBody
	body.Error.Code, body.Error.Message = code, credits.ErrorMessage(err)
	if code == credits.EINTERNAL || code == credits.EUNAVAILABLE {
		body.Error.RequestID = requestID(r)
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", body.Error.RequestID, "error", err)
	}
	writeJSON(w, StatusOf(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // compact: indenting was 5 % of a read's CPU
}

// decode reads a JSON body into v (a pointer to a struct), strictly: one
// object, each of its fields at most once and spelled exactly as v names it,
// the right types, within the size limit.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if err := checkFields(body, jsonFields(reflect.TypeOf(v).Elem())); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return credits.Errorf(credits.EINVALID, "body must hold one JSON object")
	}
	return nil
}

// checkFields refuses what encoding/json lets through: a field twice (the last
// would win) and a field in another case (it matches case-insensitively).
func checkFields(body []byte, known map[string]bool) error {
	if keys, ok := topLevelKeys(body); ok {
		seen := make(map[string]bool, len(keys))
		for _, name := range keys {
			switch {
			case !known[name]:
				return credits.Errorf(credits.EINVALID, "unknown field %q", name)
			case seen[name]:
				return credits.Errorf(credits.EINVALID, "field %q appears more than once", name)
			}
			seen[name] = true
		}
		return nil
	}
	return walkFields(body, known)
}

// topLevelKeys lists the keys of a JSON object's top level, in order, as
// encoding/json would read them. ok is false (walkFields then reads the body
// with encoding/json's tokens, and says what is wrong) unless the body is
// valid JSON, an object, and each of its keys plain ASCII without escapes.
// A body is read once this way rather than token by token: the tokens were
// a third of decoding a spend's body.
func topLevelKeys(body []byte) (keys []string, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	if i == len(body) || body[i] != '{' {
		return nil, false
	}
	depth, key := 0, false
	for ; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			depth++
			key = depth == 1 // an object's first key follows its {
		case '}', ']':
			depth--
		case ',':
			key = depth == 1
		case '"':
			j, plain := i+1, true
			for ; body[j] != '"'; j++ {
				if body[j] == '\\' || body[j] >= 0x80 {
					plain = false
					if body[j] == '\\' {
						j++ // the escaped byte, which may be a quote
					}
				}
			}
			if key {
				if !plain {
					return nil, false
				}
				keys = append(keys, string(body[i+1:j]))
				key = false
			}
			i = j
		}
	}
	return keys, true
}

// walkFields is checkFields for any body, token by token.
func walkFields(body []byte, known map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	start, err := dec.Token()
	if err != nil {
		return decodeError(err)
	}
	if delim, ok := start.(json.Delim); !ok || delim != '{' {
		return credits.Errorf(credits.EINVALID, "body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		name, _ := token.(string) // object keys are strings
		switch {
		case !known[name]:
			return credits.Errorf(credits.EINVALID, "unknown field %q", name)
		case seen[name]:
			return credits.Errorf(credits.EINVALID, "field %q appears more than once", name)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return decodeError(err)
		}
	}
	return nil
}

// jsonFields names the JSON fields of a struct type, as its tags spell them.
func jsonFields(t reflect.Type) map[string]bool {
	if fields, ok := fieldsOf.Load(t); ok {
		return fields.(map[string]bool)
	}
	fields := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "-" || !t.Field(i).IsExported() {
			continue
		}
		if name == "" {
			name = t.Field(i).Name
		}
		fields[name] = true
	}
	fieldsOf.Store(t, fields) // read-only from here on
	return fields
}

// fieldsOf keeps jsonFields' answer by type.
var fieldsOf sync.Map

func decodeError(err error) error {
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return credits.Errorf(credits.ETOOLARGE, "body is larger than %d bytes", maxErr.Limit)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return credits.Errorf(credits.EINVALID, "body must be a JSON object")
		}
		return credits.Errorf(credits.EINVALID, "%s must be of type %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return credits.Errorf(credits.EINVALID, "body is not valid JSON")
	default:
		return credits.Errorf(credits.EINVALID, "body is not valid JSON")
	}
}

func jsonType(kind string) string {
	switch kind {
	case "int64", "int", "int32":
		return "integer"
	case "bool":
		return "boolean"
	default:
		return kind
	}
}

func (s *Server) publicURL() string { return strings.TrimRight(s.PublicURL, "/") }
