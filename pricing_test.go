package credits

import (
	"math/big"
	"math/rand"
	"strconv"
	"testing"
)

func TestParseCredits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1_000_000, true},
		{"0.000001", 1, true},
		{"2.5", 2_500_000, true},
		{"0.0025", 2_500, true},
		{"1000000000000", 1_000_000_000_000_000_000, true},
		{"1000000000000.000001", 0, false},
		{"0.0000001", 0, false},
		{"-1", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"99999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseCredits(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseCredits(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func llmCard(rounding string, minimum int64) RateCardVersion {
	return RateCardVersion{RateCardID: "default", Version: 3, Rounding: rounding, Minimum: minimum, Rates: []Rate{
		{Feature: "chat", Quantity: "input_tokens", Credits: "0.25", Per: 1000, Match: map[string]string{}},
		{Feature: "chat", Quantity: "output_tokens", Credits: "1", Per: 1000, Match: map[string]string{}},
		{Feature: "chat", Quantity: "input_tokens", Credits: "2.5", Per: 1000, Match: map[string]string{"model": "gpt-4o"}},
		{Feature: "chat", Quantity: "output_tokens", Credits: "10", Per: 1000, Match: map[string]string{"model": "gpt-4o"}},
		{Feature: "chat", Quantity: "output_tokens", Credits: "12", Per: 1000, Match: map[string]string{"model": "gpt-4o", "tier": "priority"}},
		{Feature: "image", Quantity: "quantity", Credits: "3", Per: 1, Match: map[string]string{}},
		{Feature: "gpu", Quantity: "quantity", Credits: "1", Per: 3, Match: map[string]string{}},
	}}
}

func TestPriceUsage(t *testing.T) {
	t.Parallel()
	gpt4o := map[string]string{"model": "gpt-4o"}
	tests := []struct {
		name       string
		card       RateCardVersion
		feature    string
		quantities map[string]int64
		props      map[string]string
		want       int64
		exact      []string
		code       string
	}{
		// 1234 × 2.5/1000 + 567 × 10/1000 = 3.085 + 5.67 = 8.755
		{"summed then rounded up once", llmCard("up", 0), "chat", map[string]int64{"input_tokens": 1234, "output_tokens": 567}, gpt4o, 9, []string{"3.085", "5.67"}, ""},
		{"rounded down", llmCard("down", 0), "chat", map[string]int64{"input_tokens": 1234, "output_tokens": 567}, gpt4o, 8, nil, ""},
		{"nearest", llmCard("nearest", 0), "chat", map[string]int64{"input_tokens": 1234, "output_tokens": 567}, gpt4o, 9, nil, ""},
		// 200 × 2.5/1000 + 50 × 10/1000 = 0.5 + 0.5 = 1.0: rounding per line would give 2
		{"once, not per line", llmCard("up", 0), "chat", map[string]int64{"input_tokens": 200, "output_tokens": 50}, gpt4o, 1, []string{"0.5", "0.5"}, ""},
		// 100 × 2.5/1000 + 25 × 10/1000 = 0.25 + 0.25 = 0.5: halves up
		{"nearest halves up", llmCard("nearest", 0), "chat", map[string]int64{"input_tokens": 100, "output_tokens": 25}, gpt4o, 1, nil, ""},
		{"nearest below half", llmCard("nearest", 0), "chat", map[string]int64{"input_tokens": 100, "output_tokens": 24}, gpt4o, 0, nil, ""},
		{"minimum raises", llmCard("nearest", 2), "chat", map[string]int64{"input_tokens": 100, "output_tokens": 24}, gpt4o, 2, nil, ""},
		{"minimum below price", llmCard("up", 2), "chat", map[string]int64{"input_tokens": 1234, "output_tokens": 567}, gpt4o, 9, nil, ""},
		{"generic rate without match", llmCard("up", 0), "chat", map[string]int64{"input_tokens": 4000}, map[string]string{"model": "small"}, 1, []string{"1"}, ""},
		{"most specific wins", llmCard("up", 0), "chat", map[string]int64{"output_tokens": 1000}, map[string]string{"model": "gpt-4o", "tier": "priority"}, 12, []string{"12"}, ""},
		{"non-decimal exact", llmCard("down", 0), "gpu", map[string]int64{"quantity": 10}, nil, 3, []string{"10/3"}, ""},
		{"zero units", llmCard("up", 0), "image", map[string]int64{"quantity": 0}, nil, 0, []string{"0"}, ""},
		{"no rate", llmCard("up", 0), "chat", map[string]int64{"input_tokens": 1, "cached_tokens": 2}, gpt4o, 0, nil, ENORATE},
		{"no rate for feature", llmCard("up", 0), "video", map[string]int64{"quantity": 1}, nil, 0, nil, ENORATE},
		{"overflow refused", llmCard("up", 0), "image", map[string]int64{"quantity": MaxAmount}, nil, 0, nil, EINVALID},
	}
	for _, tt := range tests {
		got, err := PriceUsage(tt.card, tt.feature, tt.quantities, tt.props)
		if ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
			t.Errorf("%s: error %v, want code %q", tt.name, err, tt.code)
			continue
		}
		if tt.code != "" {
			continue
		}
		if got.Credits != tt.want || got.RateCard != (RateCardRef{"default", 3}) {
			t.Errorf("%s: got %d credits at %v, want %d", tt.name, got.Credits, got.RateCard, tt.want)
		}
		for i, want := range tt.exact {
			if got.Breakdown[i].CreditsExact != want {
				t.Errorf("%s: line %d exact %s, want %s", tt.name, i, got.Breakdown[i].CreditsExact, want)
			}
		}
	}
}

