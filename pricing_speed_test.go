package credits

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// exactDecimalBig is exactDecimal with big numbers only, as it was before
// its int64 path.
func exactDecimalBig(r *big.Rat) string {
	den := new(big.Int).Set(r.Denom())
	places := 0
	for _, p := range []int64{2, 5} {
		for new(big.Int).Mod(den, big.NewInt(p)).Sign() == 0 {
			den.Div(den, big.NewInt(p))
			places++
		}
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return r.RatString()
	}
	s := r.FloatString(places)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func TestExactDecimalAgreesWithBigNumbers(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2]int64{{0, 1}, {1, 1}, {5, 10}, {1, 3}, {7, 1_000_000_000}, {123456789, 1_000_000}, {1<<62 - 1, 1}, {1<<62 - 1, 1 << 60}, {3, 1 << 62}}
	for range 20000 {
		num := rng.Int64N(1 << uint(rng.IntN(62)+1))
		den := int64(1)
		for range rng.IntN(30) {
			den *= []int64{2, 5, 10, 3, 7}[rng.IntN(5)]
			if den > 1<<50 {
				break
			}
		}
		cases = append(cases, [2]int64{num, den})
	}
	for _, c := range cases {
		r := new(big.Rat).SetFrac64(c[0], c[1])
		if got, want := exactDecimal(r), exactDecimalBig(r); got != want {
			t.Fatalf("exactDecimal(%d/%d) = %q, want %q", c[0], c[1], got, want)
		}
	}
}

func TestParseCreditsPads(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want int64
	}{{"0.0025", 2500}, {"12", 12_000_000}, {"1.5", 1_500_000}, {"0.000001", 1}, {"1000000000000", 1_000_000_000_000_000_000}} {
		if got, err := ParseCredits(c.in); err != nil || got != c.want {
			t.Errorf("ParseCredits(%q) = %d, %v, want %d", c.in, got, err, c.want)
		}
	}
	if _, err := ParseCredits("1.2.3"); ErrorCode(err) != EINVALID {
		t.Errorf("ParseCredits(1.2.3): %v, want invalid", err)
	}
}

func BenchmarkPriceUsage(b *testing.B) {
	var rates []Rate
	for m := range 10 {
		match := map[string]string{"model": fmt.Sprint("m", m)}
		rates = append(rates,
			Rate{Feature: "chat", Quantity: "input", Credits: fmt.Sprintf("0.%03d", m+1), Per: 1000, Match: match},
			Rate{Feature: "chat", Quantity: "output", Credits: fmt.Sprintf("0.%03d", 2*m+3), Per: 1000, Match: match})
	}
	v, err := normalizeVersion(RateCardVersion{RateCardID: "c", Version: 1, Rates: rates})
	if err != nil {
		b.Fatal(err)
	}
	props := map[string]string{"model": "m7"}
	for i := 0; b.Loop(); i++ {
		if _, err := PriceUsage(v, "chat", map[string]int64{"input": 1000 + int64(i%5000), "output": 200 + int64(i%700)}, props); err != nil {
			b.Fatal(err)
		}
	}
}
