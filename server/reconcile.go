package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credits/credits"
)

// handleGetReconciliation answers the latest reconcile run and its items
// (at most limit, credits.MaxReconcileItems by default).
func (s *Server) handleGetReconciliation(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err == nil && limit > credits.MaxReconcileItems {
		err = credits.Errorf(credits.EINVALID, "limit must be at most %d", credits.MaxReconcileItems)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.Service.Reconciliation(r.Context(), int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// handleAdminReconciliation lists the latest run's items for an operator.
func (s *Server) handleAdminReconciliation(w http.ResponseWriter, r *http.Request, v view) {
	rec, err := s.Service.Reconciliation(r.Context(), 0)
	if err != nil && credits.ErrorCode(err) != credits.ENOTFOUND {
		s.renderError(w, r, err, "/admin/accounts", "Accounts")
		return
	}
	data := map[string]any{"Ran": err == nil, "Kinds": credits.ReconcileItemKinds}
	if err == nil {
		data["Run"], data["Items"], data["Finished"] = rec.Run, rec.Items, ""
		if rec.Run.FinishedAt != nil {
			data["Finished"] = rec.Run.FinishedAt.UTC().Format("2006-01-02 15:04:05")
		}
	}
	v.Title, v.Data = "Reconciliation with Stripe", data
	s.render(w, r, http.StatusOK, "admin_reconciliation", v)
}

// reconcileTimeout bounds the reads of one scrape of the reconcile metrics.
const reconcileTimeout = 5 * time.Second

// reconcileCollector reads the reconcile metrics from the store at each
// scrape, so that every replica reports the latest run of any of them.
type reconcileCollector struct {
	svc         *credits.Service
	items       *prometheus.Desc
	lastSuccess *prometheus.Desc
}

func newReconcileCollector(svc *credits.Service) *reconcileCollector {
	return &reconcileCollector{svc: svc,
		items: prometheus.NewDesc("credits_reconcile_items", "Items of the latest reconcile run, by kind.", []string{"kind"}, nil),
		lastSuccess: prometheus.NewDesc("credits_reconcile_last_success_timestamp_seconds",
			"When the latest reconcile run that read every Stripe list ended (Unix time; 0: none yet).", nil, nil),
	}
}

func (c *reconcileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.items
	ch <- c.lastSuccess
}

func (c *reconcileCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), reconcileTimeout)
	defer cancel()
	rec, err := c.svc.Reconciliation(ctx, 1)
	if err != nil && credits.ErrorCode(err) != credits.ENOTFOUND {
		ch <- prometheus.NewInvalidMetric(c.items, err)
		return
	}
	for _, kind := range credits.ReconcileItemKinds {
		ch <- prometheus.MustNewConstMetric(c.items, prometheus.GaugeValue, float64(rec.Run.Counts[kind]), kind)
	}
	at, err := c.svc.LastReconcileSuccess(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lastSuccess, err)
		return
	}
	seconds := 0.0
	if !at.IsZero() {
		seconds = float64(at.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, seconds)
}

// watchReconcile adds the reconcile metrics of svc, once.
func (m *Metrics) watchReconcile(svc *credits.Service) {
	if m == nil || svc == nil {
		return
	}
	err := m.registry.Register(newReconcileCollector(svc))
	if are := (prometheus.AlreadyRegisteredError{}); err != nil && !errors.As(err, &are) {
		panic(err) // the descriptions above are valid
	}
}
