package credits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Events for the application, written in the transaction of their cause.
const (
	OutPurchaseCompleted    = "purchase.completed"
	OutPaymentRefunded      = "payment.refunded"
	OutPaymentDisputed      = "payment.disputed"
	OutPaymentDisputeClosed = "payment.dispute_closed"
	OutCreditsGranted       = "credits.granted"
	OutCreditsAdjusted      = "credits.adjusted"
	OutCreditsExpired       = "credits.expired"
	OutCreditsExpiring      = "credits.expiring"
	OutHoldCaptured         = "hold.captured"
	OutHoldReleased         = "hold.released"
	OutHoldExpired          = "hold.expired"
	OutAccountInDebt        = "account.in_debt"
	OutAccountDebtSettled   = "account.debt_settled"
	OutPing                 = "ping" // sent by a test of an endpoint, to it alone
)

// PingEventPrefix begins the id of a ping: pings are not stored, so they
// cannot be resent.
const PingEventPrefix = "evt_ping_"

// OutboxEventTypes are the types an endpoint may subscribe to (or "*").
var OutboxEventTypes = []string{OutPurchaseCompleted, OutPaymentRefunded, OutPaymentDisputed, OutPaymentDisputeClosed,
	OutCreditsGranted, OutCreditsAdjusted, OutCreditsExpired, OutCreditsExpiring, OutHoldCaptured, OutHoldReleased, OutHoldExpired,
	OutAccountInDebt, OutAccountDebtSettled, OutBalanceLow, OutBalanceDepleted, OutBalanceRecovered,
	OutRechargeSucceeded, OutRechargeFailed, OutRechargeActionRequired, OutRechargeLimitReached, OutAutoRechargeDisabled}

// Limits of the webhooks sent to the application.
const (
	MaxWebhookEndpoints    = 100
	MaxWebhookURLLength    = 2048
	webhookBatch           = 50              // events one delivery run reads at a time
	webhookClaimLease      = 2 * time.Minute // an endpoint claimed by a replica
	webhookRetryBase       = 10 * time.Second
	webhookRetryMax        = time.Hour
	webhookDisableAfter    = 72 * time.Hour // failing this long disables an endpoint
	webhookEndpointsAtOnce = 10
	// webhookDeliveriesAtOnce is how many endpoints one process sends to at
	// the same time: a slow endpoint delays only its own events.
	webhookDeliveriesAtOnce = 8
	// webhookWatchInterval is how often a delivery reads its endpoint, so
	// that one removed or disabled by another replica stops within it.
	webhookWatchInterval = 500 * time.Millisecond
	// OutboxGapWait is how long delivery waits at a gap in the events'
	// numbers before it passes it. An event's number is taken when it is
	// written, and on PostgreSQL transactions commit in any order (a batch
	// of the group commit lasts several round trips), so a missing number
	// may be an event still committing: passing it would skip that event
	// forever. A number rolled back is never filled, and waits this long
	// once. No transaction of the service lasts this long (a batch of the
	// group commit is cut off at a third of it).
	OutboxGapWait = 30 * time.Second
	// WebhookRotationOverlap is how long a rotated secret keeps signing.
	WebhookRotationOverlap = 24 * time.Hour
)

// OutboxEvent is an event for the application, as it is sent.
type OutboxEvent struct {
	Seq       int64     `json:"-"`
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	AccountID string    `json:"account_id"`
	Sequence  int64     `json:"sequence"`
	Payload   []byte    `json:"-"`
	CreatedAt time.Time `json:"created"`
}

// WebhookEndpoint is where the application receives its events.
type WebhookEndpoint struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	Secret         string     `json:"-"`
	PreviousSecret string     `json:"-"`
	PreviousUntil  *time.Time `json:"previous_secret_until,omitempty"`
	Status         string     `json:"status"` // enabled, disabled
	DisabledReason string     `json:"disabled_reason,omitempty"`
	Cursor         int64      `json:"-"`
	Attempts       int64      `json:"attempts"` // failed attempts at the next event
	NextAttemptAt  time.Time  `json:"next_attempt_at"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	LockedUntil    time.Time  `json:"-"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Webhook endpoint statuses.
const (
	EndpointEnabled  = "enabled"
	EndpointDisabled = "disabled"
)

