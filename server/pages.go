package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credits/credits"
)

//go:embed templates/*.html
var templateFiles embed.FS

var templateFuncs = template.FuncMap{
	"num": formatNumber,
	"deref": func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"signed": func(n int64) string {
		s := formatNumber(n)
		if n > 0 {
			return "+" + s
		}
		return s
	},
	"money":     credits.FormatMoney,
	"mul":       func(a, b int64) int64 { return a * b },
	"hasPrefix": strings.HasPrefix,
	"hasSuffix": strings.HasSuffix,
	"date":      formatDate,
	"datetime":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"kind":      describeKind,
	"last":      func(entries []credits.Entry) int { return len(entries) - 1 },
	"shortID":   shortID,
	"units":     formatUnits,
}

// pages holds one template per page, each with the shared layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"message", "dashboard", "admin_login", "admin_accounts", "admin_account", "admin_events", "admin_payment", "admin_webhooks", "admin_sessions", "dashboard_login", "admin_reconciliation", "home"} {
		files := []string{"templates/layout.html", "templates/" + name + ".html"}
		if strings.HasPrefix(name, "admin") {
			files = append(files, "templates/admin.html")
		}
		out[name] = template.Must(template.New(name).Funcs(templateFuncs).ParseFS(templateFiles, files...))
	}
	return out
}()

// view is what every page gets.
type view struct {
	Title   string
	Refresh int
	// RefreshURL is where the refresh goes (the same page when empty).
	RefreshURL string
	CSRF       string
	Operator   bool
	Chart      *chart
	Data       any
	// Can names what a customer page may change (credits.CanPurchase, …).
	Can map[string]bool

	session credits.WebSession // the operator's session
}

// render writes a page; it renders to a buffer first, so that a template
// error becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Logger.Error("render page", "page", page, "request_id", requestID(r), "error", err)
		http.Error(w, "internal error (request "+requestID(r)+")", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https:; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message is a page that says one thing.
type message struct {
	Kind     string // ok, error, warn
	Message  string
	Detail   string
	Balance  string
	Link     string
	LinkText string
}

func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, status int, title string, m message) {
	s.render(w, r, status, "message", view{Title: title, Data: m})
}

// renderError shows an error on a page: the safe message of an expected
// error, "internal error" and a request id for anything else.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error, link, linkText string) {
	code := credits.ErrorCode(err)
	m := message{Kind: "error", Message: credits.ErrorMessage(err), Link: link, LinkText: linkText}
	if code == credits.EINTERNAL || code == credits.EUNAVAILABLE {
		m.Detail = "Request " + requestID(r) + "."
		s.Logger.Error("page failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "error", err)
	}
	s.renderMessage(w, r, StatusOf(code), "Something went wrong", m)
}

func formatNumber(n int64) string { return credits.GroupThousands(strconv.FormatInt(n, 10)) }

func formatDate(t any) string {
	switch v := t.(type) {
	case time.Time:
		return v.UTC().Format("Jan 2, 2006")
	case *time.Time:
		if v == nil {
			return "never"
		}
		return v.UTC().Format("Jan 2, 2006")
	}
	return ""
}

func describeKind(kind string) string {
	switch kind {
	case credits.EntryPurchase:
		return "Purchase"
	case credits.EntryDebit:
		return "Spent"
	case credits.EntryCapture:
		return "Spent (held)"
	case credits.EntryGrant:
		return "Granted"
	case credits.EntryExpiry:
		return "Expired"
	case credits.EntryRefund:
		return "Refund"
	case credits.EntryDispute:
		return "Dispute"
	case credits.EntryAdjustment:
		return "Adjustment"
	case credits.EntryTransferOut:
		return "Transferred out"
	case credits.EntryTransferIn:
		return "Transferred in"
	}
	return kind
}

// chart is the balance over time, drawn on the server as SVG coordinates.
type chart struct {
	Width, Height                  int
	Left, Right, Top, Bottom       int
	Points, Area                   string
	MaxLabel, StartLabel, EndLabel string
}

// newChart draws a step line of the balance after each entry; nil when there
// is nothing to draw.
func newChart(history []credits.Entry, now time.Time) *chart {
	if len(history) == 0 {
		return nil
	}
	c := &chart{Width: 640, Height: 200, Left: 8, Right: 632, Top: 24, Bottom: 176}
	start, end := history[0].CreatedAt, now
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	var maxBalance int64 = 1
	for _, e := range history {
		maxBalance = max(maxBalance, e.BalanceAfter)
	}
	x := func(t time.Time) float64 {
		return float64(c.Left) + float64(c.Right-c.Left)*float64(t.Sub(start))/float64(end.Sub(start))
	}
	y := func(b int64) float64 {
		return float64(c.Bottom) - float64(c.Bottom-c.Top)*float64(max(b, 0))/float64(maxBalance)
	}
	var pts []string
	previous := y(0)
	for _, e := range history {
		px := x(e.CreatedAt)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, previous), fmt.Sprintf("%.1f,%.1f", px, y(e.BalanceAfter)))
		previous = y(e.BalanceAfter)
	}
	pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(end), previous))
	c.Points = strings.Join(pts, " ")
	c.Area = fmt.Sprintf("%.1f,%d %s %.1f,%d", x(start), c.Bottom, c.Points, x(end), c.Bottom)
	c.MaxLabel = formatNumber(maxBalance) + " credits"
	c.StartLabel, c.EndLabel = formatDate(start), "now"
	return c
}
