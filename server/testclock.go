package server

import (
	"net/http"

	"github.com/credits/credits"
)

// testClockRoutes are the development test clock's routes: admin only, and
// never for a key bound to an account, since the clock is every account's.
// Handler serves them only when the service has a test clock; in production
// they answer 404 as an unknown route does.
func (s *Server) testClockRoutes() []apiRoute {
	return []apiRoute{
		{"GET /v1/test_clock", credits.ScopeAdmin, anyAccount, s.handleGetTestClock},
		{"POST /v1/test_clock/advance", credits.ScopeAdmin, anyAccount, s.handleAdvanceTestClock},
	}
}

// servesTestClock reports whether the test clock's routes are served.
func (s *Server) servesTestClock() bool { return s.Service != nil && s.Service.TestClock != nil }

type advanceTestClockRequest struct {
	Seconds *int64 `json:"seconds"`
}

func (s *Server) handleAdvanceTestClock(w http.ResponseWriter, r *http.Request) {
	var req advanceTestClockRequest
	if err := decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Seconds == nil {
		s.writeError(w, r, credits.Errorf(credits.EINVALID, "seconds is required: how far to move the clock forward, from 1 to %d", credits.MaxTestClockAdvanceSeconds))
		return
	}
	state, err := s.Service.AdvanceTestClock(r.Context(), *req.Seconds)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, state)
}

func (s *Server) handleGetTestClock(w http.ResponseWriter, r *http.Request) {
	state, err := s.Service.ReadTestClock(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, state)
}
