package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/credits/credits/internal/pgtest"
)

// TestMemberCapOverTwoReplicas: 128 debits and holds of one credit by one
// member capped at 100, sent at once to two replicas of one PostgreSQL
// database, take exactly 100.
func TestMemberCapOverTwoReplicas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs two processes")
	}
	url := pgtest.URL(t)
	replicas := startReplicas(t, 2, url)
	c := client{t, replicas[0].base}
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "team", "email": "team@example.com"})
	c.must(201, "POST", "/v1/accounts/team/grants", map[string]any{"amount": 10_000})
	c.must(200, "PUT", "/v1/accounts/team/members/ann", map[string]any{"cap": map[string]any{"credits": 100, "period": "day"}})
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			route := "/v1/accounts/team/debits"
			if i%2 == 1 {
				route = "/v1/accounts/team/holds"
			}
			status, _ := post(httpClient, replicas[i%2].base+route, fmt.Sprint("m-", i), []byte(`{"amount":1,"member_id":"ann"}`), nil)
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[201] != 100 || statuses[402] != 28 {
		t.Errorf("statuses %v, want 100 × 201 and 28 × 402", statuses)
	}
	ann := client{t, replicas[1].base}.must(200, "GET", "/v1/accounts/team/members/ann", nil)
	if ann["spent"].(float64)+ann["held"].(float64) != 100 || ann["remaining"] != 0.0 {
		t.Errorf("ann: %v, want spent + held = 100 and nothing remaining", ann)
	}
	if a := c.must(200, "GET", "/v1/accounts/team", nil); a["available"] != 9_900.0 {
		t.Errorf("available %v, want 9900", a["available"])
	}
}
