package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

// randomRates prices features f0 and f1, quantities q0 and q1, each with a
// generic rate and sometimes one per model.
func randomRates(rng *rand.Rand) []credits.Rate {
	var rates []credits.Rate
	for _, feature := range []string{"f0", "f1"} {
		for _, q := range []string{"q0", "q1"} {
			for _, model := range []string{"", "a", "b"} {
				if model != "" && rng.Intn(2) == 0 {
					continue
				}
				r := credits.Rate{Feature: feature, Quantity: q, Per: []int64{1, 3, 1000}[rng.Intn(3)],
					Credits: fmt.Sprintf("%d.%06d", rng.Intn(2), rng.Intn(1_000_000))}
				if model != "" {
					r.Match = map[string]string{"model": model}
				}
				rates = append(rates, r)
			}
		}
	}
	return rates
}

// expectedPrice prices a usage by integers alone, independently of
// credits.PriceUsage: each term over 10^6 × the product of the pers,
// summed, then divided once.
func expectedPrice(v credits.RateCardRequest, feature string, quantities map[string]int64, model string) int64 {
	den := big.NewInt(1_000_000)
	var chosen []credits.Rate
	for q := range quantities {
		var best *credits.Rate
		for i, r := range v.Rates {
			if r.Feature == feature && r.Quantity == q && (r.Match == nil || r.Match["model"] == model) && (best == nil || len(r.Match) > len(best.Match)) {
				best = &v.Rates[i]
			}
		}
		chosen = append(chosen, *best)
		den.Mul(den, big.NewInt(best.Per))
	}
	num := new(big.Int)
	for _, q := range sortedKeys(quantities) {
		for _, r := range chosen {
			if r.Quantity != q {
				continue
			}
			micro, _ := strconv.ParseInt(strings.Replace(r.Credits, ".", "", 1), 10, 64) // six places always
			term := new(big.Int).Mul(big.NewInt(quantities[q]), big.NewInt(micro))
			term.Mul(term, new(big.Int).Div(new(big.Int).Div(den, big.NewInt(1_000_000)), big.NewInt(r.Per)))
			num.Add(num, term)
		}
	}
	q, m := new(big.Int).DivMod(num, den, new(big.Int))
	if (v.Rounding == "up" && m.Sign() > 0) || (v.Rounding == "nearest" && new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0) {
		q.Add(q, big.NewInt(1))
	}
	return max(q.Int64(), v.Minimum)
}

