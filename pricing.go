package credits

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits of pricing.
const (
	// CreditDecimals is how many decimal places a rate's credits may have:
	// a rate is kept exactly as micro-credits.
	CreditDecimals   = 6
	microPerCredit   = 1_000_000
	MaxRateCredits   = 1_000_000_000_000 // credits of one rate, for its per
	MaxRatePer       = 1_000_000_000_000
	MaxRates         = 1_000 // rates in one version
	MaxMatchKeys     = 10
	MaxQuantities    = 20 // quantities in one usage
	MaxUnits         = MaxAmount
	MaxProperties    = 20
	DefaultQuantity  = "quantity"
	RoundingUp       = "up"
	RoundingDown     = "down"
	RoundingNearest  = "nearest"
	DefaultRateCard  = "default"
	maxQuantityName  = 64
	maxPropertyValue = 200
)

// Feature is something an application meters, priced by rate cards.
type Feature struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Unit      string    `json:"unit"`
	CreatedAt time.Time `json:"created_at"`
}

// Rate is what every Per units of a feature's quantity cost in credits (a
// decimal with up to six places) when a usage's properties contain every
// key and value of Match.
type Rate struct {
	Feature  string            `json:"feature"`
	Quantity string            `json:"quantity"`
	Credits  string            `json:"credits"`
	Per      int64             `json:"per"`
	Match    map[string]string `json:"match"`
}

// RateCardVersion is one immutable set of prices of a rate card, in effect
// from EffectiveAt until a later version's EffectiveAt.
type RateCardVersion struct {
	RateCardID  string    `json:"rate_card_id"`
	Version     int64     `json:"version"`
	Rates       []Rate    `json:"rates"`
	Rounding    string    `json:"rounding"`
	Minimum     int64     `json:"minimum"`
	EffectiveAt time.Time `json:"effective_at"`
	CreatedAt   time.Time `json:"created_at"`
}

// RateCardRef names the version a usage was priced at.
type RateCardRef struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// PriceLine is what one quantity of a usage costs: its units, the rate that
// priced them and the exact (unrounded) credits.
type PriceLine struct {
	Quantity     string    `json:"quantity"`
	Units        int64     `json:"units"`
	Rate         PriceRate `json:"rate"`
	CreditsExact string    `json:"credits_exact"`
}

// PriceRate is the part of a rate a price line shows.
type PriceRate struct {
	Credits string            `json:"credits"`
	Per     int64             `json:"per"`
	Match   map[string]string `json:"match"`
}

// Price is what one usage costs under one rate card version.
type Price struct {
	Credits   int64       `json:"credits"`
	RateCard  RateCardRef `json:"rate_card"`
	Breakdown []PriceLine `json:"breakdown"`
}

// ParseCredits parses a rate's credits, a non-negative decimal with at most
// six decimal places ("0.0025", "12", "1.5"), into micro-credits, exactly.
func ParseCredits(s string) (int64, error) {
	bad := func() error { // made only when needed: pricing parses every rate it uses
		return Errorf(EINVALID, "credits %q must be a decimal number from 0 to %d with at most %d decimal places", s, int64(MaxRateCredits), CreditDecimals)
	}
	whole, frac, dotted := strings.Cut(s, ".")
	if whole == "" || len(whole) > 13 || len(frac) > CreditDecimals || (dotted && frac == "") || !digits(whole) || !digits(frac) {
		return 0, bad()
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > MaxRateCredits {
		return 0, bad()
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		for range CreditDecimals - len(frac) {
			f *= 10
		}
	}
	micro := w*microPerCredit + f
	if micro > MaxRateCredits*microPerCredit {
		return 0, bad()
	}
	return micro, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matches reports whether properties contain every key and value of match.
func matches(match, properties map[string]string) bool {
	for k, v := range match {
		if pv, ok := properties[k]; !ok || pv != v {
			return false
		}
	}
	return true
}

// compatible reports whether some properties could match both a and b (they
// agree on every key they share).
func compatible(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return false
		}
	}
	return true
}

// rateFor returns the most specific rate of a feature's quantity that
// matches properties. A valid version has at most one.
func (v RateCardVersion) rateFor(feature, quantity string, properties map[string]string) (Rate, bool) {
	var best Rate
	found := false
	for _, r := range v.Rates {
		if r.Feature != feature || r.Quantity != quantity || !matches(r.Match, properties) {
			continue
		}
		if !found || len(r.Match) > len(best.Match) {
			best, found = r, true
		}
	}
	return best, found
}

