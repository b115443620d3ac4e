package sqlstore

import (
	"strings"
	"time"

	"github.com/credits/credits"
)

// NextEventSequence counts from what the transaction knows (Tx.locked): the
// row it locked, then its own counts. So the UPDATE needs no answer, and on
// PostgreSQL goes out with the next statement or the COMMIT; its condition
// makes a count that was not the row's fail the write rather than number
// two events alike.
func (l *lockedAccount) NextEventSequences(n int64) (int64, error) {
	last, ok := l.t.sequences[l.id()]
	if !ok {
		panic("sqlstore: an account locked outside Tx.locked")
	}
	next := last + n
	err := l.t.later(Write{Op: "count events of account " + l.id(), Args: []any{next, l.id(), last}, One: true},
		`UPDATE accounts SET event_sequence = ? WHERE id = ? AND event_sequence = ?`)
	if err != nil {
		return 0, err
	}
	l.t.sequences[l.id()] = next
	return last + 1, l.changed(nil, func(a *credits.Account) { a.EventSequence = next })
}

func (l *lockedAccount) AddOutboxEvent(e credits.OutboxEvent) error {
	return l.t.later(Write{Op: "write " + e.Type + " event", Args: []any{e.ID, e.Type, l.id(), e.Sequence, string(e.Payload), l.t.d.Time(e.CreatedAt)}},
		`INSERT INTO outbox_events (id, type, account_id, sequence, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
}

func (t *Tx) LastOutboxSeq() (int64, error) {
	return queryOne(t, "read the last event", scanInt64, `SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM outbox_events`)
}

func scanOutboxEvent(s scanner) (credits.OutboxEvent, error) {
	var e credits.OutboxEvent
	var payload string
	err := s.Scan(&e.Seq, &e.ID, &e.Type, &e.AccountID, &e.Sequence, &payload, timeValue{&e.CreatedAt})
	e.Payload = []byte(payload)
	return e, err
}

const outboxColumns = `seq, id, type, account_id, sequence, payload, created_at`

func (t *Tx) OutboxEventsAfter(seq int64, limit int) ([]credits.OutboxEvent, error) {
	return queryAll(t, "list events to send", scanOutboxEvent,
		`SELECT `+outboxColumns+` FROM outbox_events WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
}

func (t *Tx) OutboxEvent(id string) (credits.OutboxEvent, error) {
	return queryOne(t, "read event "+id, scanOutboxEvent, `SELECT `+outboxColumns+` FROM outbox_events WHERE id = ?`, id)
}

const endpointColumns = `id, url, events, description, secret, previous_secret, previous_until, status, disabled_reason, cursor,
	attempts, next_attempt_at, failing_since, locked_until, created_at, updated_at`

func scanEndpoint(s scanner) (credits.WebhookEndpoint, error) {
	var e credits.WebhookEndpoint
	var events string
	err := s.Scan(&e.ID, &e.URL, &events, &e.Description, &e.Secret, &e.PreviousSecret, nullTimeValue{&e.PreviousUntil}, &e.Status,
		&e.DisabledReason, &e.Cursor, &e.Attempts,
		timeValue{&e.NextAttemptAt}, nullTimeValue{&e.FailingSince}, timeValue{&e.LockedUntil}, timeValue{&e.CreatedAt}, timeValue{&e.UpdatedAt})
	e.Events = strings.Fields(events)
	return e, err
}

func (t *Tx) CreateWebhookEndpoint(e credits.WebhookEndpoint) error {
	_, err := t.exec("create webhook endpoint "+e.ID, `INSERT INTO webhook_endpoints (`+endpointColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.URL, strings.Join(e.Events, " "), e.Description, e.Secret,
		e.PreviousSecret, t.d.nullTime(e.PreviousUntil), e.Status, e.DisabledReason, e.Cursor, e.Attempts, t.d.Time(e.NextAttemptAt), t.d.nullTime(e.FailingSince),
		t.d.Time(e.LockedUntil), t.d.Time(e.CreatedAt), t.d.Time(e.UpdatedAt))
	return err
}

func (t *Tx) WebhookEndpoint(id string) (credits.WebhookEndpoint, error) {
	return queryOne(t, "read webhook endpoint "+id, scanEndpoint, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = ?`, id)
}

func (t *Tx) WebhookEndpoints() ([]credits.WebhookEndpoint, error) {
	return queryAll(t, "list webhook endpoints", scanEndpoint, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY created_at, id`)
}

func (t *Tx) DeleteWebhookEndpoint(id string) error {
	if _, err := t.exec("forget the attempts of webhook endpoint "+id, `DELETE FROM webhook_attempts WHERE endpoint_id = ?`, id); err != nil {
		return err
	}
	return t.execOne("delete webhook endpoint "+id, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
}

func (t *Tx) UpdateWebhookEndpoint(e credits.WebhookEndpoint) error {
	return t.execOne("update webhook endpoint "+e.ID, `UPDATE webhook_endpoints SET status = ?, disabled_reason = ?, cursor = ?,
		attempts = ?, next_attempt_at = ?, failing_since = ?, locked_until = ?, updated_at = ? WHERE id = ?`,
		e.Status, e.DisabledReason, e.Cursor, e.Attempts, t.d.Time(e.NextAttemptAt), t.d.nullTime(e.FailingSince),
		t.d.Time(e.LockedUntil), t.d.Time(e.UpdatedAt), e.ID)
}

func (t *Tx) AdvanceWebhookEndpoint(e credits.WebhookEndpoint) error {
	return t.execOne("advance webhook endpoint "+e.ID, `UPDATE webhook_endpoints SET status = ?, disabled_reason = ?, cursor = ?,
		attempts = ?, next_attempt_at = ?, failing_since = ?, locked_until = ?, updated_at = ? WHERE id = ? AND status = 'enabled'`,
		e.Status, e.DisabledReason, e.Cursor, e.Attempts, t.d.Time(e.NextAttemptAt), t.d.nullTime(e.FailingSince),
		t.d.Time(e.LockedUntil), t.d.Time(e.UpdatedAt), e.ID)
}

// ClaimWebhookEndpoints skips endpoints another replica is delivering to,
// and takes those whose earlier claim ran out.
func (t *Tx) ClaimWebhookEndpoints(now time.Time, lease time.Duration, limit int) ([]credits.WebhookEndpoint, error) {
	return queryAll(t, "claim webhook endpoints", scanEndpoint, `UPDATE webhook_endpoints SET locked_until = ?
		WHERE id IN (SELECT id FROM webhook_endpoints WHERE status = 'enabled' AND next_attempt_at <= ? AND locked_until <= ?
			ORDER BY next_attempt_at LIMIT ?{skip_locked})
		RETURNING `+endpointColumns, t.d.Time(now.Add(lease)), t.d.Time(now), t.d.Time(now), limit)
}

func (t *Tx) AddWebhookAttempt(a credits.WebhookAttempt) error {
	_, err := t.exec("record an attempt at webhook endpoint "+a.EndpointID, `INSERT INTO webhook_attempts
		(endpoint_id, event_id, at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)`,
		a.EndpointID, a.EventID, t.d.Time(a.At), a.StatusCode, a.LatencyMS, a.Error)
	return err
}

func (t *Tx) WebhookAttempts(endpointID string, limit int) ([]credits.WebhookAttempt, error) {
	return queryAll(t, "list attempts at webhook endpoint "+endpointID, func(s scanner) (credits.WebhookAttempt, error) {
		var a credits.WebhookAttempt
		return a, s.Scan(&a.EndpointID, &a.EventID, timeValue{&a.At}, &a.StatusCode, &a.LatencyMS, &a.Error)
	}, `SELECT endpoint_id, event_id, at, status_code, latency_ms, error FROM webhook_attempts WHERE endpoint_id = ?
		ORDER BY at DESC LIMIT ?`, endpointID, limit)
}

func (t *Tx) RotateWebhookSecret(id, secret, previous string, previousUntil, now time.Time) error {
	return t.execOne("rotate the secret of webhook endpoint "+id, `UPDATE webhook_endpoints SET secret = ?, previous_secret = ?,
		previous_until = ?, updated_at = ? WHERE id = ?`, secret, previous, t.d.Time(previousUntil), t.d.Time(now), id)
}

func (t *Tx) SetWebhookSecrets(id, secret, previous string) error {
	return t.execOne("seal the secrets of webhook endpoint "+id, `UPDATE webhook_endpoints SET secret = ?, previous_secret = ? WHERE id = ?`,
		secret, previous, id)
}
