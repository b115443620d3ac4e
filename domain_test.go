package credits

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestOwed(t *testing.T) {
	bought := Payment{Credits: 200, PaidAmount: 1000, Currency: "usd", ChargeAmount: 1000, ChargeCurrency: "usd"}
	refund := func(id string, amount int64, status string) PaymentRefund {
		return PaymentRefund{ID: id, Amount: amount, Currency: "usd", Status: status}
	}
	dispute := func(amount int64, status string) PaymentDispute {
		return PaymentDispute{ID: "dp", Amount: amount, Currency: "usd", Status: status}
	}
	with := func(p Payment, change func(*Payment)) Payment { change(&p); return p }
	tests := []struct {
		name     string
		payment  Payment
		refunds  []PaymentRefund
		disputes []PaymentDispute
		want     int64
	}{
		{"nothing happened", bought, nil, nil, 200},
		{"no purchase yet", Payment{ChargeAmount: 1000, ChargeCurrency: "usd"}, []PaymentRefund{refund("re_1", 1000, "succeeded")}, nil, 0},
		{"half refunded", bought, []PaymentRefund{refund("re_1", 500, "succeeded")}, nil, 100},
		{"a pending refund counts", bought, []PaymentRefund{refund("re_1", 500, "pending")}, nil, 100},
		{"failed and canceled refunds do not", bought, []PaymentRefund{refund("re_1", 500, "failed"), refund("re_2", 300, "canceled")}, nil, 200},
		{"rounded in the account's favour", Payment{Credits: 100, ChargeAmount: 300, ChargeCurrency: "usd"}, []PaymentRefund{{Amount: 100, Currency: "usd", Status: "succeeded"}}, nil, 67},
		{"the charge snapshot counts refunds not seen one by one", with(bought, func(p *Payment) { p.ChargeRefunded = 700 }), []PaymentRefund{refund("re_1", 200, "succeeded")}, nil, 60},
		{"a snapshot below the refunds seen adds nothing", with(bought, func(p *Payment) { p.ChargeRefunded = 100 }), []PaymentRefund{refund("re_1", 200, "failed")}, nil, 200},
		{"an open dispute holds the money", bought, nil, []PaymentDispute{dispute(1000, "needs_response")}, 0},
		{"an inquiry holds nothing", bought, nil, []PaymentDispute{dispute(1000, "warning_needs_response")}, 200},
		{"an inquiry whose funds were withdrawn holds them", bought, nil,
			[]PaymentDispute{{Amount: 1000, Currency: "usd", Status: "warning_under_review", Withdrawn: true}}, 0},
		{"reinstated funds are given back", bought, nil,
			[]PaymentDispute{{Amount: 1000, Currency: "usd", Status: "warning_closed", Withdrawn: true, Reinstated: true}}, 200},
		{"a won dispute gives it back", bought, nil, []PaymentDispute{dispute(1000, "won")}, 200},
		{"a won dispute gives it back, its reinstatement not seen", bought, nil,
			[]PaymentDispute{{Amount: 1000, Currency: "usd", Status: "won", Withdrawn: true}}, 200},
		{"a lost dispute keeps it", bought, nil, []PaymentDispute{dispute(400, "lost")}, 120},
		{"refund and lost dispute capped at the charge", bought, []PaymentRefund{refund("re_1", 500, "succeeded")}, []PaymentDispute{dispute(1000, "lost")}, 0},
		{"charge in another currency than the purchase", Payment{Credits: 200, PaidAmount: 500, Currency: "usd", ChargeAmount: 75000, ChargeCurrency: "jpy"},
			[]PaymentRefund{{Amount: 37500, Currency: "jpy", Status: "succeeded"}}, nil, 100},
		{"a refund in another currency waits for the charge", Payment{Credits: 200, PaidAmount: 500, Currency: "usd"},
			[]PaymentRefund{{Amount: 46000, Currency: "jpy", Status: "succeeded"}}, nil, 200},
		{"the session's total stands in for an unknown charge", Payment{Credits: 200, PaidAmount: 500, Currency: "usd"},
			[]PaymentRefund{refund("re_1", 250, "succeeded")}, nil, 100},
		{"free", Payment{Credits: 50}, []PaymentRefund{refund("re_1", 1, "succeeded")}, nil, 50},
		{"no overflow", Payment{Credits: math.MaxInt64 / 2, ChargeAmount: math.MaxInt64 - 1, ChargeCurrency: "usd"},
			[]PaymentRefund{{Amount: math.MaxInt64 / 2, Currency: "usd", Status: "succeeded"}, {Amount: math.MaxInt64 / 2, Currency: "usd", Status: "pending"}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Owed(tt.payment, tt.refunds, tt.disputes); got != tt.want {
				t.Errorf("Owed = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestToPost(t *testing.T) {
	tests := []struct {
		name                  string
		owed, expired, posted int64
		want                  int64
	}{
		{"nothing changed", 100, 0, 100, 100},
		{"a full refund takes all back", 0, 0, 100, 0},
		{"a full refund after the lot expired takes nothing", 0, 100, 100, 100},
		{"70 expired, 30 spent: a full refund takes the 30", 0, 70, 100, 70},
		{"a half refund takes no more than did not expire", 50, 70, 100, 70},
		{"a take-back before the expiry stays", 50, 50, 50, 50},
		{"a give-back brings it up to what is owed", 100, 100, 0, 100},
		{"a give-back after a take-back bounded by expiry", 100, 70, 70, 100},
		{"more than expired, already taken, stays", 0, 60, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toPost(tt.owed, tt.expired, tt.posted); got != tt.want {
				t.Errorf("toPost(%d, %d, %d) = %d, want %d", tt.owed, tt.expired, tt.posted, got, tt.want)
			}
		})
	}
}

func TestFactsOnlyMoveForward(t *testing.T) {
	var known PaymentRefund
	exists := false
	for _, status := range []string{"succeeded", "pending", "failed", "succeeded", "pending"} {
		var changed bool
		known, changed = mergeRefund(known, exists, PaymentRefund{ID: "re_1", Amount: 5, Currency: "usd", Status: status})
		exists = exists || changed
	}
	if known.Status != "failed" {
		t.Errorf("refund ended %s, want failed (the furthest status seen)", known.Status)
	}
	var d PaymentDispute
	exists = false
	for _, seen := range []PaymentDispute{{Status: "lost"}, {Status: "needs_response", Withdrawn: true}, {Status: "under_review"}} {
		var changed bool
		d, changed = mergeDispute(d, exists, seen)
		exists = exists || changed
	}
	if d.Status != "lost" || !d.Withdrawn {
		t.Errorf("dispute %+v, want lost and withdrawn", d)
	}
	// An inquiry and a chargeback are two tracks: any chargeback status
	// supersedes any inquiry status, whatever the order they arrive in.
	for _, order := range [][]string{
		{"warning_under_review", "needs_response", "warning_closed"},
		{"warning_closed", "needs_response", "warning_under_review"},
		{"needs_response", "warning_closed", "warning_needs_response"},
	} {
		var d PaymentDispute
		exists := false
		for _, status := range order {
			var changed bool
			d, changed = mergeDispute(d, exists, PaymentDispute{Status: status})
			exists = exists || changed
		}
		if d.Status != "needs_response" {
			t.Errorf("dispute after %v is %s, want needs_response", order, d.Status)
		}
	}
}

func TestOverflowSafeArithmetic(t *testing.T) {
	mul := []struct {
		a, b, want int64
		overflows  bool
	}{
		{0, math.MaxInt64, 0, false},
		{3, 7, 21, false},
		{math.MaxInt64, 1, math.MaxInt64, false},
		{math.MaxInt64/2 + 1, 2, 0, true},
		{1 << 32, 1 << 31, 0, true},
		{3_037_000_499, 3_037_000_499, 9_223_372_030_926_249_001, false},
		{3_037_000_500, 3_037_000_500, 0, true},
	}
	for _, tt := range mul {
		got, err := MulCredits(tt.a, tt.b)
		if (err != nil) != tt.overflows || (!tt.overflows && got != tt.want) {
			t.Errorf("MulCredits(%d, %d) = %d, %v; want %d (overflow %t)", tt.a, tt.b, got, err, tt.want, tt.overflows)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("MulCredits(%d, %d): error code %s, want invalid", tt.a, tt.b, ErrorCode(err))
		}
	}
	add := []struct {
		a, b, want int64
		overflows  bool
	}{
		{1, 2, 3, false},
		{math.MaxInt64, 0, math.MaxInt64, false},
		{math.MaxInt64, 1, 0, true},
		{math.MinInt64, -1, 0, true},
		{-5, 3, -2, false},
		{math.MaxInt64, math.MinInt64, -1, false},
	}
	for _, tt := range add {
		got, err := AddCredits(tt.a, tt.b)
		if (err != nil) != tt.overflows || (!tt.overflows && got != tt.want) {
			t.Errorf("AddCredits(%d, %d) = %d, %v; want %d (overflow %t)", tt.a, tt.b, got, err, tt.want, tt.overflows)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MulCredits with a negative operand did not panic")
		}
	}()
	_, _ = MulCredits(-1, 2)
}

func TestRetryBackOff(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cause := errors.New("stripe is down")
	tests := []struct {
		attempts   int64
		wantDelay  time.Duration
		wantFailed bool
	}{
		{1, 10 * time.Second, false},
		{2, 20 * time.Second, false},
		{3, 40 * time.Second, false},
		{8, 1280 * time.Second, false},
		{9, 2560 * time.Second, false},
		{10, time.Hour, false}, // 5120 s, capped
		{11, time.Hour, false},
		{MaxEventAttempts, 0, true},
		{MaxEventAttempts + 5, 0, true},
	}
	for _, tt := range tests {
		ev := retryLater(Event{ID: "evt_1", Status: EventPending, Attempts: tt.attempts, NextAttempt: now}, cause, now)
		if ev.Error != cause.Error() {
			t.Errorf("attempt %d: error %q, want the cause", tt.attempts, ev.Error)
		}
		if tt.wantFailed {
			if ev.Status != EventFailed || ev.ProcessedAt == nil || !ev.ProcessedAt.Equal(now) {
				t.Errorf("attempt %d: status %s, processed %v; want failed now", tt.attempts, ev.Status, ev.ProcessedAt)
			}
			continue
		}
		if got := ev.NextAttempt.Sub(now); ev.Status != EventPending || got != tt.wantDelay {
			t.Errorf("attempt %d: %s, next in %s; want pending, next in %s", tt.attempts, ev.Status, got, tt.wantDelay)
		}
	}
}

func TestValidation(t *testing.T) {
	days := func(n int64) *int64 { return &n }
	goodPack := Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "USD"}
	tests := []struct {
		name    string
		err     error
		wantErr string // "" for valid
	}{
		{"id", ValidateID("id", "user-1@example.com"), ""},
		{"id empty", ValidateID("id", ""), "id is required"},
		{"id too long", ValidateID("id", strings.Repeat("a", MaxIDLength+1)), "at most 128"},
		{"id with a space", ValidateID("id", "a b"), "may hold only"},
		{"id starting with a dot", ValidateID("id", ".a"), "may hold only"},
		{"id with NUL", ValidateID("id", "a\x00"), "may hold only"},
		{"email", second(ValidateEmail("email", "Ann@Example.com")), ""},
		{"email with a name", second(ValidateEmail("email", "Ann <ann@example.com>")), "not a valid email"},
		{"email empty", second(ValidateEmail("email", "")), "email is required"},
		{"currency", second(ValidateCurrency("currency", "JPY")), ""},
		{"currency unknown", second(ValidateCurrency("currency", "xyz")), "not a known ISO 4217"},
		{"pack", second(ValidatePack(goodPack)), ""},
		{"pack without name", second(ValidatePack(Pack{Credits: 1, UnitAmount: 1, Currency: "usd", Name: "  "})), "name is required"},
		{"pack without credits", second(ValidatePack(Pack{Name: "x", UnitAmount: 1, Currency: "usd"})), "credits must be between"},
		{"pack too dear", second(ValidatePack(Pack{Name: "x", Credits: 1, UnitAmount: MaxUnitAmount + 1, Currency: "usd"})), "unit_amount must be"},
		{"pack expiry 0 days", second(ValidatePack(Pack{Name: "x", Credits: 1, UnitAmount: 1, Currency: "usd", ExpiresAfterDays: days(0)})), "expires_after_days"},
		{"pack price id", second(ValidatePack(Pack{Name: "x", Credits: 1, UnitAmount: 1, Currency: "usd", StripePriceID: "prod_1"})), "must start with price_"},
		{"quantity", ValidateQuantity(MaxQuantity), ""},
		{"quantity 0", ValidateQuantity(0), "quantity must be"},
		{"quantity too many", ValidateQuantity(MaxQuantity + 1), "quantity must be"},
		{"page size", second(PageSize(MaxPageSize)), ""},
		{"page size too big", second(PageSize(MaxPageSize + 1)), "limit must be"},
		{"page size negative", second(PageSize(-1)), "limit must be"},
		{"idempotency key", ValidateIdempotencyKey("job-4711"), ""},
		{"idempotency key empty", ValidateIdempotencyKey(""), "must be 1 to 255"},
		{"idempotency key too long", ValidateIdempotencyKey(strings.Repeat("k", 256)), "must be 1 to 255"},
		{"idempotency key with a newline", ValidateIdempotencyKey("a\nb"), "printable ASCII"},
		{"metadata", ValidateMetadata(Metadata{"job": "1"}), ""},
		{"metadata empty key", ValidateMetadata(Metadata{"": "1"}), "metadata keys"},
		{"metadata long value", ValidateMetadata(Metadata{"k": strings.Repeat("v", MaxMetadataValueLength+1)}), "metadata value"},
		{"amount", validateAmount("amount", MaxAmount), ""},
		{"amount 0", validateAmount("amount", 0), "between 1 and"},
		{"amount too large", validateAmount("amount", MaxAmount+1), "between 1 and"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			switch {
			case tt.wantErr == "" && tt.err != nil:
				t.Errorf("unexpected error: %v", tt.err)
			case tt.wantErr != "" && (tt.err == nil || !strings.Contains(ErrorMessage(tt.err), tt.wantErr)):
				t.Errorf("error %v, want one saying %q", tt.err, tt.wantErr)
			case tt.err != nil && ErrorCode(tt.err) != EINVALID:
				t.Errorf("error code %s, want invalid", ErrorCode(tt.err))
			}
		})
	}
	pack, _ := ValidatePack(goodPack)
	if pack.Currency != "usd" {
		t.Errorf("currency %q, want it in lower case", pack.Currency)
	}
	if email, _ := ValidateEmail("email", "Ann@Example.com"); email != "ann@example.com" {
		t.Errorf("email %q, want it in lower case", email)
	}
}

func second[T any](_ T, err error) error { return err }

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{999, "usd", "$9.99"},
		{5, "USD", "$0.05"},
		{123456789, "eur", "€1,234,567.89"},
		{-250, "gbp", "-£2.50"},
		{500, "jpy", "500 JPY"},
		{1234567, "krw", "1,234,567 KRW"},
		{5000, "kwd", "5.000 KWD"},
		{1, "bhd", "0.001 BHD"},
		{100, "chf", "1.00 CHF"},
		{math.MinInt64, "jpy", "-9,223,372,036,854,775,808 JPY"},
	}
	for _, tt := range tests {
		if got := FormatMoney(tt.minor, tt.currency); got != tt.want {
			t.Errorf("FormatMoney(%d, %s) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestHashRequestKeepsPartsApart(t *testing.T) {
	if HashRequest("ab", "c") == HashRequest("a", "bc") {
		t.Error("moving a character between parts gives the same hash")
	}
	first, again := HashRequest("POST", "/v1/a", `{"amount":1}`), HashRequest("POST", "/v1/a", `{"amount":1}`)
	if first != again {
		t.Error("the same request hashes differently")
	}
}

// TestNewOrderedID: ids made later sort later (the index of such ids takes
// each new one at its end), keep NewID's shape, and differ within one
// millisecond.
func TestNewOrderedID(t *testing.T) {
	shape := regexp.MustCompile(`^evt_[0-9a-f]{24}$`)
	seen := map[string]bool{}
	previous := NewOrderedID("evt_")
	for range 2000 {
		id := NewOrderedID("evt_")
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("id %q: not 24 hex digits after the prefix, or made twice", id)
		}
		seen[id] = true
		// Within a millisecond the order is random; across one, it is time's.
		if id[:16] < previous[:16] {
			t.Fatalf("%q was made after %q but sorts before it", id, previous)
		}
		previous = id
	}
	before := NewOrderedID("hold_")
	time.Sleep(2 * time.Millisecond)
	if after := NewOrderedID("hold_"); after <= before {
		t.Errorf("%q made 2 ms after %q sorts before it", after, before)
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Kate@Example.COM", "kate@example.com"},
		{"  kate@example.com\t", "kate@example.com"},
		{"\u212Aate@Example.com", "\u212Aate@example.com"},   // KELVIN SIGN kept, not folded to k
		{"\u00c9mile@Example.com", "\u00c9mile@example.com"}, // non-ASCII letters kept as written
		{"\uff2bate@example.com", "\uff2bate@example.com"},
	} {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got, err := ValidateEmail("email", tt.in); err != nil || got != tt.want {
			t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