// PriceUsage prices a usage of feature: for each quantity the most specific
// matching rate, Σ units × credits ÷ per summed exactly, rounded once to
// whole credits by the version's rule and raised to its minimum. Every
// quantity must have a rate (no_rate names those without).
func PriceUsage(v RateCardVersion, feature string, quantities map[string]int64, properties map[string]string) (Price, error) {
	price := Price{RateCard: RateCardRef{ID: v.RateCardID, Version: v.Version}}
	names := make([]string, 0, len(quantities))
	for name := range quantities {
		names = append(names, name)
	}
	sort.Strings(names)
	sum := new(big.Rat)
	var missing []string
	for _, name := range names {
		rate, ok := v.rateFor(feature, name, properties)
		if !ok {
			missing = append(missing, name)
			continue
		}
		micro, err := ParseCredits(rate.Credits)
		if err == nil && (rate.Per < 1 || rate.Per > MaxRatePer) {
			err = Errorf(EINVALID, "a rate of %s has per %d", name, rate.Per) // a stored version edited in place
		}
		if err != nil {
			return price, fmt.Errorf("rate card %s version %d: %w", v.RateCardID, v.Version, err)
		}
		units := quantities[name]
		term := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(units), big.NewInt(micro)), new(big.Int).Mul(big.NewInt(rate.Per), big.NewInt(microPerCredit)))
		sum.Add(sum, term)
		price.Breakdown = append(price.Breakdown, PriceLine{Quantity: name, Units: units,
			Rate: PriceRate{Credits: rate.Credits, Per: rate.Per, Match: rate.Match}, CreditsExact: exactDecimal(term)})
	}
	if len(missing) > 0 {
		return price, Errorf(ENORATE, "rate card %s version %d has no rate of feature %s for %s with these properties",
			v.RateCardID, v.Version, feature, strings.Join(missing, ", "))
	}
	credits, ok := roundCredits(sum, v.Rounding)
	if !ok || credits > MaxAmount {
		return price, Errorf(EINVALID, "the usage would cost more than %d credits", int64(MaxAmount))
	}
	price.Credits = max(credits, v.Minimum)
	return price, nil
}

