package credits

import (
	"strconv"
	"strings"
)

// Stripe counts amounts in a currency's smallest unit. Most currencies have
// two decimals; these are the exceptions as Stripe lists them (its list, not
// ISO 4217's, since the amounts come from and go to Stripe: ISK and HUF,
// for example, differ).
var (
	zeroDecimalCurrencies = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
		"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true}
	threeDecimalCurrencies = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}
	currencySymbols        = map[string]string{"usd": "$", "eur": "€", "gbp": "£"}
)

// MinorUnitDigits returns how many decimals a currency's amounts have in
// Stripe: 0, 2 or 3.
func MinorUnitDigits(currency string) int {
	currency = strings.ToLower(currency)
	switch {
	case zeroDecimalCurrencies[currency]:
		return 0
	case threeDecimalCurrencies[currency]:
		return 3
	}
	return 2
}

// FormatMoney writes an amount in minor units as people read it: "$12.50",
// "¥500" is "500 JPY", "5.000 KWD"; thousands are grouped with commas.
func FormatMoney(minor int64, currency string) string {
	digits := MinorUnitDigits(currency)
	sign, magnitude := "", strconv.FormatUint(absUint(minor), 10)
	if minor < 0 {
		sign = "-"
	}
	amount := magnitude
	if digits > 0 {
		magnitude = strings.Repeat("0", max(0, digits+1-len(magnitude))) + magnitude
		cut := len(magnitude) - digits
		amount = GroupThousands(magnitude[:cut]) + "." + magnitude[cut:]
	} else {
		amount = GroupThousands(magnitude)
	}
	if symbol := currencySymbols[strings.ToLower(currency)]; symbol != "" {
		return sign + symbol + amount
	}
	return sign + amount + " " + strings.ToUpper(currency)
}

// GroupThousands puts a comma between each group of three digits of a
// string of digits (with an optional leading minus).
func GroupThousands(digits string) string {
	sign := ""
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(digits[i])
	}
	return sign + b.String()
}

// absUint is |n| without overflow for the smallest int64.
func absUint(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1
	}
	return uint64(n)
}
