package credits

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what comes from outside.
const (
	MaxIDLength       = 128
	MaxNameLength     = 200
	MaxEmailLength    = 254
	MaxQuantity       = 100
	MaxPackCredits    = 1_000_000_000_000 // 10^12 credits in one pack
	MaxUnitAmount     = 99_999_999        // Stripe's own limit, in minor units
	MaxPageSize       = 100
	DefaultPageSize   = 20
	MaxPriceIDLength  = 255
	MaxStripeIDLength = 255
	MaxExpiryDays     = 3650
	MaxSearchLength   = 100
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$`)

// ValidateID checks an id chosen by the application (account or pack).
func ValidateID(field, id string) error {
	if id == "" {
		return Errorf(EINVALID, "%s is required", field)
	}
	if len(id) > MaxIDLength {
		return Errorf(EINVALID, "%s must be at most %d characters", field, MaxIDLength)
	}
	if !idPattern.MatchString(id) {
		return Errorf(EINVALID, "%s may hold only letters, digits and _ . : @ + - (and must start with a letter or digit)", field)
	}
	return nil
}

// NormalizeEmail is an email as Stripe and mail systems compare it: trimmed,
// its ASCII letters lower-cased (the domain, and the local part where it is
// ASCII), every other character kept as written. Unicode case folding is not
// applied: it maps U+212A KELVIN SIGN to k, and a look-alike address would
// then stand for the real one.
func NormalizeEmail(email string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSpace(email))
}

// ValidateEmail checks and normalises an email address (NormalizeEmail).
func ValidateEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", Errorf(EINVALID, "%s is required", field)
	}
	if len(email) > MaxEmailLength {
		return "", Errorf(EINVALID, "%s must be at most %d characters", field, MaxEmailLength)
	}
	if err := checkText(field, email); err != nil {
		return "", err
	}
	if strings.IndexFunc(email, invisible) >= 0 {
		return "", Errorf(EINVALID, "%s must not hold invisible characters (zero-width spaces and joiners, soft hyphens, direction marks, non-ASCII spaces): the address would show as another one", field)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return "", Errorf(EINVALID, "%s is not a valid email address", field)
	}
	return NormalizeEmail(email), nil
}

// ValidateCurrency checks a currency code and returns it in lower case, as
// Stripe writes it.
func ValidateCurrency(field, code string) (string, error) {
	lower := strings.ToLower(code)
	if _, ok := currencies[lower]; !ok {
		return "", Errorf(EINVALID, "%s %q is not a known ISO 4217 currency code", field, code)
	}
	return lower, nil
}

// ValidatePack checks a pack before it is created.
func ValidatePack(p Pack) (Pack, error) {
	if p.ID != "" {
		if err := ValidateID("id", p.ID); err != nil {
			return p, err
		}
	}
	p.Name = strings.TrimSpace(p.Name)
	if err := checkText("name", p.Name); err != nil {
		return p, err
	}
	if p.Name == "" {
		return p, Errorf(EINVALID, "name is required")
	}
	if len(p.Name) > MaxNameLength {
		return p, Errorf(EINVALID, "name must be at most %d characters", MaxNameLength)
	}
	if p.Credits <= 0 || p.Credits > MaxPackCredits {
		return p, Errorf(EINVALID, "credits must be between 1 and %d", int64(MaxPackCredits))
	}
	if p.UnitAmount <= 0 || p.UnitAmount > MaxUnitAmount {
		return p, Errorf(EINVALID, "unit_amount must be between 1 and %d (minor units)", MaxUnitAmount)
	}
	currency, err := ValidateCurrency("currency", p.Currency)
	if err != nil {
		return p, err
	}
	p.Currency = currency
	if p.ExpiresAfterDays != nil && (*p.ExpiresAfterDays < 1 || *p.ExpiresAfterDays > MaxExpiryDays) {
		return p, Errorf(EINVALID, "expires_after_days must be between 1 and %d", MaxExpiryDays)
	}
	if len(p.StripePriceID) > MaxPriceIDLength {
		return p, Errorf(EINVALID, "stripe_price_id must be at most %d characters", MaxPriceIDLength)
	}
	if p.StripePriceID != "" && !strings.HasPrefix(p.StripePriceID, "price_") {
		return p, Errorf(EINVALID, "stripe_price_id must start with price_")
	}
	return p, nil
}

// ValidateQuantity checks the quantity of packs in one checkout.
func ValidateQuantity(q int64) error {
	if q < 1 || q > MaxQuantity {
		return Errorf(EINVALID, "quantity must be between 1 and %d", MaxQuantity)
	}
	return nil
}

// PageSize turns a requested page size into one within limits.
func PageSize(limit int) (int, error) {
	if limit == 0 {
		return DefaultPageSize, nil
	}
	if limit < 0 || limit > MaxPageSize {
		return 0, Errorf(EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	return limit, nil
}

// AddCredits adds two amounts, refusing an int64 overflow.
func AddCredits(a, b int64) (int64, error) {
	sum := a + b
	if (b > 0 && sum < a) || (b < 0 && sum > a) {
		return 0, Errorf(EINVALID, "amount overflows the balance")
	}
	return sum, nil
}

// MulCredits multiplies two non-negative amounts, refusing an overflow.
func MulCredits(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		panic("MulCredits: negative operand")
	}
	if a != 0 && b > (1<<63-1)/a {
		return 0, Errorf(EINVALID, "amount overflows")
	}
	return a * b, nil
}

// currencies are the ISO 4217 codes that Stripe can charge in.
var currencies = func() map[string]struct{} {
	codes := `aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd
cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl
htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk
mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf
sar sbd scr sek sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst
xaf xcd xof xpf yer zar zmw`
	set := map[string]struct{}{}
	for _, c := range strings.Fields(codes) {
		set[c] = struct{}{}
	}
	return set
}()

// PlainText reports whether s is text both stores keep as it is: valid
// UTF-8, without NUL or any other control character (which PostgreSQL
// refuses, or which would reach a terminal as escape sequences), and without
// the bidirectional embedding, override and isolate controls (U+202A–U+202E,
// U+2066–U+2069), which reorder what an operator reads ("Trojan Source"), nor
// the invisible direction marks (U+200E, U+200F, U+061C).
func PlainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) {
			return false
		}
	}
	return true
}

// isBidiControl reports the characters that change the display order of the
// text around them: the embeddings, overrides and isolates, and the marks
// (LEFT-TO-RIGHT, RIGHT-TO-LEFT and ARABIC LETTER MARK), which are invisible
// too.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// invisible reports a character that shows as nothing, or as a plain space,
// beside the letters of an address: format characters (Cf: zero-width
// space and joiners, soft hyphen, word joiner, marks, tags), the other
// default-ignorable code points (Hangul fillers, the combining grapheme
// joiner), variation selectors, and spaces other than ASCII's. NFKC and case
// folding keep most of them, so a look-alike address made with one would
// not meet the real one.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r) || (r > 0x7f && unicode.IsSpace(r)) || unicode.Is(unicode.Zs, r) && r != ' '
}

// checkText refuses text that is not PlainText, naming the field.
func checkText(field, s string) error {
	if !PlainText(s) {
		return Errorf(EINVALID, "%s must be valid UTF-8 without control characters (bidirectional controls included)", field)
	}
	return nil
}

// lookupID refuses, as not found, an id that no record can have (invalid
// UTF-8, a control character, too long): it is never sent to the store.
func lookupID(kind, id string) error {
	if id == "" || len(id) > MaxStripeIDLength || !PlainText(id) {
		return Errorf(ENOTFOUND, "%s %q not found", kind, id)
	}
	return nil
}
