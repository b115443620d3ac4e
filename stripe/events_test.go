package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/stripe"
)

func TestEventTypeGroups(t *testing.T) {
	types := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("t.%02d", i))
		}
		return out
	}
	sizes := func(groups [][]string) []int {
		var out []int
		for _, g := range groups {
			out = append(out, len(g))
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		types []string
		want  []int
	}{
		{"none", nil, nil},
		{"one", types(1), []int{1}},
		{"twenty", types(20), []int{20}},
		{"twenty-one", types(21), []int{20, 1}},
		{"forty-five", types(45), []int{20, 20, 5}},
		{"a type twice counts once", append(types(20), "t.03"), []int{20}},
	} {
		groups := stripe.EventTypeGroups(tt.types)
		if got := sizes(groups); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: group sizes %v, want %v", tt.name, got, tt.want)
		}
		var flat, want []string
		for _, g := range groups {
			flat = append(flat, g...)
		}
		for _, eventType := range tt.types {
			if !slices.Contains(want, eventType) {
				want = append(want, eventType)
			}
		}
		if !slices.Equal(flat, want) {
			t.Errorf("%s: %v, want every type once in order", tt.name, flat)
		}
	}
	for _, g := range stripe.EventTypeGroups(credits.HandledEventTypes) {
		if len(g) > stripeMaxEventTypes {
			t.Errorf("a group of %d handled types", len(g))
		}
	}
}

// stripeMaxEventTypes is Stripe's own limit, written here apart from the
// client's constant so that a wrong constant fails the test.
const stripeMaxEventTypes = 20

// eventsStandIn stands before stripe-mock as Stripe's Events list does: it
// refuses more than 20 types[] with Stripe's 400, and answers each list with
// the events of the asked types (stripe-mock's own event, as the template of
// each, is the same whatever is asked).
type eventsStandIn struct {
	mu     sync.Mutex
	asked  [][]string                  // the types[] of each request
	events map[string][]map[string]any // by type, as Stripe lists them: newest first
}

func startEventsStandIn(t *testing.T, events map[string][]map[string]any) (*eventsStandIn, string) {
	target, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &eventsStandIn{events: events}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if s.events == nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		var list map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return err
		}
		resp.Body.Close()
		template := list["data"].([]any)[0].(map[string]any)
		var data []any
		for _, eventType := range resp.Request.URL.Query()["types[]"] {
			for _, ev := range s.events[eventType] {
				copied := map[string]any{}
				for k, v := range template {
					copied[k] = v
				}
				copied["id"], copied["type"], copied["created"] = ev["id"], eventType, ev["created"]
				data = append(data, copied)
			}
		}
		slices.SortStableFunc(data, func(a, b any) int { // Stripe lists newest first
			return int(b.(map[string]any)["created"].(int64) - a.(map[string]any)["created"].(int64))
		})
		list["data"], list["has_more"] = data, false
		body, _ := json.Marshal(list)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		var types []string
		for key, values := range query {
			if key == "types[]" || strings.HasPrefix(key, "types[") {
				types = append(types, values...)
			}
		}
		if r.URL.Path == "/v1/events" && len(types) > stripeMaxEventTypes {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","param":"types","message":"Invalid array: maximum %d items, got %d"}}`,
				stripeMaxEventTypes, len(types))
			return
		}
		s.mu.Lock()
		s.asked = append(s.asked, types)
		s.mu.Unlock()
		// One spelling for the answer rewrite: types[] whatever the index.
		q := url.Values{}
		for key, values := range query {
			if strings.HasPrefix(key, "types[") {
				key = "types[]"
			}
			q[key] = append(q[key], values...)
		}
		r.URL.RawQuery = q.Encode()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// manyTypes is a list of handled types longer than one request takes.
func manyTypes() []string {
	types := append(slices.Clone(credits.HandledEventTypes),
		"payment_intent.canceled", "payment_intent.processing", "payment_intent.requires_action",
		"checkout.session.async_payment_failed", "refund.created", // some are handled already: each is asked once
		"charge.succeeded", "charge.failed", "charge.captured", "charge.updated",
		"customer.updated", "payment_method.attached", "setup_intent.succeeded", "setup_intent.setup_failed",
		"invoice.paid", "invoice.payment_failed", "charge.dispute.updated")
	return types
}

// TestEventsAskInGroupsOfTwenty: with more handled types than Stripe takes
// in one list, each request names at most 20, every type is asked once,
// and an event that more than one list answers is applied once.
func TestEventsAskInGroupsOfTwenty(t *testing.T) {
	standIn, base := startEventsStandIn(t, nil)
	if resp, err := http.Get(base + "/v1/events?" + typesQuery(manyTypes())); err != nil || resp.StatusCode != 400 {
		t.Fatalf("the stand-in takes %d types in one list (%v): it must refuse as Stripe does", len(manyTypes()), err)
	}
	standIn.asked = nil

	types := manyTypes()
	client := stripe.NewClient("sk_test_123", base)
	var events []credits.StripeEvent
	for ev, err := range client.EventsOfTypes(context.Background(), time.Unix(1_700_000_000, 0), types) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	if len(standIn.asked) != 2 {
		t.Fatalf("%d requests, want 2 for %d types", len(standIn.asked), len(types))
	}
	var asked []string
	for i, group := range standIn.asked {
		if len(group) > stripeMaxEventTypes || len(group) == 0 {
			t.Errorf("request %d names %d types", i, len(group))
		}
		asked = append(asked, group...)
	}
	want := slices.Clone(types)
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(asked)
	if !slices.Equal(asked, want) {
		t.Errorf("types asked:\n%v\nwant each once:\n%v", asked, want)
	}
	// stripe-mock answers its one event to each list: applied once.
	if len(events) != 1 || events[0].ID == "" {
		t.Errorf("%d events, want stripe-mock's one event once: %+v", len(events), events)
	}
}

// TestEventsMergedOldestFirst: the events of every group come back in the
// order they happened, whatever group listed them, each once.
func TestEventsMergedOldestFirst(t *testing.T) {
	types := manyTypes()
	first, last := types[0], types[len(types)-1] // in the first group and the second
	event := func(id string, created int64) map[string]any { return map[string]any{"id": id, "created": created} }
	_, base := startEventsStandIn(t, map[string][]map[string]any{
		first: {event("evt_4", 1_700_000_400), event("evt_1", 1_700_000_100)},
		last:  {event("evt_5", 1_700_000_500), event("evt_3", 1_700_000_300), event("evt_2", 1_700_000_200)},
		// Stripe's lists may overlap (an event listed again on a later page, say).
		types[1]: {event("evt_3", 1_700_000_300)},
	})
	client := stripe.NewClient("sk_test_123", base)
	var got []string
	for ev, err := range client.EventsOfTypes(context.Background(), time.Unix(1_700_000_000, 0), types) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID)
	}
	if want := []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func typesQuery(types []string) string {
	q := url.Values{}
	for i, t := range types {
		q.Set(fmt.Sprintf("types[%d]", i), t)
	}
	return q.Encode()
}