func sortedKeys(m map[string]int64) []string {
	var keys []string
	for _, k := range []string{"q0", "q1"} {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

type usageCase struct {
	key        string
	feature    string
	quantities map[string]int64
	model      string
}

func (f *fixture) randomUsage(rng *rand.Rand, key string) usageCase {
	u := usageCase{key: key, feature: []string{"f0", "f1"}[rng.Intn(2)], quantities: map[string]int64{}, model: []string{"a", "b", "c"}[rng.Intn(3)]}
	for _, q := range []string{"q0", "q1"} {
		if rng.Intn(3) > 0 || len(u.quantities) == 0 && q == "q1" {
			u.quantities[q] = rng.Int63n(500)
		}
	}
	return u
}

func (f *fixture) record(u usageCase) (credits.UsageResult, bool, error) {
	req := credits.UsageRequest{Feature: u.feature, Quantities: u.quantities, Properties: map[string]string{"model": u.model}}
	body, _ := json.Marshal(u)
	return f.svc.RecordUsage(context.Background(), "u1", req, &credits.Idempotency{Scope: "p", Key: u.key, RequestHash: fmt.Sprint(u.feature, u.quantities, u.model, string(body))})
}

// testUsageProperty: random rate cards and versions (some taking effect
// later), random usages, replays by key, then concurrent usages on one
// account: every usage costs what an independent computation says, the
// ledger takes exactly their sum, never overdraws, and a replay answers the
// first answer.
func testUsageProperty(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	for _, id := range []string{"f0", "f1"} {
		if _, err := f.svc.CreateFeature(ctx, credits.Feature{ID: id, Name: id, Unit: "unit"}); err != nil {
			t.Fatal(err)
		}
	}
	f.account("u1", "u1@example.com")
	f.grant("u1", 200_000, 0, 0)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	seed := rng.Int63()
	rng = rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	cards := &propertyCards{f: f, rng: rng}
	cards.add(f.now)
	balance := int64(200_000)
	first := map[string]credits.UsageResult{}
	var done []usageCase
	for i := 0; i < 60; i++ {
		switch rng.Intn(6) {
		case 0:
			at := cards.versions[len(cards.versions)-1].at
			if at.Before(f.now) {
				at = f.now
			}
			cards.add(at.Add(time.Duration(rng.Intn(3)) * time.Minute))
		case 1:
			f.now = f.now.Add(time.Minute)
		case 2:
			if len(done) > 0 {
				u := done[rng.Intn(len(done))]
				got, replayed, err := f.record(u)
				if err != nil || !replayed || !sameJSON(got, first[u.key]) {
					t.Fatalf("replay of %s: %+v, %v, %v; want the first answer %+v", u.key, got, replayed, err, first[u.key])
				}
				continue
			}
		}
		u := f.randomUsage(rng, fmt.Sprint("k", i))
		n, req := cards.effective()
		want := expectedPrice(req, u.feature, u.quantities, u.model)
		got, _, err := f.record(u)
		if err != nil || got.Credits != want || got.RateCard.Version != n {
			t.Fatalf("usage %d %+v: %+v, %v; want %d credits at version %d", i, u, got, err, want, n)
		}
		balance -= want
		first[u.key], done = got, append(done, u)
	}
	f.wantAccount("u1", balance, balance)
	f.concurrentUsages(t, rng, cards.effective)
}

// propertyCards adds random versions of the card default and knows which
// is in effect at the fixture's now.
type propertyCards struct {
	f        *fixture
	rng      *rand.Rand
	versions []struct {
		req credits.RateCardRequest
		at  time.Time
	}
}

func (c *propertyCards) add(at time.Time) {
	c.f.t.Helper()
	req := credits.RateCardRequest{ID: "default", Name: "Default", Rates: randomRates(c.rng), Rounding: []string{"up", "down", "nearest"}[c.rng.Intn(3)],
		Minimum: int64(c.rng.Intn(3)), EffectiveAt: &at}
	var err error
	if len(c.versions) == 0 {
		_, err = c.f.svc.CreateRateCard(context.Background(), req)
	} else {
		_, err = c.f.svc.AddRateCardVersion(context.Background(), "default", req)
	}
	if err != nil {
		c.f.t.Fatal(err)
	}
	c.versions = append(c.versions, struct {
		req credits.RateCardRequest
		at  time.Time
	}{req, at})
}

func (c *propertyCards) effective() (int64, credits.RateCardRequest) {
	n := 0
	for i, v := range c.versions {
		if !v.at.After(c.f.now) {
			n = i
		}
	}
	return int64(n + 1), c.versions[n].req
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// concurrentUsages runs usages on one account from 8 goroutines, each sent
// twice under its key, until the credits run out: the ledger takes exactly
// the prices of those that succeeded, and never overdraws.
func (f *fixture) concurrentUsages(t *testing.T, rng *rand.Rand, effective func() (int64, credits.RateCardRequest)) {
	_, req := effective()
	cases := make([]usageCase, 80)
	var total int64
	for i := range cases {
		cases[i] = f.randomUsage(rng, fmt.Sprint("c", i))
		total += expectedPrice(req, cases[i].feature, cases[i].quantities, cases[i].model)
	}
	// Leave credits for about half of them.
	if _, err := f.debit("u1", f.accountNow("u1").Balance-total/2); err != nil {
		t.Fatal(err)
	}
	start := f.accountNow("u1").Balance
	var mu sync.Mutex
	answers := map[string]credits.UsageResult{}
	var spent, refused int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(cases); i += 8 {
				for range 2 {
					got, _, err := f.record(cases[i])
					mu.Lock()
					if prev, ok := answers[cases[i].key]; ok && (err != nil || !sameJSON(prev, got)) {
						t.Errorf("replay of %s: %+v, %v; want %+v", cases[i].key, got, err, prev)
					} else if !ok && err == nil {
						answers[cases[i].key] = got
						spent += got.Credits
						if want := expectedPrice(req, cases[i].feature, cases[i].quantities, cases[i].model); got.Credits != want {
							t.Errorf("usage %s: %d credits, want %d", cases[i].key, got.Credits, want)
						}
					} else if !ok && credits.ErrorCode(err) != credits.EINSUFFICIENT {
						t.Errorf("usage %s: %v", cases[i].key, err)
					} else if !ok {
						refused++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if total > 0 && refused == 0 {
		t.Errorf("no usage was refused with credits for half of them: the phase tested no overdraft")
	}
	a := f.accountNow("u1")
	if a.Balance != start-spent || a.Balance < 0 || a.Available < 0 {
		t.Errorf("after concurrent usages: balance %d available %d; want %d (started %d, spent %d) and never below 0", a.Balance, a.Available, start-spent, start, spent)
	}
}
