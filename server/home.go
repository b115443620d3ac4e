package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/credits/credits"
)

// Welcome is what the development home page (/) shows a newcomer. A server
// without one (production) answers / with nothing but that it is up.
type Welcome struct {
	// APIKey is the key for /v1 that the page shows to this machine.
	APIKey string
	// DemoAccountID is the offline demo's account, whose credits page the
	// home page links to when it exists; empty without the demo.
	DemoAccountID string
}

// welcomeLinkTTL is how long the home page's link to the demo account's
// credits page opens it (once).
const welcomeLinkTTL = time.Hour

// homeView is what the home page shows.
type homeView struct {
	Local       bool   // the request came from this machine: the key and the link are shown
	APIKey      string // empty when not Local
	DemoLink    string
	DemoAccount string
	Commands    string
}

// handleHome answers /: in development, a page with what a newcomer needs;
// otherwise only that the service is up (nothing about its version, its
// configuration or its routes).
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	if s.Production || s.Welcome == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	v := homeView{Local: fromThisMachine(r) && s.ownHost(r), DemoAccount: s.Welcome.DemoAccountID}
	if v.DemoAccount != "" {
		// The demo seeds only an empty database: one with accounts of its
		// own has no demo account.
		_, err := s.Service.GetAccount(r.Context(), v.DemoAccount)
		if credits.ErrorCode(err) == credits.ENOTFOUND {
			v.DemoAccount = ""
		} else if err != nil {
			s.renderError(w, r, err, "", "")
			return
		}
	}
	key := "dev_…   # printed by `credits serve`"
	if v.Local {
		v.APIKey, key = s.Welcome.APIKey, s.Welcome.APIKey
		if v.DemoAccount != "" {
			link, _, err := s.DashboardLink(r.Context(), v.DemoAccount, welcomeLinkTTL)
			if err != nil {
				s.renderError(w, r, err, "", "")
				return
			}
			v.DemoLink = link
		}
	}
	var err error
	if v.Commands, err = s.tourCommands(r.Context(), key, v.DemoAccount); err != nil {
		s.renderError(w, r, err, "", "")
		return
	}
	s.render(w, r, http.StatusOK, "home", view{Title: "Start here", Data: v})
}

// fromThisMachine reports whether a request came straight from a loopback
// address: the API key and a link that signs into the demo account are shown
// only then, as a development server may listen on more than this machine
// (a tunnel or proxy on this machine names the client it forwards for).
func fromThisMachine(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	addr, err := netip.ParseAddr(peerAddress(r))
	return err == nil && addr.IsLoopback()
}

// ownHost reports whether a request names this service: localhost, a
// loopback address, or the public URL's host. A page of another site that
// rebinds its name to 127.0.0.1 reaches this server from the developer's
// own browser, with a loopback peer, but names its own host.
func (s *Server) ownHost(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "localhost" {
		return true
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.IsLoopback() {
		return true
	}
	public, err := url.Parse(s.publicURL())
	return err == nil && public.Hostname() != "" && strings.EqualFold(public.Hostname(), host)
}

// tourCommands is the home page's copy-paste block: the demo's catalog and
// account, a debit that takes the demo account's available credits below
// its auto-recharge threshold, and then an account of one's own with ids
// the demo does not take.
func (s *Server) tourCommands(ctx context.Context, key, demoAccount string) (string, error) {
	base := s.publicURL()
	var b strings.Builder
	auth := `-H "Authorization: Bearer $KEY"`
	fmt.Fprintf(&b, "KEY=%s\nBASE=%s\n\n", key, base)
	if id := demoAccount; id != "" {
		fmt.Fprintf(&b, "# the demo's packs, and its account\ncurl -s %s $BASE/v1/packs\ncurl -s %s $BASE/v1/accounts/%s\n\n", auth, auth, id)
		if err := s.belowThreshold(ctx, &b, auth, id); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(&b, "# a pack and an account of your own (the demo takes the ids starter, pro, team and demo)\n")
	fmt.Fprintf(&b, "curl -s %s $BASE/v1/packs \\\n  -d '{\"id\":\"basic\",\"name\":\"Basic\",\"credits\":100,\"unit_amount\":999,\"currency\":\"usd\"}'\n", auth)
	fmt.Fprintf(&b, "curl -s %s $BASE/v1/accounts -d '{\"id\":\"user-1\",\"email\":\"ann@example.com\"}'\n", auth)
	fmt.Fprintf(&b, "# a single-use link to user-1's credits page: open its \"url\"\n")
	fmt.Fprintf(&b, "curl -s %s -X POST $BASE/v1/accounts/user-1/dashboard_sessions\n", auth)
	return b.String(), nil
}

// belowThreshold writes the debit that takes the demo account's available
// credits below its auto-recharge threshold, with what must come first.
func (s *Server) belowThreshold(ctx context.Context, b *strings.Builder, auth, accountID string) error {
	account, err := s.Service.GetAccount(ctx, accountID)
	if err != nil {
		return err
	}
	ar, err := s.Service.GetAutoRecharge(ctx, accountID)
	if err != nil || ar.PackID == "" {
		return err // auto-recharge not offered: nothing to show
	}
	available, purchase := account.Available, ""
	if available < ar.Threshold {
		packs, err := s.Service.ListPacks(ctx, false)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(packs, func(p credits.Pack) bool { return p.ID == ar.PackID })
		if i < 0 {
			return nil // the pack is gone: auto-recharge cannot run
		}
		bought := packs[i].Credits * ar.Quantity
		available += bought
		purchase = fmt.Sprintf("#   Purchase %d × %s (%d credits) with the card 4242 4242 4242 4242.\n", ar.Quantity, packs[i].Name, bought)
	}
	amount := max(available-ar.Threshold+1, 1)
	fmt.Fprintf(b, "# Auto-recharge, on the demo account's credits page (the link above):\n%s", purchase)
	fmt.Fprintf(b, "#   Save a card (4242 4242 4242 4242), then Turn auto-recharge on.\n")
	fmt.Fprintf(b, "# Then spend %d credits: %d are left, below the threshold of %d, so a recharge starts:\n", amount, available-amount, ar.Threshold)
	fmt.Fprintf(b, "curl -s %s -H \"Idempotency-Key: tour-%d\" $BASE/v1/accounts/%s/debits \\\n  -d '{\"amount\":%d,\"description\":\"below the auto-recharge threshold\"}'\n", auth, available, accountID, amount)
	fmt.Fprintf(b, "# the recharge (last_attempt), then its credits on the credits page\ncurl -s %s $BASE/v1/accounts/%s/auto_recharge\n\n", auth, accountID)
	return nil
}
