package credits

import "testing"

// TestPriceUsageAttack: prices at the edges of the limits are exact or
// refused, never wrapped; a stored rate edited to an impossible per is an
// error, not a panic.
func TestPriceUsageAttack(t *testing.T) {
	t.Parallel()
	card := func(rounding string, minimum int64, rates ...Rate) RateCardVersion {
		return RateCardVersion{RateCardID: "c", Version: 1, Rounding: rounding, Minimum: minimum, Rates: rates}
	}
	image := func(credits string, per int64) Rate {
		return Rate{Feature: "image", Quantity: DefaultQuantity, Credits: credits, Per: per, Match: map[string]string{}}
	}
	maxRate := image("1000000000000", 1)
	many := map[string]int64{}
	var manyRates []Rate
	for i := range MaxQuantities {
		name := string(rune('a' + i))
		many[name] = MaxUnits
		manyRates = append(manyRates, Rate{Feature: "image", Quantity: name, Credits: "1000000000000", Per: 1})
	}
	tests := []struct {
		name       string
		card       RateCardVersion
		quantities map[string]int64
		want       int64
		code       string
	}{
		{"nearest 1.5 up", card(RoundingNearest, 0, image("1.5", 1)), map[string]int64{DefaultQuantity: 1}, 2, ""},
		{"nearest 2.5 up", card(RoundingNearest, 0, image("2.5", 1)), map[string]int64{DefaultQuantity: 1}, 3, ""},
		{"nearest 2.499999", card(RoundingNearest, 0, image("2.499999", 1)), map[string]int64{DefaultQuantity: 1}, 2, ""},
		{"up a millionth", card(RoundingUp, 0, image("0.000001", 1)), map[string]int64{DefaultQuantity: 1}, 1, ""},
		{"down a millionth", card(RoundingDown, 0, image("0.999999", 1)), map[string]int64{DefaultQuantity: 1}, 0, ""},
		{"max units at a millionth per max per", card(RoundingUp, 0, image("0.000001", MaxRatePer)), map[string]int64{DefaultQuantity: MaxUnits}, 1, ""},
		{"exactly MaxAmount", card(RoundingUp, 0, image("1", 1)), map[string]int64{DefaultQuantity: MaxAmount}, MaxAmount, ""},
		{"max units at max credits", card(RoundingUp, 0, maxRate), map[string]int64{DefaultQuantity: MaxUnits}, 0, EINVALID},
		{"every quantity at the max", card(RoundingUp, 0, manyRates...), many, 0, EINVALID},
		{"minimum at MaxAmount", card(RoundingUp, MaxAmount, image("0", 1)), map[string]int64{DefaultQuantity: 0}, MaxAmount, ""},
		{"per edited to 0", card(RoundingUp, 0, image("1", 0)), map[string]int64{DefaultQuantity: 1}, 0, EINVALID},
		{"per edited negative", card(RoundingUp, 0, image("1", -2)), map[string]int64{DefaultQuantity: 4}, 0, EINVALID},
		{"credits edited negative", card(RoundingUp, 0, image("-1", 1)), map[string]int64{DefaultQuantity: 4}, 0, EINVALID},
	}
	for _, tt := range tests {
		got, err := PriceUsage(tt.card, "image", tt.quantities, nil)
		switch {
		case tt.code != "" && ErrorCode(err) != tt.code:
			t.Errorf("%s: %+v, %v; want %s", tt.name, got, err, tt.code)
		case tt.code == "" && (err != nil || got.Credits != tt.want):
			t.Errorf("%s: %d credits, %v; want %d", tt.name, got.Credits, err, tt.want)
		}
	}
}
