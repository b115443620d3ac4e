package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/credits/credits"
)

const reconcileRunColumns = `id, started_at, finished_at, since, fix, status, error, progress, updated_at`

func scanReconcileRun(s scanner) (credits.ReconcileRun, error) {
	var r credits.ReconcileRun
	var progress string
	err := s.Scan(&r.ID, timeValue{&r.StartedAt}, nullTimeValue{&r.FinishedAt}, timeValue{&r.Since}, &r.Fix, &r.Status,
		&r.Error, &progress, timeValue{&r.UpdatedAt})
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(progress), &r.Progress); err != nil {
		return r, fmt.Errorf("progress of reconcile run %s: %w", r.ID, err)
	}
	if r.Progress == nil {
		r.Progress = map[string]credits.ReconcileProgress{}
	}
	return r, nil
}

func encodeProgress(r credits.ReconcileRun) (string, error) {
	if r.Progress == nil {
		return "{}", nil
	}
	b, err := json.Marshal(r.Progress)
	return string(b), err
}

func (t *Tx) CreateReconcileRun(r credits.ReconcileRun) error {
	progress, err := encodeProgress(r)
	if err != nil {
		return fmt.Errorf("record reconcile run %s: %w", r.ID, err)
	}
	_, err = t.exec("record reconcile run "+r.ID, `INSERT INTO reconcile_runs (`+reconcileRunColumns+`, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM reconcile_runs))`,
		r.ID, t.d.Time(r.StartedAt), t.d.nullTime(r.FinishedAt), t.d.Time(r.Since), r.Fix, r.Status, r.Error, progress, t.d.Time(r.UpdatedAt))
	return err
}

func (t *Tx) UpdateReconcileRun(r credits.ReconcileRun) error {
	progress, err := encodeProgress(r)
	if err != nil {
		return fmt.Errorf("update reconcile run %s: %w", r.ID, err)
	}
	return t.execOne("update reconcile run "+r.ID, `UPDATE reconcile_runs SET finished_at = ?, status = ?, error = ?,
		progress = ?, updated_at = ? WHERE id = ?`, t.d.nullTime(r.FinishedAt), r.Status, r.Error, progress, t.d.Time(r.UpdatedAt), r.ID)
}

func (t *Tx) LatestReconcileRun(status string) (credits.ReconcileRun, error) {
	run, err := queryOne(t, "read the latest reconcile run", scanReconcileRun, `SELECT `+reconcileRunColumns+` FROM reconcile_runs
		WHERE status = ? OR CAST(? AS TEXT) = '' ORDER BY seq DESC LIMIT 1`, status, status)
	if err != nil {
		return run, err
	}
	type count struct {
		kind string
		n    int64
	}
	counts, err := queryAll(t, "count the items of reconcile run "+run.ID, func(s scanner) (count, error) {
		var c count
		return c, s.Scan(&c.kind, &c.n)
	}, `SELECT kind, COUNT(*) FROM reconcile_items WHERE run_id = ? GROUP BY kind`, run.ID)
	if err != nil {
		return run, err
	}
	run.Counts = map[string]int64{}
	for _, kind := range credits.ReconcileItemKinds {
		run.Counts[kind] = 0
	}
	for _, c := range counts {
		run.Counts[c.kind] = c.n
	}
	return run, nil
}

func (t *Tx) LatestFixReconcileRun() (credits.ReconcileRun, error) {
	return queryOne(t, "read the latest reconcile run with fix", scanReconcileRun, `SELECT `+reconcileRunColumns+` FROM reconcile_runs
		WHERE fix = ? ORDER BY seq DESC LIMIT 1`, true)
}

func (t *Tx) UnsettledRefunds(limit int) ([]credits.PaymentRefund, error) {
	return queryAll(t, "list unsettled refunds", scanRefund, `SELECT `+refundColumns+` FROM payment_refunds
		WHERE status IN ('pending', 'requires_action') ORDER BY updated_at, id LIMIT ?`, limit)
}

func (t *Tx) UnsettledDisputes(limit int) ([]credits.PaymentDispute, error) {
	return queryAll(t, "list unsettled disputes", scanDispute, `SELECT `+disputeColumns+` FROM payment_disputes
		WHERE status NOT IN ('won', 'lost', 'prevented', 'warning_closed', 'charge_refunded') ORDER BY updated_at, id LIMIT ?`, limit)
}

const reconcileItemColumns = `run_id, kind, object, account_id, detail, command, fixed, event_id, created_at`

func (t *Tx) SaveReconcileItem(it credits.ReconcileItem) error {
	_, err := t.exec("record reconcile item "+it.Kind+" "+it.Object, `INSERT INTO reconcile_items (`+reconcileItemColumns+`, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM reconcile_items WHERE run_id = ?))
		ON CONFLICT (run_id, kind, object) DO UPDATE SET account_id = excluded.account_id, detail = excluded.detail,
			command = excluded.command, fixed = excluded.fixed, event_id = excluded.event_id, created_at = excluded.created_at`,
		it.RunID, it.Kind, it.Object, it.AccountID, it.Detail, it.Command, it.Fixed, it.EventID, t.d.Time(it.CreatedAt), it.RunID)
	return err
}

func (t *Tx) ReconcileItems(runID string, limit int) ([]credits.ReconcileItem, error) {
	return queryAll(t, "list the items of reconcile run "+runID, func(s scanner) (credits.ReconcileItem, error) {
		var it credits.ReconcileItem
		return it, s.Scan(&it.RunID, &it.Kind, &it.Object, &it.AccountID, &it.Detail, &it.Command, &it.Fixed, &it.EventID, timeValue{&it.CreatedAt})
	}, `SELECT `+reconcileItemColumns+` FROM reconcile_items WHERE run_id = ? ORDER BY seq LIMIT ?`, runID, limit)
}

func (t *Tx) StuckRecharges(before time.Time, limit int) ([]credits.Recharge, error) {
	return queryAll(t, "list stuck recharges", scanRecharge, `SELECT `+rechargeColumns+` FROM recharges
		WHERE status IN ('processing', 'pending', 'action_required') AND updated_at < ?
		AND (status <> 'pending' OR payment_intent <> '') ORDER BY updated_at, id LIMIT ?`, t.d.Time(before), limit)
}