func TestNoRateNamesQuantities(t *testing.T) {
	t.Parallel()
	_, err := PriceUsage(llmCard("up", 0), "chat", map[string]int64{"input_tokens": 1, "cached_tokens": 2, "audio": 1}, map[string]string{"model": "x"})
	if got, want := ErrorMessage(err), "rate card default version 3 has no rate of feature chat for audio, cached_tokens with these properties"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNormalizeVersion(t *testing.T) {
	t.Parallel()
	rate := func(q, credits string, match map[string]string) Rate {
		return Rate{Feature: "chat", Quantity: q, Credits: credits, Match: match}
	}
	tests := []struct {
		name  string
		v     RateCardVersion
		valid bool
	}{
		{"defaults", RateCardVersion{Rates: []Rate{rate("", "1", nil)}}, true},
		{"distinct values", RateCardVersion{Rates: []Rate{rate("t", "1", map[string]string{"model": "a"}), rate("t", "2", map[string]string{"model": "b"})}}, true},
		{"more specific", RateCardVersion{Rates: []Rate{rate("t", "1", map[string]string{"model": "a"}), rate("t", "2", map[string]string{"model": "a", "tier": "p"})}}, true},
		{"other quantities", RateCardVersion{Rates: []Rate{rate("in", "1", nil), rate("out", "2", nil)}}, true},
		{"same match twice", RateCardVersion{Rates: []Rate{rate("t", "1", map[string]string{"model": "a"}), rate("t", "2", map[string]string{"model": "a"})}}, false},
		{"equally specific, other keys", RateCardVersion{Rates: []Rate{rate("t", "1", map[string]string{"model": "a"}), rate("t", "2", map[string]string{"region": "eu"})}}, false},
		{"two generic", RateCardVersion{Rates: []Rate{rate("t", "1", nil), rate("t", "2", map[string]string{})}}, false},
		{"bad rounding", RateCardVersion{Rounding: "half", Rates: []Rate{rate("t", "1", nil)}}, false},
		{"negative minimum", RateCardVersion{Minimum: -1, Rates: []Rate{rate("t", "1", nil)}}, false},
		{"no rates", RateCardVersion{}, false},
		{"bad credits", RateCardVersion{Rates: []Rate{rate("t", "0.1234567", nil)}}, false},
		{"negative per", RateCardVersion{Rates: []Rate{{Feature: "chat", Credits: "1", Per: -2}}}, false},
		{"bad quantity name", RateCardVersion{Rates: []Rate{rate("in put", "1", nil)}}, false},
	}
	for _, tt := range tests {
		got, err := normalizeVersion(tt.v)
		if (err == nil) != tt.valid {
			t.Errorf("%s: error %v, want valid %v", tt.name, err, tt.valid)
			continue
		}
		if err == nil && (got.Rounding == "" || got.Rates[0].Per < 1 || got.Rates[0].Quantity == "" || got.Rates[0].Match == nil) {
			t.Errorf("%s: defaults not filled: %+v", tt.name, got)
		}
	}
}

// independentPrice prices with integers alone: every term over the common
// denominator 10^6 × lcm(per), summed, then divided once.
func independentPrice(v RateCardVersion, feature string, quantities map[string]int64, props map[string]string) (int64, bool) {
	lcm := big.NewInt(1)
	type term struct{ units, micro, per int64 }
	var terms []term
	for name, units := range quantities {
		best, bestKeys := -1, -1
		for i, r := range v.Rates {
			ok := r.Feature == feature && r.Quantity == name
			for k, want := range r.Match {
				ok = ok && props[k] == want
				if _, has := props[k]; !has {
					ok = false
				}
			}
			if ok && len(r.Match) > bestKeys {
				best, bestKeys = i, len(r.Match)
			}
		}
		if best < 0 {
			return 0, false
		}
		r := v.Rates[best]
		micro := mustMicro(r.Credits)
		terms = append(terms, term{units, micro, r.Per})
		g := new(big.Int).GCD(nil, nil, lcm, big.NewInt(r.Per))
		lcm.Mul(lcm, new(big.Int).Div(big.NewInt(r.Per), g))
	}
	num := new(big.Int)
	for _, t := range terms {
		x := new(big.Int).Mul(big.NewInt(t.units), big.NewInt(t.micro))
		num.Add(num, x.Mul(x, new(big.Int).Div(lcm, big.NewInt(t.per))))
	}
	den := new(big.Int).Mul(lcm, big.NewInt(1_000_000))
	q, m := new(big.Int).DivMod(num, den, new(big.Int))
	switch v.Rounding {
	case RoundingUp:
		if m.Sign() > 0 {
			q.Add(q, big.NewInt(1))
		}
	case RoundingNearest:
		if new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0 {
			q.Add(q, big.NewInt(1))
		}
	}
	if q.Int64() < v.Minimum {
		return v.Minimum, true
	}
	return q.Int64(), true
}

func mustMicro(s string) int64 {
	whole, frac := s, ""
	for i := range s {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
		}
	}
	for len(frac) < 6 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*1_000_000 + f
}

