package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
)

// stripeEvent is the JSON of an event of any type, created at a given time.
func stripeEvent(id, eventType string, created int64, object map[string]any) []byte {
	body, err := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2026-03-25.dahlia",
		"created": created, "livemode": false, "type": eventType, "data": map[string]any{"object": object}})
	if err != nil {
		panic(err)
	}
	return body
}

// timeline is one payment's history as Stripe would tell it, and the credits
// its final facts owe.
type timeline struct {
	sessionID, paymentIntent string
	quantity                 int64
	events                   [][]byte // in the order they happened
	owed                     int64
}

// Lifecycles that a refund can go through, and that a dispute can.
var (
	refundPaths = [][]string{
		{"succeeded"}, {"pending", "succeeded"}, {"pending", "failed"}, {"pending", "canceled"}, {"succeeded", "failed"},
	}
	disputePaths = [][]string{
		{"warning_needs_response", "warning_under_review", "warning_closed"},
		{"needs_response", "under_review", "won"},
		{"needs_response", "under_review", "lost"},
		{"needs_response", "lost"},
	}
)

// randomTimeline makes a purchase of 1–5 packs (100 credits for $5.00 each),
// 0–3 refunds that end succeeded, failed or canceled, some through pending,
// and 0–2 disputes that end won, lost or as inquiries, with the charge
// snapshots Stripe sends along. It computes what the final facts owe from the
// policy alone: refunds that end pending or succeeded and disputes that end
// lost take their share, capped at the charge.
func randomTimeline(rng *rand.Rand, n int, prefix string) timeline {
	q := 1 + rng.Int64N(5)
	bought, charge := 100*q, 500*q
	tl := timeline{sessionID: fmt.Sprintf("cs_%s%d", prefix, n), paymentIntent: fmt.Sprintf("pi_%s%d", prefix, n), quantity: q}
	chargeID := fmt.Sprintf("ch_%s%d", prefix, n)
	created := int64(1_800_000_000)
	seq := 0
	emit := func(eventType string, object map[string]any) {
		seq++
		created++
		tl.events = append(tl.events, stripeEvent(fmt.Sprintf("evt_%s%d_%d", prefix, n, seq), eventType, created, object))
	}
	emit(credits.EventCheckoutCompleted, map[string]any{"id": tl.sessionID, "object": "checkout.session", "mode": "payment",
		"status": "complete", "payment_status": "paid", "amount_total": charge, "amount_subtotal": charge, "currency": "usd",
		"payment_intent": tl.paymentIntent})
	type refund struct {
		id     string
		amount int64
		status string
	}
	var refunds []*refund
	refundedNow := func() int64 {
		var sum int64
		for _, r := range refunds {
			if r.status == "pending" || r.status == "succeeded" {
				sum += r.amount
			}
		}
		return sum
	}
	snapshot := func() {
		emit(credits.EventChargeRefunded, map[string]any{"id": chargeID, "object": "charge", "amount": charge,
			"amount_refunded": refundedNow(), "currency": "usd", "payment_intent": tl.paymentIntent})
	}
	for j := range rng.IntN(4) {
		left := charge - refundedNow()
		if left <= 0 {
			break
		}
		r := &refund{id: fmt.Sprintf("re_%s%d_%d", prefix, n, j), amount: 1 + rng.Int64N(left)}
		refunds = append(refunds, r)
		for k, status := range refundPaths[rng.IntN(len(refundPaths))] {
			r.status = status
			object := map[string]any{"id": r.id, "object": "refund", "amount": r.amount, "currency": "usd",
				"status": status, "charge": chargeID, "payment_intent": tl.paymentIntent}
			switch {
			case k == 0:
				emit(credits.EventRefundCreated, object)
			case status == "failed":
				emit(credits.EventRefundFailed, object)
			default:
				emit(credits.EventRefundUpdated, object)
			}
			if rng.IntN(2) == 0 {
				emit(credits.EventChargeRefundUpdated, object)
			}
			snapshot()
		}
	}
	var withdrawn int64
	for j := range rng.IntN(3) {
		id := fmt.Sprintf("dp_%s%d_%d", prefix, n, j)
		amount := charge
		if rng.IntN(3) == 0 {
			amount = 1 + rng.Int64N(charge)
		}
		path := disputePaths[rng.IntN(len(disputePaths))]
		for k, status := range path {
			object := map[string]any{"id": id, "object": "dispute", "amount": amount, "currency": "usd", "status": status,
				"charge": chargeID, "payment_intent": tl.paymentIntent}
			switch {
			case k == 0:
				emit(credits.EventDisputeCreated, object)
				if status == "needs_response" {
					emit(credits.EventDisputeFundsWithdrawn, object)
				}
			case k == len(path)-1:
				if status == "won" {
					emit(credits.EventDisputeFundsReinstated, object)
				}
				emit(credits.EventDisputeClosed, object)
			default:
				emit(credits.EventDisputeUpdated, object)
			}
		}
		if path[len(path)-1] == "lost" {
			withdrawn += amount
		}
	}
	taken := min(refundedNow()+withdrawn, charge)
	tl.owed = bought - bought*taken/charge
	return tl
}

