package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/testkit"
)

// edgeStrings are the strings that differed between the stores: NUL, other
// control characters, invalid UTF-8, and unicode that must pass unharmed.
var edgeStrings = []string{
	"", "a", "\x00", "a\x00b", "\x1b[31m", "\xff", "\xc3\x28", "\xed\xa0\x80", "\u0085", "\u200f", "\ufeff",
	"é", "日本", "🙂", "\U0010FFFF", "\t", "line\nbreak", strings.Repeat("x", 600), "user-1", "%", "_", `\`, "'", `"`,
}

// TestStoresAnswerAlike sends the same random inputs, edge strings among
// them, to the SQLite and the PostgreSQL store: each call must answer the
// same error code, and leave the same result.
func TestStoresAnswerAlike(t *testing.T) {
	pg := pgtest.Open(t)
	lite, _ := testkit.OpenSQLite(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	})
	services := []*credits.Service{credits.NewService(lite), credits.NewService(pg)}
	ctx := context.Background()
	for _, svc := range services {
		if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 1_000_000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pick := func() string {
		if rng.IntN(3) == 0 {
			return edgeStrings[rng.IntN(len(edgeStrings))] + edgeStrings[rng.IntN(len(edgeStrings))]
		}
		return edgeStrings[rng.IntN(len(edgeStrings))]
	}
	operations := []func(svc *credits.Service, a, b string) (string, error){
		func(svc *credits.Service, a, b string) (string, error) {
			acc, err := svc.GetAccount(ctx, a)
			return fmt.Sprint(acc.ID, acc.Balance), err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			acc, err := svc.CreateAccount(ctx, a, b+"@example.com")
			return acc.ID + acc.Email, err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			r, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 1, Description: a, Metadata: credits.Metadata{"k": b}}, nil)
			return fmt.Sprint(r.Balance, r.Description), err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			r, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 1, Reason: a}, nil)
			return fmt.Sprint(r.Balance, r.Reason), err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			p, err := svc.CreatePack(ctx, credits.Pack{ID: "p" + fmt.Sprint(len(a)), Name: a, Credits: 1, UnitAmount: 1, Currency: "usd"})
			return p.Name, err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			found, err := svc.SearchAccounts(ctx, a, 10)
			return fmt.Sprint(len(found)), err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			h, err := svc.GetHold(ctx, a)
			return h.ID, err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			ev, err := svc.GetEvent(ctx, a)
			return ev.ID, err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			page, err := svc.ListAccounts(ctx, a, 5)
			return fmt.Sprint(len(page.Data)), err
		},
		func(svc *credits.Service, a, b string) (string, error) {
			payload := testkit.Event("evt_"+fmt.Sprint(rng.Uint32()), credits.EventCheckoutCompleted, false,
				testkit.Session{ID: "cs_x", PaymentStatus: "paid", ClientReferenceID: a, CustomerEmail: b + "@example.com", Metadata: map[string]string{a: b}})
			ev, err := svc.HandleEvent(ctx, testkit.MustEvent(t, payload))
			return ev.Status, err
		},
	}
	for i := range 400 {
		op, a, b := rng.IntN(len(operations)), pick(), pick()
		var results [2]string
		var codes [2]string
		for j, svc := range services {
			out, err := operations[op](svc, a, b)
			results[j], codes[j] = out, ""
			if err != nil {
				codes[j] = credits.ErrorCode(err)
			}
			if codes[j] == credits.EINTERNAL {
				t.Fatalf("call %d (op %d, %q, %q) on store %d: internal error %v", i, op, a, b, j, err)
			}
		}
		if codes[0] != codes[1] || (op != 9 && results[0] != results[1]) {
			t.Fatalf("call %d (op %d, %q, %q): SQLite %q %q, PostgreSQL %q %q", i, op, a, b, codes[0], results[0], codes[1], results[1])
		}
	}
	for _, svc := range services {
		if v, err := svc.Verify(ctx); err != nil || len(v) > 0 {
			t.Errorf("verify: %+v (%v)", v, err)
		}
	}
}
