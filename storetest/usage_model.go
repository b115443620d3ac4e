package storetest

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/credits/credits"
)

// code is an error's code, "" for none.
func code(err error) string {
	if err == nil {
		return ""
	}
	return credits.ErrorCode(err)
}

// modelHold is a hold as the model knows it: its amount, whether it was
// made as the member, and when it expires.
type modelHold struct {
	amount  int64
	member  bool
	expires time.Time
}

// testUsageAttackModel runs random reservations (as the member m, capped at
// 120 over all time, or as no member), usages (plain, as m or not, or from a
// random hold: open, closed or expired), releases, the clock moving past
// holds' expiries, grants, and new versions of the card (two at one
// instant, the later pricing an image at 0 to 4 credits) against a model of the
// account's balance and held credits and m's spent and held: every answer
// (price, or the refusal and its code) and every state after it is the
// model's.
func testUsageAttackModel(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 60, 0, 0)
	f.member("u1", "m", &credits.MemberCap{Credits: 120, Period: credits.PeriodTotal})
	ctx := context.Background()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	balance, held, mSpent, mHeld := int64(60), int64(0), int64(0), int64(0)
	rate := int64(3)
	holds := map[string]*modelHold{}
	var ids []string
	expire := func() {
		for _, id := range ids {
			h := holds[id]
			if h != nil && !f.now.Before(h.expires) {
				held -= h.amount
				if h.member {
					mHeld -= h.amount
				}
				delete(holds, id)
			}
		}
	}
	for i := 0; i < 400; i++ {
		key := fmt.Sprint("k", i)
		member := ""
		if rng.Intn(2) == 0 {
			member = "m"
		}
		n := int64(rng.Intn(10))
		p := n * rate
		expire()
		avail := balance - held
		switch op := rng.Intn(8); op {
		case 0, 1: // reserve
			secs := int64(30 + rng.Intn(200))
			req := credits.UsageRequest{Feature: "image", Quantity: &n, MemberID: member, Reserve: true, ExpiresInSeconds: secs}
			r, _, err := f.svc.Check(ctx, "u1", req, &credits.Idempotency{Scope: "c", Key: key, RequestHash: key})
			want := ""
			switch {
			case p > avail:
				want = credits.EINSUFFICIENT
			case member != "" && p > 120-mSpent-mHeld:
				want = credits.EMEMBERCAP
			}
			if code(err) != want || (err == nil && r.Credits != p) {
				t.Fatalf("op %d reserve %d as %q: %+v %v; want %q (avail %d)", i, p, member, r, err, want, avail)
			}
			if err == nil && p > 0 {
				holds[r.HoldID] = &modelHold{p, member != "", f.now.Add(time.Duration(secs) * time.Second)}
				ids = append(ids, r.HoldID)
				held += p
				if member != "" {
					mHeld += p
				}
			}
		case 2, 3: // usage, from a hold half the time
			holdID := ""
			var h *modelHold
			if len(ids) > 0 && rng.Intn(3) > 0 {
				holdID = ids[rng.Intn(len(ids))]
				var live []string
				for _, id := range ids {
					if holds[id] != nil {
						live = append(live, id)
					}
				}
				if len(live) > 0 && rng.Intn(4) > 0 { // mostly an open hold
					holdID = live[rng.Intn(len(live))]
				}
				n += int64(rng.Intn(4)) // often beyond the hold
				p = n * rate
				h = holds[holdID]
				member = ""
			}
			req := credits.UsageRequest{Feature: "image", Quantity: &n, MemberID: member, HoldID: holdID}
			r, _, err := f.svc.RecordUsage(ctx, "u1", req, &credits.Idempotency{Scope: "u", Key: key, RequestHash: key})
			want := ""
			extra, asMember := p, member != ""
			if holdID != "" {
				if h == nil {
					want = credits.ECONFLICT
				} else {
					extra, asMember = max(p-h.amount, 0), h.member
				}
			}
			switch {
			case want != "":
			case extra > 0 && extra > avail:
				want = credits.EINSUFFICIENT
			case asMember && extra > 120-mSpent-mHeld:
				want = credits.EMEMBERCAP
			}
			if code(err) != want || (err == nil && r.Credits != p) {
				t.Fatalf("op %d usage %d from %q (%+v) as %q: %+v %v; want %q (avail %d, member %d+%d)", i, p, holdID, h, member, r, err, want, avail, mSpent, mHeld)
			}
			if err == nil {
				balance -= p
				if asMember {
					mSpent += p
				}
				if h != nil {
					held -= h.amount
					if h.member {
						mHeld -= h.amount
					}
					delete(holds, holdID)
				}
			}
		case 4: // release
			if len(ids) == 0 {
				continue
			}
			id := ids[rng.Intn(len(ids))]
			_, err := f.svc.ReleaseHold(ctx, id)
			if h := holds[id]; h != nil {
				if err != nil {
					t.Fatalf("op %d release %s: %v", i, id, err)
				}
				held -= h.amount
				if h.member {
					mHeld -= h.amount
				}
				delete(holds, id)
			}
		case 5:
			f.now = f.now.Add(time.Duration(rng.Intn(90)) * time.Second)
		case 7:
			f.grant("u1", 12, 0, 0)
			balance += 12
		case 6: // a version without images, and at the same instant the one in effect
			rate = int64(rng.Intn(5))
			if _, err := f.svc.AddRateCardVersion(ctx, "default", credits.RateCardRequest{Rates: llmRates("2.5", "10")[:4:4]}); err != nil {
				t.Fatal(err)
			}
			rates := append(llmRates("2.5", "10")[:4:4], credits.Rate{Feature: "image", Credits: fmt.Sprint(rate)})
			if _, err := f.svc.AddRateCardVersion(ctx, "default", credits.RateCardRequest{Rates: rates}); err != nil {
				t.Fatal(err)
			}
		}
		expire()
		a := f.accountNow("u1")
		if a.Balance != balance || a.Held != held {
			t.Fatalf("after op %d: balance %d held %d; model %d %d", i, a.Balance, a.Held, balance, held)
		}
		v, err := f.svc.GetMember(ctx, "u1", "m")
		if err != nil || v.Spent != mSpent || v.Held != mHeld {
			t.Fatalf("after op %d: member %d+%d (%v); model %d+%d", i, v.Spent, v.Held, err, mSpent, mHeld)
		}
	}
}