// shuffled returns the events in a random order, with random duplicates.
func shuffled(rng *rand.Rand, events [][]byte) [][]byte {
	out := append([][]byte(nil), events...)
	for range rng.IntN(4) {
		out = append(out, events[rng.IntN(len(events))])
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// testPaymentsInAnyOrder delivers random payments' events in random orders,
// with duplicates: each ends at what its final facts owe, whatever the order,
// and a second order of the same events ends at the same balance. The seed
// is printed; CREDITS_TEST_SEED replays one.
func testPaymentsInAnyOrder(t *testing.T, open Opener) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CREDITS_TEST_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (set CREDITS_TEST_SEED=%d to replay it)", seed, seed)
		}
	})
	const payments = 200
	inParts(t, payments, 4, func(t *testing.T, part, first, end int) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15+uint64(part)))
		f := newFixture(t, open)
		f.pack("starter", 100, "")
		for i := first; i < end; i++ {
			orders := 1
			if i%10 == 0 {
				orders = 2 // the same events in another order, under other ids
			}
			var balances []int64
			var tl timeline
			for order := range orders {
				rngTimeline := rand.New(rand.NewPCG(seed, uint64(i)))
				tl = randomTimeline(rngTimeline, i, fmt.Sprintf("o%d_", order))
				account := fmt.Sprintf("p%03d_%d", i, order)
				f.account(account, account+"@example.com")
				f.session(tl.sessionID, account, "starter", tl.quantity)
				for _, payload := range shuffled(rng, tl.events) {
					if ev := f.receive(payload); ev.Status != credits.EventProcessed {
						t.Fatalf("payment %d: event %s %s: %s (%s)", i, ev.ID, ev.Type, ev.Status, ev.Error)
					}
				}
				balance, _ := f.balance(account)
				balances = append(balances, balance)
			}
			for order, balance := range balances {
				if balance != tl.owed {
					t.Fatalf("payment %d, order %d: balance %d, but its final facts owe %d", i, order, balance, tl.owed)
				}
			}
		}
	})
}

// inParts runs check over the cases 0 to n-1 in parts subtests side by side,
// each on cases first to end-1 and with a store of its own: a long
// sequential test, cut so that its parts run as the other tests do, as the
// server is free.
func inParts(t *testing.T, n, parts int, check func(t *testing.T, part, first, end int)) {
	t.Helper()
	for part := range parts {
		first, end := n*part/parts, n*(part+1)/parts
		t.Run(fmt.Sprintf("%d-%d", first, end-1), func(t *testing.T) {
			t.Parallel()
			check(t, part, first, end)
		})
	}
}

