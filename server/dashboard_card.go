package server

import (
	"context"
	"net/http"
	"time"

	"github.com/credits/credits"
)

// A card saved on Checkout's setup page reaches the service by Stripe's
// webhook, a moment after Checkout sends the customer back: the page waits
// for it a little, then says it is being saved and refreshes once.
const (
	defaultCardWait    = 4 * time.Second
	cardPollInterval   = 200 * time.Millisecond
	cardRefreshSeconds = 3
)

// The ?card= values of a return from Save a card.
const (
	cardSaved  = "saved"  // Checkout's return
	cardSaving = "saving" // the one refresh after it
)

// dashboardPage is the customer page's data: the dashboard, and where a
// card being saved is.
type dashboardPage struct {
	credits.Dashboard
	// CardSaving is "saving" while the card is awaited (the page refreshes
	// once), "slow" when it still has not come after the refresh.
	CardSaving string
}

// awaitCard, on a return from Save a card, waits up to CardWait for the
// card; when it comes, it reads the page again, otherwise it says so and,
// the first time, refreshes the page once. The page is read again with q,
// the query it was read with: a member's page stays the member's. waited
// says it waited (the caller checks the session again).
func (s *Server) awaitCard(r *http.Request, accountID string, q credits.DashboardQuery, page *dashboardPage, v *view) (waited bool, err error) {
	step := r.URL.Query().Get("card")
	if (step != cardSaved && step != cardSaving) || page.AutoRecharge.Card != nil {
		return false, nil
	}
	if s.cardArrived(r.Context(), accountID) {
		d, err := s.Service.Dashboard(r.Context(), accountID, q)
		page.Dashboard = d
		return true, err
	}
	if step == cardSaved {
		page.CardSaving = "saving"
		v.Refresh, v.RefreshURL = cardRefreshSeconds, "/dashboard/credits?card="+cardSaving
		return true, nil
	}
	page.CardSaving = "slow"
	return true, nil
}

// cardArrived reports whether the account's saved card arrives within
// CardWait.
func (s *Server) cardArrived(ctx context.Context, accountID string) bool {
	wait := s.CardWait
	if wait <= 0 {
		wait = defaultCardWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(cardPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
			ar, err := s.Service.GetAutoRecharge(ctx, accountID)
			if err != nil {
				return false
			}
			if ar.Card != nil {
				return true
			}
		}
	}
}