// randomVersion makes a valid version with random rates for features f0–f2,
// quantities q0–q2 and a model property.
func randomVersion(rng *rand.Rand) RateCardVersion {
	v := RateCardVersion{RateCardID: "card", Version: 1, Rounding: []string{RoundingUp, RoundingDown, RoundingNearest}[rng.Intn(3)], Minimum: int64(rng.Intn(3))}
	for f := 0; f < 3; f++ {
		for q := 0; q < 3; q++ {
			for _, model := range []string{"", "a", "b"} {
				if model != "" && rng.Intn(2) == 0 {
					continue
				}
				r := Rate{Feature: "f" + strconv.Itoa(f), Quantity: "q" + strconv.Itoa(q), Per: []int64{1, 3, 7, 1000}[rng.Intn(4)],
					Credits: strconv.Itoa(rng.Intn(20)) + "." + strconv.Itoa(rng.Intn(1000000)), Match: map[string]string{}}
				if model != "" {
					r.Match["model"] = model
				}
				v.Rates = append(v.Rates, r)
			}
		}
	}
	return v
}

func TestPriceUsageMatchesIndependentComputation(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(32))
	for i := 0; i < 3000; i++ {
		v, err := normalizeVersion(randomVersion(rng))
		if err != nil {
			t.Fatal(err)
		}
		feature := "f" + strconv.Itoa(rng.Intn(3))
		quantities := map[string]int64{}
		for q := 0; q < 1+rng.Intn(3); q++ {
			quantities["q"+strconv.Itoa(rng.Intn(3))] = rng.Int63n(1_000_000_000)
		}
		props := map[string]string{"model": []string{"a", "b", "c"}[rng.Intn(3)]}
		got, err := PriceUsage(v, feature, quantities, props)
		want, ok := independentPrice(v, feature, quantities, props)
		if err != nil || !ok || got.Credits != want {
			t.Fatalf("case %d: got %d, %v; want %d (%v) for %v %v under %+v", i, got.Credits, err, want, ok, quantities, props, v)
		}
	}
}
