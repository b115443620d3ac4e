package stripestub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v85"
)

// maxEventTypes is how many types one Events list may name
// (https://docs.stripe.com/api/events/list#list_events-types), and
// eventsKept how far back Stripe lists events ("going back up to 30 days").
const (
	maxEventTypes = 20
	eventsKept    = 30 * 24 * time.Hour
)

// Event is an event the stub recorded for a change it made.
type Event struct {
	ID      string
	Type    string
	Created int64
	// Object is the object as it was when the event happened.
	Object json.RawMessage
	seq    int
}

func (e *Event) stripeID() string { return e.ID }
func (e *Event) createdAt() int64 { return e.Created }
func (e *Event) order() int       { return e.seq }

// Payload is the event's JSON as Stripe sends it to a webhook endpoint.
func (e *Event) Payload() []byte {
	body, err := json.Marshal(e.render())
	if err != nil {
		panic(fmt.Sprintf("stripestub: event %s: %v", e.ID, err))
	}
	return body
}

func (e *Event) render() map[string]any {
	return map[string]any{
		"id": e.ID, "object": "event", "api_version": stripego.APIVersion, "created": e.Created,
		"data": map[string]any{"object": e.Object}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": e.Type,
	}
}

// recordEvent keeps an event with object as it is now; callers hold s.mu.
func (s *Stub) recordEvent(eventType string, object any) {
	raw, err := json.Marshal(object)
	if err != nil {
		panic(fmt.Sprintf("stripestub: marshal %T: %v", object, err))
	}
	s.events = append(s.events, &Event{ID: newID("evt_"), Type: eventType, Created: s.unixNow(), Object: raw, seq: s.nextSeq()})
}

// Events returns the events recorded so far, oldest first, optionally
// only those of the given types.
func (s *Stub) Events(types ...string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, e := range s.events {
		if len(types) == 0 || slices.Contains(types, e.Type) {
			out = append(out, *e)
		}
	}
	return out
}

// EventFor returns the JSON of a new event of eventType wrapping the
// current state of object id (pi_, ch_, cus_, cs_, re_ or dp_), for a test
// to sign and deliver (testkit.Sign). It is not recorded.
func (s *Stub) EventFor(eventType, id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	object, ok := s.objectByID(id)
	if !ok {
		panic("stripestub: EventFor: no object " + id)
	}
	raw, err := json.Marshal(object)
	if err != nil {
		panic(fmt.Sprintf("stripestub: marshal %s: %v", id, err))
	}
	e := &Event{ID: newID("evt_"), Type: eventType, Created: s.unixNow(), Object: raw}
	return e.Payload()
}

// objectByID finds any kept object; callers hold s.mu.
func (s *Stub) objectByID(id string) (any, bool) {
	switch {
	case strings.HasPrefix(id, "pi_") && s.paymentIntents[id] != nil:
		return s.paymentIntents[id].copy(), true
	case strings.HasPrefix(id, "ch_") && s.charges[id] != nil:
		return s.charges[id].copy(), true
	case strings.HasPrefix(id, "cus_") && s.customers[id] != nil:
		return s.customers[id].copy(), true
	case strings.HasPrefix(id, "cs_") && s.sessions[id] != nil:
		return s.sessions[id].copy(), true
	case strings.HasPrefix(id, "re_") && s.refunds[id] != nil:
		return s.refunds[id].copy(), true
	case strings.HasPrefix(id, "dp_") && s.disputes[id] != nil:
		return s.disputes[id].copy(), true
	}
	return nil, false
}

func (s *Stub) routeEvents() {
	s.route("GET /v1/events", s.handleListEvents)
	s.route("GET /v1/events/{id}", s.handleRetrieveEvent)
}

func (s *Stub) handleListEvents(req *stripeRequest) response {
	types := listParam(req.form, "types")
	if len(types) > maxEventTypes {
		return invalidParams("", "types", fmt.Sprintf("You may pass at most %d event types; %d were given.", maxEventTypes, len(types)))
	}
	single := req.form.Get("type")
	s.mu.Lock()
	defer s.mu.Unlock()
	oldest := s.Now().Add(-eventsKept).Unix()
	var items []*Event
	for _, e := range s.events {
		if e.Created >= oldest && (len(types) == 0 || slices.Contains(types, e.Type)) && typeMatches(single, e.Type) {
			items = append(items, e)
		}
	}
	return listPage(req.form, "/v1/events", items, func(e *Event) any { return e.render() })
}

// typeMatches reads Events' type parameter, where "charge.*" names a family.
func typeMatches(pattern, eventType string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(eventType, prefix)
	}
	return pattern == "" || pattern == eventType
}

func (s *Stub) handleRetrieveEvent(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.ID == req.PathValue("id") {
			return jsonResponse(http.StatusOK, e.render())
		}
	}
	return notFound("event", req.PathValue("id"))
}