// testNamedPaymentCases are the cases found by trying the service, each on
// its own: refunds and disputes in any order, in another currency, capped,
// inquiries.
func testNamedPaymentCases(t *testing.T, open Opener) {
	charge := func(id, pi string, amount, refunded int64, currency string, created int64) []byte {
		return stripeEvent(id, credits.EventChargeRefunded, created, map[string]any{"id": "ch_1", "object": "charge",
			"amount": amount, "amount_refunded": refunded, "currency": currency, "payment_intent": pi})
	}
	refund := func(id, eventType, status string, amount int64, currency string) []byte {
		return stripeEvent(id, eventType, 1_800_000_100, map[string]any{"id": "re_1", "object": "refund", "amount": amount,
			"currency": currency, "status": status, "charge": "ch_1", "payment_intent": "pi_1"})
	}
	dispute := func(id, eventType, status string, amount int64) []byte {
		return stripeEvent(id, eventType, 1_800_000_200, map[string]any{"id": "dp_1", "object": "dispute", "amount": amount,
			"currency": "usd", "status": status, "charge": "ch_1", "payment_intent": "pi_1"})
	}
	tests := []struct {
		name   string
		before [][]byte // delivered before the purchase
		after  [][]byte // after it
		want   int64    // balance, of 200 credits bought for $10.00
	}{
		{"full refund before the purchase", [][]byte{charge("evt_c", "pi_1", 1000, 1000, "usd", 1_800_000_001)}, nil, 0},
		{"refund created, then failed", nil, [][]byte{refund("evt_1", credits.EventRefundCreated, "pending", 500, "usd"),
			refund("evt_2", credits.EventRefundFailed, "failed", 500, "usd")}, 200},
		{"refund failed, then its creation arrives late", nil, [][]byte{refund("evt_2", credits.EventRefundFailed, "failed", 500, "usd"),
			refund("evt_1", credits.EventRefundCreated, "pending", 500, "usd")}, 200},
		{"refund canceled", nil, [][]byte{refund("evt_1", credits.EventRefundCreated, "pending", 1000, "usd"),
			refund("evt_2", credits.EventChargeRefundUpdated, "canceled", 1000, "usd")}, 200},
		{"half refund of a charge presented in JPY", nil, [][]byte{charge("evt_c", "pi_1", 150000, 75000, "jpy", 1_800_000_001),
			refund("evt_1", credits.EventRefundCreated, "succeeded", 75000, "jpy")}, 100},
		{"46,000 JPY refund of a 150,000 JPY charge", nil, [][]byte{refund("evt_1", credits.EventRefundCreated, "succeeded", 46000, "jpy"),
			charge("evt_c", "pi_1", 150000, 46000, "jpy", 1_800_000_001)}, 139},
		{"half refund and a lost dispute are capped at the charge", nil, [][]byte{charge("evt_c", "pi_1", 1000, 500, "usd", 1_800_000_001),
			dispute("evt_d1", credits.EventDisputeCreated, "needs_response", 1000), dispute("evt_d2", credits.EventDisputeClosed, "lost", 1000)}, 0},
		{"an inquiry moves no money", nil, [][]byte{dispute("evt_d1", credits.EventDisputeCreated, "warning_needs_response", 1000),
			dispute("evt_d2", credits.EventDisputeClosed, "warning_closed", 1000)}, 200},
		{"a dispute won before it was seen to open", nil, [][]byte{dispute("evt_d2", credits.EventDisputeClosed, "won", 1000),
			dispute("evt_d1", credits.EventDisputeCreated, "needs_response", 1000)}, 200},
		{"funds withdrawn, then reinstated", nil, [][]byte{dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "needs_response", 1000),
			dispute("evt_d2", credits.EventDisputeFundsReinstated, "under_review", 1000)}, 200},
		{"an older charge snapshot changes nothing", nil, [][]byte{charge("evt_c2", "pi_1", 1000, 0, "usd", 1_800_000_002),
			charge("evt_c1", "pi_1", 1000, 500, "usd", 1_800_000_001)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("u1", "u1@example.com")
			for _, payload := range tt.before {
				if ev := f.receive(payload); ev.Status != credits.EventProcessed {
					t.Fatalf("before the purchase: %+v", ev)
				}
			}
			f.buy("cs_1", "u1", "pi_1", 2)
			for _, payload := range tt.after {
				if ev := f.receive(payload); ev.Status != credits.EventProcessed {
					t.Fatalf("after the purchase: %s %s (%s)", ev.ID, ev.Status, ev.Error)
				}
			}
			if balance, _ := f.balance("u1"); balance != tt.want {
				t.Errorf("balance %d, want %d", balance, tt.want)
			}
		})
	}
}