// roundCredits rounds a non-negative exact amount to whole credits: up,
// down, or to the nearest with halves up.
func roundCredits(r *big.Rat, rounding string) (int64, bool) {
	num, den := new(big.Int).Set(r.Num()), r.Denom()
	if rounding == RoundingNearest {
		// ⌊x + ½⌋ = ⌊(2·num + den) ÷ 2·den⌋
		num.Add(num.Mul(num, big.NewInt(2)), den)
		den = new(big.Int).Mul(den, big.NewInt(2))
	}
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if rounding != RoundingDown && rounding != RoundingNearest && m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// exactDecimal writes r as a decimal when it has a finite one, else as a
// fraction (1/3).
func exactDecimal(r *big.Rat) string {
	if r.Num().IsInt64() && r.Denom().IsInt64() {
		if s, ok := exactDecimal64(r.Num().Int64(), r.Denom().Int64()); ok {
			return s
		}
	}
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

// normalizeVersion checks a new version's rates and fills in defaults
// (quantity "quantity", per 1, rounding up). Two rates of one quantity with
// as many match keys, that some properties could both match, are refused:
// neither would be the most specific. Features are checked by the caller.
func normalizeVersion(v RateCardVersion) (RateCardVersion, error) {
	switch v.Rounding {
	case "":
		v.Rounding = RoundingUp
	case RoundingUp, RoundingDown, RoundingNearest:
	default:
		return v, Errorf(EINVALID, "rounding must be up, down or nearest")
	}
	if v.Minimum < 0 || v.Minimum > MaxAmount {
		return v, Errorf(EINVALID, "minimum must be a whole number from 0 to %d", int64(MaxAmount))
	}
	if len(v.Rates) == 0 || len(v.Rates) > MaxRates {
		return v, Errorf(EINVALID, "rates must hold 1 to %d rates", MaxRates)
	}
	rates := make([]Rate, len(v.Rates))
	for i, r := range v.Rates {
		r, err := normalizeRate(i, r)
		if err != nil {
			return v, err
		}
		for j, o := range rates[:i] {
			if o.Feature == r.Feature && o.Quantity == r.Quantity && len(o.Match) == len(r.Match) && compatible(o.Match, r.Match) {
				return v, Errorf(EINVALID, "rates %d and %d price %s of feature %s equally specifically for the same properties", j, i, r.Quantity, r.Feature)
			}
		}
		rates[i] = r
	}
	v.Rates = rates
	return v, nil
}

func normalizeRate(i int, r Rate) (Rate, error) {
	if err := ValidateID(fmt.Sprintf("rates[%d].feature", i), r.Feature); err != nil {
		return r, err
	}
	if r.Quantity == "" {
		r.Quantity = DefaultQuantity
	}
	if err := validateName(fmt.Sprintf("rates[%d].quantity", i), r.Quantity); err != nil {
		return r, err
	}
	if _, err := ParseCredits(r.Credits); err != nil {
		return r, Errorf(EINVALID, "rates[%d]: %s", i, ErrorMessage(err))
	}
	if r.Per == 0 {
		r.Per = 1
	}
	if r.Per < 1 || r.Per > MaxRatePer {
		return r, Errorf(EINVALID, "rates[%d].per must be a whole number from 1 to %d", i, int64(MaxRatePer))
	}
	if len(r.Match) > MaxMatchKeys {
		return r, Errorf(EINVALID, "rates[%d].match may hold at most %d keys", i, MaxMatchKeys)
	}
	if err := validateProperties(fmt.Sprintf("rates[%d].match", i), r.Match); err != nil {
		return r, err
	}
	if r.Match == nil {
		r.Match = map[string]string{}
	}
	return r, nil
}

// exactDecimal64 is exactDecimal of the reduced fraction n/d (n ≥ 0,
// d > 0) without big numbers; false when it has no finite decimal or it
// does not fit in int64.
func exactDecimal64(n, d int64) (string, bool) {
	twos, fives, rest := 0, 0, d
	for ; rest%2 == 0; rest /= 2 {
		twos++
	}
	for ; rest%5 == 0; rest /= 5 {
		fives++
	}
	places := max(twos, fives)
	if rest != 1 || n < 0 || places > 18 {
		return "", false
	}
	scale := int64(1)
	for range places {
		scale *= 10
	}
	hi, v := bits.Mul64(uint64(n), uint64(scale/d)) // n/d = n·(scale/d) / scale
	if hi != 0 || v > math.MaxInt64 {
		return "", false
	}
	whole, frac := int64(v)/scale, int64(v)%scale
	s := strconv.FormatInt(whole, 10)
	if frac == 0 {
		return s, true
	}
	f := strconv.FormatInt(frac, 10)
	return s + "." + strings.TrimRight(strings.Repeat("0", places-len(f))+f, "0"), true
}

// validateName checks a quantity's or a property's name: 1 to 64 of
// letters, digits, _ . -.
func validateName(field, name string) error {
	if name == "" || len(name) > maxQuantityName {
		return Errorf(EINVALID, "%s must be 1 to %d characters", field, maxQuantityName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return Errorf(EINVALID, "%s may hold only letters, digits and _ . -", field)
		}
	}
	return nil
}

func validateProperties(field string, props map[string]string) error {
	if len(props) > MaxProperties {
		return Errorf(EINVALID, "%s may hold at most %d keys", field, MaxProperties)
	}
	for k, v := range props {
		if err := validateName(field+" key", k); err != nil {
			return err
		}
		if len(v) > maxPropertyValue || !PlainText(v) {
			return Errorf(EINVALID, "%s value of %q must be plain text of at most %d characters", field, k, maxPropertyValue)
		}
	}
	return nil
}

// normalizeQuantities turns a usage's quantity or quantities into one map:
// a lone quantity is named "quantity". Units are whole numbers from 0.
func normalizeQuantities(quantity *int64, quantities map[string]int64) (map[string]int64, error) {
	switch {
	case quantity != nil && quantities != nil:
		return nil, Errorf(EINVALID, "give quantity or quantities, not both")
	case quantity != nil:
		quantities = map[string]int64{DefaultQuantity: *quantity}
	case len(quantities) == 0:
		return nil, Errorf(EINVALID, "quantity or quantities is required")
	case len(quantities) > MaxQuantities:
		return nil, Errorf(EINVALID, "quantities may hold at most %d quantities", MaxQuantities)
	}
	for name, units := range quantities {
		if err := validateName("quantities key", name); err != nil {
			return nil, err
		}
		if units < 0 || units > MaxUnits {
			return nil, Errorf(EINVALID, "quantity %s must be a whole number from 0 to %d", name, int64(MaxUnits))
		}
	}
	return quantities, nil
}
