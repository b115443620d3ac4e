package server

import (
	"net/http"

	"github.com/credits/credits"
)

// checkDashboardForm limits a customer page form's body and checks its CSRF
// token; it answers the page itself when the form is refused.
func (s *Server) checkDashboardForm(w http.ResponseWriter, r *http.Request, session string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
	if !s.signer().checkCSRF(r, session) {
		s.renderMessage(w, r, http.StatusForbidden, "Form expired", message{Kind: "error",
			Message: "This form is not valid any more. Go back to your credits page and try again.", Link: "/dashboard/credits", LinkText: "Back to your credits"})
		return false
	}
	return true
}

// handleDashboardSaveCard opens Checkout in setup mode to save a card.
func (s *Server) handleDashboardSaveCard(w http.ResponseWriter, r *http.Request) {
	accountID := s.dashboardForm(w, r, credits.CanCard).AccountID
	if accountID == "" {
		return
	}
	if s.limited(w, r, s.rateLimiters().checkouts, accountID) {
		return
	}
	back := credits.ReturnURLs{Success: s.publicURL() + "/dashboard/credits?card=saved", Cancel: s.publicURL() + "/dashboard/credits"}
	cs, err := s.Service.CreateSetupSession(r.Context(), accountID, back)
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	http.Redirect(w, r, cs.URL, http.StatusSeeOther)
}

// handleDashboardRemoveCard removes the saved card (auto-recharge turns off).
func (s *Server) handleDashboardRemoveCard(w http.ResponseWriter, r *http.Request) {
	accountID := s.dashboardForm(w, r, credits.CanCard).AccountID
	if accountID == "" {
		return
	}
	if err := s.Service.RemoveCard(r.Context(), accountID); err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	http.Redirect(w, r, "/dashboard/credits", http.StatusSeeOther)
}

// handleDashboardAutoRecharge turns auto-recharge on or off with the
// settings the application made (threshold, pack, monthly limit).
func (s *Server) handleDashboardAutoRecharge(w http.ResponseWriter, r *http.Request) {
	accountID := s.dashboardForm(w, r, credits.CanAutoRecharge).AccountID
	if accountID == "" {
		return
	}
	current, err := s.Service.GetAutoRecharge(r.Context(), accountID)
	if err == nil && current.PackID == "" {
		err = credits.Errorf(credits.ECONFLICT, "auto-recharge is not offered for this account yet")
	}
	if err == nil {
		_, err = s.Service.SetAutoRecharge(r.Context(), accountID, credits.AutoRechargeSettings{
			Enabled: r.PostFormValue("enabled") == "true", Threshold: current.Threshold, PackID: current.PackID,
			Quantity: current.Quantity, MonthlyLimit: current.MonthlyLimit,
		})
	}
	if err != nil {
		s.renderError(w, r, err, "/dashboard/credits", "Back to your credits")
		return
	}
	http.Redirect(w, r, "/dashboard/credits", http.StatusSeeOther)
}