// WebhookAttempt is one try at delivering an event to an endpoint.
type WebhookAttempt struct {
	EndpointID string    `json:"endpoint_id"`
	EventID    string    `json:"event_id"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// WebhookSender delivers a signed event to an endpoint (the outbound
// package): it answers the status code, or an error when none came.
type WebhookSender interface {
	Send(ctx context.Context, url string, payload []byte, secrets []string) (status int, err error)
}

// endpointSecrets are the secrets that sign a delivery at now, opened from
// the store: during a rotation, the new one and the previous one.
func (s *Service) endpointSecrets(e WebhookEndpoint, now time.Time) ([]string, error) {
	secret, _, err := s.Secrets.Open(e.Secret, e.ID)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %s: %w", e.ID, err)
	}
	if e.PreviousSecret != "" && e.PreviousUntil != nil && now.Before(*e.PreviousUntil) {
		// A previous secret sealed under a signing secret now gone (rotated
		// after a leak) no longer signs; the new one does.
		if previous, _, err := s.Secrets.Open(e.PreviousSecret, e.ID); err == nil {
			return []string{secret, previous}, nil
		}
	}
	return []string{secret}, nil
}

// send signs and sends a payload to an endpoint.
func (s *Service) send(ctx context.Context, ep WebhookEndpoint, payload []byte, now time.Time) (int, error) {
	secrets, err := s.endpointSecrets(ep, now)
	if err != nil {
		return 0, err
	}
	return s.Webhooks.Send(ctx, ep.URL, payload, secrets)
}

// SealWebhookSecrets seals, with the box's current key, every endpoint
// secret still kept in plain text or sealed with a previous signing secret;
// it runs at start-up and returns how many endpoints it sealed again, and
// the endpoints whose secret no key opens (they need a new one: rotate).
func (s *Service) SealWebhookSecrets(ctx context.Context) (n int, unopened []string, err error) {
	if s.Secrets == nil {
		return 0, nil, nil
	}
	endpoints, err := s.WebhookEndpoints(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, ep := range endpoints {
		secret, current, err := s.Secrets.Open(ep.Secret, ep.ID)
		if err != nil {
			unopened = append(unopened, ep.ID)
			continue
		}
		previous, previousCurrent, err := s.Secrets.Open(ep.PreviousSecret, ep.ID)
		if err != nil {
			previous, previousCurrent = "", true // an old rotation's leftover, no longer signing
		}
		if current && previousCurrent {
			continue
		}
		err = s.Store.Update(ctx, func(tx Tx) error {
			return tx.SetWebhookSecrets(ep.ID, s.Secrets.Seal(secret, ep.ID), s.Secrets.Seal(previous, ep.ID))
		})
		if err != nil {
			return n, unopened, err
		}
		n++
	}
	return n, unopened, nil
}

func newWebhookSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "whsec_" + hex.EncodeToString(b[:]), nil
}

// WebhookEndpoint returns one endpoint.
func (s *Service) WebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	return viewOne(ctx, s, "webhook endpoint", id, Tx.WebhookEndpoint)
}

// RotateWebhookSecret gives an endpoint a new secret, shown once; the old one
// keeps signing deliveries, as a second v1, for WebhookRotationOverlap.
func (s *Service) RotateWebhookSecret(ctx context.Context, id string) (WebhookEndpoint, error) {
	ep, err := s.WebhookEndpoint(ctx, id)
	if err != nil {
		return ep, err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return ep, err
	}
	now := s.now()
	until := now.Add(WebhookRotationOverlap)
	ep.PreviousSecret, ep.PreviousUntil, ep.Secret = ep.Secret, &until, secret // the previous one stays as it is kept
	err = s.Store.Update(ctx, func(tx Tx) error {
		return tx.RotateWebhookSecret(id, s.Secrets.Seal(secret, id), ep.PreviousSecret, until, now)
	})
	return ep, err
}

// TestWebhookEndpoint sends a ping to an endpoint now, signed as events are,
// and answers the attempt (it is recorded too).
func (s *Service) TestWebhookEndpoint(ctx context.Context, id string) (WebhookAttempt, error) {
	ep, err := s.WebhookEndpoint(ctx, id)
	if err != nil {
		return WebhookAttempt{}, err
	}
	if s.Webhooks == nil {
		return WebhookAttempt{}, Errorf(EUNAVAILABLE, "webhooks are not sent by this process")
	}
	now := s.now()
	eventID := NewID(PingEventPrefix)
	payload, err := json.Marshal(map[string]any{"id": eventID, "object": "event", "type": OutPing, "created": now.Unix(),
		"data": map[string]any{"object": map[string]any{"endpoint_id": ep.ID}}})
	if err != nil {
		return WebhookAttempt{}, err
	}
	return s.sendOnce(ctx, ep, eventID, payload)
}

// sendOnce sends a payload to an endpoint now, outside its stream, and
// records the attempt.
func (s *Service) sendOnce(ctx context.Context, ep WebhookEndpoint, eventID string, payload []byte) (WebhookAttempt, error) {
	now := s.now()
	start := time.Now()
	status, sendErr := s.send(ctx, ep, payload, now)
	a := WebhookAttempt{EndpointID: ep.ID, EventID: eventID, At: now, StatusCode: status, LatencyMS: time.Since(start).Milliseconds()}
	if sendErr != nil {
		a.Error = sendErr.Error()
	} else if status < 200 || status > 299 {
		a.Error = fmt.Sprintf("answered %d", status)
	}
	return a, s.Store.Update(ctx, func(tx Tx) error { return tx.AddWebhookAttempt(a) })
}

// ResendWebhookEvent sends one event to an endpoint again now, signed with
// the endpoint's current secrets, and answers the attempt (recorded too).
// The endpoint's place in the stream does not move: receivers tell a resent
// event by its id, which is the same.
func (s *Service) ResendWebhookEvent(ctx context.Context, endpointID, eventID string) (WebhookAttempt, error) {
	ep, err := s.WebhookEndpoint(ctx, endpointID)
	if err != nil {
		return WebhookAttempt{}, err
	}
	ev, err := viewOne(ctx, s, "event", eventID, Tx.OutboxEvent)
	if err != nil {
		return WebhookAttempt{}, err
	}
	if !ep.subscribes(ev.Type) {
		return WebhookAttempt{}, Errorf(EINVALID, "endpoint %s does not subscribe to %s events", ep.ID, ev.Type)
	}
	if s.Webhooks == nil {
		return WebhookAttempt{}, Errorf(EUNAVAILABLE, "webhooks are not sent by this process")
	}
	return s.sendOnce(ctx, ep, ev.ID, ev.Payload)
}

func (e WebhookEndpoint) subscribes(eventType string) bool {
	return slices.Contains(e.Events, "*") || slices.Contains(e.Events, eventType)
}

// emit writes an event for the application in the transaction of its
// cause; object is what it carries.
func emit(locked LockedAccount, eventType string, object any, now time.Time) error {
	return emitEach(locked, eventType, []any{object}, now)
}

// emitEach writes an event of eventType for each of objects, numbered in
// their order by one count of the account's events.
func emitEach(locked LockedAccount, eventType string, objects []any, now time.Time) error {
	first, err := locked.NextEventSequences(int64(len(objects)))
	if err != nil {
		return err
	}
	for i, object := range objects {
		ev := OutboxEvent{ID: NewOrderedID("evt_"), Type: eventType, AccountID: locked.Account().ID, Sequence: first + int64(i), CreatedAt: now}
		if ev.Payload, err = json.Marshal(map[string]any{"id": ev.ID, "object": "event", "type": ev.Type, "created": now.Unix(),
			"account_id": ev.AccountID, "sequence": ev.Sequence, "data": map[string]any{"object": object}}); err != nil {
			return fmt.Errorf("encode %s event: %w", eventType, err)
		}
		if err := locked.AddOutboxEvent(ev); err != nil {
			return err
		}
	}
	return nil
}

// EnableWebhookEndpoint turns a disabled endpoint back on: deliveries resume
// at the event where they stopped, now. Enabling an enabled endpoint changes
// nothing.
func (s *Service) EnableWebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	return s.setEndpointStatus(ctx, id, EndpointEnabled, func(ep *WebhookEndpoint, now time.Time) {
		ep.DisabledReason, ep.Attempts, ep.FailingSince, ep.NextAttemptAt = "", 0, nil, now
	})
}

// setEndpointStatus moves an endpoint to status (change sets what else the
// move changes); an endpoint already there changes nothing.
func (s *Service) setEndpointStatus(ctx context.Context, id, status string, change func(*WebhookEndpoint, time.Time)) (WebhookEndpoint, error) {
	if err := lookupID("webhook endpoint", id); err != nil {
		return WebhookEndpoint{}, err
	}
	var ep WebhookEndpoint
	err := s.update(ctx, func(tx Tx) (err error) {
		ep, err = tx.WebhookEndpoint(id)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "webhook endpoint %s not found", id)
		} else if err != nil || ep.Status == status {
			return err
		}
		now := s.now()
		ep.Status, ep.UpdatedAt = status, now
		change(&ep, now)
		return tx.UpdateWebhookEndpoint(ep)
	})
	return ep, err
}

// CreateWebhookEndpoint adds an endpoint; it receives the events written
// from now on. The secret is in this answer only.
func (s *Service) CreateWebhookEndpoint(ctx context.Context, rawURL string, events []string, description string) (WebhookEndpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rawURL) > MaxWebhookURLLength || !PlainText(rawURL) {
		return WebhookEndpoint{}, Errorf(EINVALID, "url must be an http:// or https:// URL of at most %d characters", MaxWebhookURLLength)
	}
	if s.CheckWebhookURL != nil {
		if err := s.CheckWebhookURL(ctx, rawURL); err != nil {
			return WebhookEndpoint{}, Errorf(EINVALID, "url refused: %v", err)
		}
	}
	if len(events) == 0 {
		return WebhookEndpoint{}, Errorf(EINVALID, "events must list event types, or [\"*\"] for all")
	}
	for _, t := range events {
		if t != "*" && !slices.Contains(OutboxEventTypes, t) {
			return WebhookEndpoint{}, Errorf(EINVALID, "unknown event type %q (known: %s, or *)", t, strings.Join(OutboxEventTypes, ", "))
		}
	}
	description, err = validateText("description", description, false)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return WebhookEndpoint{}, err
	}
	now := s.now()
	ep := WebhookEndpoint{ID: NewID("we_"), URL: rawURL, Events: events, Description: description, Secret: secret,
		Status: EndpointEnabled, NextAttemptAt: now, LockedUntil: unclaimed, CreatedAt: now, UpdatedAt: now}
	err = s.Store.Update(ctx, func(tx Tx) error {
		endpoints, err := tx.WebhookEndpoints()
		if err != nil {
			return err
		}
		if len(endpoints) >= MaxWebhookEndpoints {
			return Errorf(ECONFLICT, "at most %d webhook endpoints", MaxWebhookEndpoints)
		}
		if ep.Cursor, err = tx.LastOutboxSeq(); err != nil {
			return err
		}
		sealed := ep
		sealed.Secret = s.Secrets.Seal(secret, ep.ID) // the answer shows it once; the store keeps it sealed
		return tx.CreateWebhookEndpoint(sealed)
	})
	return ep, err
}

// WebhookEndpoints lists the endpoints.
func (s *Service) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		out, err = tx.WebhookEndpoints()
		return err
	})
	return out, err
}

// RemoveWebhookEndpoint deletes an endpoint and its attempts.
func (s *Service) RemoveWebhookEndpoint(ctx context.Context, id string) error {
	if err := lookupID("webhook endpoint", id); err != nil {
		return err
	}
	err := s.Store.Update(ctx, func(tx Tx) error {
		err := tx.DeleteWebhookEndpoint(id)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "webhook endpoint %s not found", id)
		}
		return err
	})
	if err == nil {
		s.deliveries.stop(id) // its request in flight here ends now; other replicas' within webhookWatchInterval
	}
	return err
}

// DisableWebhookEndpoint stops deliveries to an endpoint, at once, including
// a request in flight (its event is not marked delivered); its events wait
// for EnableWebhookEndpoint. Disabling a disabled endpoint changes nothing.
func (s *Service) DisableWebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	ep, err := s.setEndpointStatus(ctx, id, EndpointDisabled, func(ep *WebhookEndpoint, _ time.Time) {
		ep.DisabledReason = "disabled by an operator"
	})
	if err == nil {
		s.deliveries.stop(id)
	}
	return ep, err
}

// WebhookAttempts lists the latest attempts at an endpoint, newest first.
func (s *Service) WebhookAttempts(ctx context.Context, endpointID string, limit int) ([]WebhookAttempt, error) {
	limit, err := PageSize(limit)
	if err != nil {
		return nil, err
	}
	if err := lookupID("webhook endpoint", endpointID); err != nil {
		return nil, err
	}
	var out []WebhookAttempt
	err = s.Store.View(ctx, func(tx Tx) error {
		if _, err := tx.WebhookEndpoint(endpointID); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "webhook endpoint %s not found", endpointID)
		} else if err != nil {
			return err
		}
		var err error
		out, err = tx.WebhookAttempts(endpointID, limit)
		return err
	})
	return out, err
}

// DeliverWebhooks claims the endpoints that have something due and delivers
// to them side by side (at most webhookDeliveriesAtOnce at a time), each
// endpoint's events in order, each at least once; it waits for them all and
// returns how many attempts it made. A failure is retried with back-off; an
// endpoint failing for 3 days is disabled with the reason.
func (s *Service) DeliverWebhooks(ctx context.Context) (int, error) {
	if s.Webhooks == nil {
		return 0, nil
	}
	claimed, err := s.claimWebhookEndpoints(ctx, webhookEndpointsAtOnce)
	if err != nil {
		return 0, err
	}
	var (
		mu       sync.Mutex
		attempts int
		errs     []error
		wg       sync.WaitGroup
	)
	running := make(chan struct{}, webhookDeliveriesAtOnce)
	for _, ep := range claimed {
		running <- struct{}{}
		wg.Go(func() {
			defer func() { <-running }()
			n, err := s.deliverWatched(ctx, ep)
			mu.Lock()
			defer mu.Unlock()
			attempts += n
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return attempts, errors.Join(errs...)
}

func (s *Service) claimWebhookEndpoints(ctx context.Context, limit int) ([]WebhookEndpoint, error) {
	now := s.now()
	var claimed []WebhookEndpoint
	err := s.Store.Update(ctx, func(tx Tx) (err error) {
		claimed, err = tx.ClaimWebhookEndpoints(now, webhookClaimLease, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook endpoints: %w", err)
	}
	return claimed, nil
}

// deliveries are the endpoints this process is delivering to, each with the
// cancel of its delivery, so that removing or disabling one here stops it at
// once; other replicas' deliveries notice within webhookWatchInterval.
type deliveries struct {
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
}

func (d *deliveries) add(endpointID string, cancel context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = map[string]context.CancelFunc{}
	}
	d.cancel[endpointID] = cancel
}

func (d *deliveries) remove(endpointID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.cancel, endpointID)
}

// stop cancels the delivery to an endpoint, if this process runs one.
func (d *deliveries) stop(endpointID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cancel, ok := d.cancel[endpointID]; ok {
		cancel()
	}
}

// errEndpointGone stops a delivery whose endpoint was removed or disabled.
var errEndpointGone = errors.New("the endpoint was removed or disabled")

// deliverWatched runs deliverTo under a context that ends when the endpoint
// is removed or disabled (here at once, by another replica within
// webhookWatchInterval): its request in flight is canceled, and its event is
// not marked delivered.
func (s *Service) deliverWatched(ctx context.Context, ep WebhookEndpoint) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.deliveries.add(ep.ID, func() { cancel(errEndpointGone) })
	defer s.deliveries.remove(ep.ID)
	watching := make(chan struct{})
	defer close(watching)
	go s.watchEndpoint(ctx, ep.ID, watching, func() { cancel(errEndpointGone) })
	n, err := s.deliverTo(ctx, ep)
	if errors.Is(err, errEndpointGone) || errors.Is(context.Cause(ctx), errEndpointGone) {
		return n, nil // stopped as asked: nothing to report
	}
	return n, err
}

// watchEndpoint reads the endpoint every webhookWatchInterval until done,
// and stops the delivery when it is gone or disabled.
func (s *Service) watchEndpoint(ctx context.Context, id string, done <-chan struct{}, stop func()) {
	ticker := time.NewTicker(webhookWatchInterval)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		var ep WebhookEndpoint
		err := s.Store.View(ctx, func(tx Tx) (err error) {
			ep, err = tx.WebhookEndpoint(id)
			return err
		})
		if errors.Is(err, ErrNotFound) || (err == nil && ep.Status != EndpointEnabled) {
			stop()
			return
		}
	}
}

// unclaimed is the locked_until of an endpoint no replica holds.
var unclaimed = time.Unix(0, 0).UTC()

// deliverTo sends an endpoint's next events until one fails or none is left,
// holding the claim from ClaimWebhookEndpoints throughout so that no other
// replica sends to the endpoint meanwhile; it releases the claim when it
// stops, and stops while at most half the lease has passed.
func (s *Service) deliverTo(ctx context.Context, ep WebhookEndpoint) (int, error) {
	attempts := 0
	claimed := time.Now()
	for {
		if time.Since(claimed) > webhookClaimLease/2 {
			ep.LockedUntil = unclaimed // the next round claims it again
			return attempts, s.saveEndpoint(ctx, ep)
		}
		var events []OutboxEvent
		err := s.Store.View(ctx, func(tx Tx) (err error) {
			events, err = tx.OutboxEventsAfter(ep.Cursor, webhookBatch)
			return err
		})
		if err != nil {
			return attempts, err
		}
		next := -1
		for i, ev := range events {
			if ev.Seq != ep.Cursor+1 && s.now().Sub(ev.CreatedAt) < OutboxGapWait {
				break // an event before this one may still be committing: wait for it
			}
			if ep.subscribes(ev.Type) {
				next = i
				break
			}
			ep.Cursor = ev.Seq // not subscribed: passed over
		}
		if next < 0 {
			ep.NextAttemptAt, ep.LockedUntil = s.now(), unclaimed
			return attempts, s.saveEndpoint(ctx, ep)
		}
		ev := events[next]
		ok, err := s.attempt(ctx, &ep, ev)
		attempts++
		if err != nil || !ok {
			return attempts, err
		}
	}
}

// attempt sends one event and records the attempt and the endpoint's state,
// unless the endpoint was removed or disabled meanwhile (errEndpointGone:
// then nothing is recorded, and the event is not marked delivered).
func (s *Service) attempt(ctx context.Context, ep *WebhookEndpoint, ev OutboxEvent) (bool, error) {
	start := time.Now()
	status, sendErr := s.send(ctx, *ep, ev.Payload, s.now())
	if errors.Is(context.Cause(ctx), errEndpointGone) {
		return false, errEndpointGone
	}
	now := s.now()
	a := WebhookAttempt{EndpointID: ep.ID, EventID: ev.ID, At: now, StatusCode: status, LatencyMS: time.Since(start).Milliseconds()}
	ok := sendErr == nil && status >= 200 && status < 300
	switch {
	case ok:
		ep.Cursor, ep.Attempts, ep.FailingSince, ep.NextAttemptAt = ev.Seq, 0, nil, now
	default:
		a.Error = fmt.Sprintf("answered %d", status)
		if sendErr != nil {
			a.Error = sendErr.Error()
		}
		ep.Attempts++
		ep.LockedUntil = unclaimed // deliverTo stops here
		if ep.FailingSince == nil {
			ep.FailingSince = &now
		}
		ep.NextAttemptAt = now.Add(min(webhookRetryBase<<min(ep.Attempts-1, 12), webhookRetryMax))
		if now.Sub(*ep.FailingSince) >= webhookDisableAfter {
			ep.Status = EndpointDisabled
			ep.DisabledReason = fmt.Sprintf("failing since %s: %s", ep.FailingSince.Format(time.RFC3339), a.Error)
		}
	}
	err := s.Store.Update(ctx, func(tx Tx) error {
		ep.UpdatedAt = now
		if err := tx.AdvanceWebhookEndpoint(*ep); errors.Is(err, ErrNotFound) {
			return errEndpointGone
		} else if err != nil {
			return err
		}
		return tx.AddWebhookAttempt(a)
	})
	return ok, err
}

// saveEndpoint writes a delivery's state, if its endpoint is still there
// and enabled (else there is nothing to release).
func (s *Service) saveEndpoint(ctx context.Context, ep WebhookEndpoint) error {
	ep.UpdatedAt = s.now()
	err := s.Store.Update(ctx, func(tx Tx) error { return tx.AdvanceWebhookEndpoint(ep) })
	if errors.Is(err, ErrNotFound) {
		return errEndpointGone
	}
	return err
}

// RunWebhookDispatcher delivers due webhooks every interval, when the test
// clock moves, and when a delivery ends, until ctx ends. Endpoints run side
// by side, at most webhookDeliveriesAtOnce: a slow one holds its own place
// only, and the others are claimed and served meanwhile.
func (s *Service) RunWebhookDispatcher(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	running := make(chan struct{}, webhookDeliveriesAtOnce)
	ended := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if s.Webhooks != nil && len(running) < cap(running) {
			claimed, err := s.claimWebhookEndpoints(ctx, cap(running)-len(running))
			if err != nil && ctx.Err() == nil {
				s.Logger.Error("deliver webhooks", "error", err)
			}
			for _, ep := range claimed {
				running <- struct{}{}
				wg.Go(func() {
					defer func() { <-running; wake(ended) }()
					if _, err := s.deliverWatched(ctx, ep); err != nil && ctx.Err() == nil {
						s.Logger.Error("deliver webhooks", "endpoint", ep.ID, "error", err)
					}
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.dispatchWake:
		case <-ended:
		case <-ticker.C:
		}
	}
}