// testSoldVersusPaid: what was paid is compared with what was sold before
// anything is credited; a mismatch waits, unmatched, for an operator to
// accept it; a discount is allowed and recorded.
func testSoldVersusPaid(t *testing.T, open Opener) {
	session := func(id string, subtotal, total, discount int64, currency string) []byte {
		object := map[string]any{"id": id, "object": "checkout.session", "mode": "payment", "status": "complete",
			"payment_status": "paid", "amount_subtotal": subtotal, "amount_total": total, "currency": currency,
			"payment_intent": "pi_" + id, "total_details": map[string]any{"amount_discount": discount}}
		return stripeEvent("evt_"+id, credits.EventCheckoutCompleted, 1_800_000_000, object)
	}
	f := newFixture(t, open)
	f.pack("starter", 100, "") // $5.00 each
	f.account("u1", "u1@example.com")

	f.session("cs_jpy", "u1", "starter", 2)
	ev := f.receive(session("cs_jpy", 1, 1, 0, "jpy"))
	if ev.Status != credits.EventUnmatched || ev.Error != "amount mismatch: paid 1 JPY, sold $10.00" {
		t.Fatalf("1 JPY for $10.00: %s %q, want unmatched with the amounts", ev.Status, ev.Error)
	}
	if balance, _ := f.balance("u1"); balance != 0 {
		t.Fatalf("balance %d after a mismatch, want 0", balance)
	}
	accepted, err := f.svc.AcceptEvent(context.Background(), "evt_cs_jpy")
	if err != nil || accepted.Status != credits.EventProcessed || !strings.Contains(accepted.Error, "accepted by an operator") {
		t.Fatalf("accept: %+v (%v)", accepted, err)
	}
	if balance, _ := f.balance("u1"); balance != 200 {
		t.Errorf("balance %d after the operator accepted, want 200 (credited as sold)", balance)
	}
	if _, err := f.svc.AcceptEvent(context.Background(), "evt_cs_jpy"); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("accepting twice: %v, want a conflict", err)
	}
	if redelivered := f.receive(session("cs_jpy", 1, 1, 0, "jpy")); redelivered.Status != credits.EventProcessed {
		t.Errorf("redelivery after the acceptance: %+v", redelivered)
	}

	f.session("cs_short", "u1", "starter", 2)
	if ev := f.receive(session("cs_short", 500, 500, 0, "usd")); ev.Status != credits.EventUnmatched ||
		ev.Error != "amount mismatch: paid $5.00, sold $10.00" {
		t.Errorf("$5.00 for $10.00: %s %q", ev.Status, ev.Error)
	}

	f.session("cs_discount", "u1", "starter", 2)
	if ev := f.receive(session("cs_discount", 1000, 700, 300, "usd")); ev.Status != credits.EventProcessed || ev.Error != "" {
		t.Fatalf("a discounted session: %s %q, want it credited", ev.Status, ev.Error)
	}
	if balance, _ := f.balance("u1"); balance != 400 {
		t.Errorf("balance %d after a discounted purchase, want 400", balance)
	}
	var p credits.Payment
	if err := f.db.View(context.Background(), func(tx credits.Tx) (err error) { p, err = tx.PaymentBySession("cs_discount"); return err }); err != nil {
		t.Fatal(err)
	}
	if p.Discount != 300 || p.PaidAmount != 700 || p.SoldAmount != 1000 || p.Credits != 200 {
		t.Errorf("payment %+v, want the discount of 300 recorded", p)
	}
	// Under Adaptive Pricing the customer pays in yen; the session's amounts
	// in the currency it was sold in are what is compared.
	f.session("cs_adaptive", "u1", "starter", 1)
	adaptive := stripeEvent("evt_adaptive", credits.EventCheckoutCompleted, 1_800_000_000, map[string]any{"id": "cs_adaptive",
		"object": "checkout.session", "mode": "payment", "status": "complete", "payment_status": "paid",
		"amount_subtotal": 780, "amount_total": 780, "currency": "jpy", "payment_intent": "pi_cs_adaptive",
		"currency_conversion": map[string]any{"amount_subtotal": 500, "amount_total": 500, "source_currency": "usd", "fx_rate": "1.56"}})
	if ev := f.receive(adaptive); ev.Status != credits.EventProcessed || ev.Error != "" {
		t.Fatalf("a session paid in yen for $5.00: %s %q, want it credited", ev.Status, ev.Error)
	}
	if balance, _ := f.balance("u1"); balance != 500 {
		t.Fatalf("balance %d after the yen purchase, want 500", balance)
	}
	// A later full refund of the $7.00 paid takes all 200 credits back.
	f.receive(stripeEvent("evt_refund", credits.EventRefundCreated, 1_800_000_001, map[string]any{"id": "re_1", "object": "refund",
		"amount": 700, "currency": "usd", "status": "succeeded", "payment_intent": "pi_cs_discount"}))
	if balance, _ := f.balance("u1"); balance != 300 {
		t.Errorf("balance %d after refunding the discounted purchase, want 300", balance)
	}
}

// testNewPaymentAsStored: the payment LockPayment makes is the row as the
// store keeps it (it is not read back), and a second lock reads that row.
func testNewPaymentAsStored(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	now := fixtureNow.Add(1234567 * time.Nanosecond) // below the stores' microseconds
	var made, locked, read credits.Payment
	var fresh, freshAgain bool
	if err := f.db.Update(ctx, func(tx credits.Tx) error {
		var err error
		made, fresh, err = tx.LockPayment("pi_stored", now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx credits.Tx) error {
		var err error
		if locked, freshAgain, err = tx.LockPayment("pi_stored", now.Add(time.Hour)); err != nil {
			return err
		}
		read, err = tx.Payment("pi_stored")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !fresh || freshAgain {
		t.Errorf("fresh: got %v then %v, want true then false", fresh, freshAgain)
	}
	if made != read || locked != read {
		t.Errorf("payment:\n made   %+v\n locked %+v\n stored %+v", made, locked, read)
	}
	if got, want := read.CreatedAt, now.Truncate(time.Microsecond); !got.Equal(want) || !read.UpdatedAt.Equal(want) {
		t.Errorf("created at %v, updated at %v, want %v", got, read.UpdatedAt, want)
	}
}
