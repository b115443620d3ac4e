package credits

import "fmt"

// verifyUsages checks invariant 9: every usage re-prices, from the rate card
// version it names, to the credits it says it cost, and its entries took
// exactly those credits.
func verifyUsages(tx Tx) ([]Violation, error) {
	var out []Violation
	versions := map[RateCardRef]RateCardVersion{}
	for after := ""; ; {
		usages, err := tx.AllUsages(after, 1000)
		if err != nil || len(usages) == 0 {
			return out, err
		}
		for _, u := range usages {
			after = u.ID
			v, ok := versions[u.RateCard]
			if !ok {
				if v, err = tx.RateCardVersion(u.RateCard.ID, u.RateCard.Version); err != nil {
					return out, fmt.Errorf("verify usage %s: %w", u.ID, err)
				}
				versions[u.RateCard] = v
			}
			if msg := reprice(v, u); msg != "" {
				out = append(out, Violation{9, u.AccountID, msg})
			}
		}
	}
}

func reprice(v RateCardVersion, u UsageEntries) string {
	price, err := PriceUsage(v, u.Feature, u.Quantities, u.Properties)
	switch {
	case err != nil:
		return fmt.Sprintf("usage %s does not re-price at rate card %s version %d: %s", u.ID, v.RateCardID, v.Version, ErrorMessage(err))
	case price.Credits != u.Credits:
		return fmt.Sprintf("usage %s cost %d credits, but rate card %s version %d prices it at %d", u.ID, u.Credits, v.RateCardID, v.Version, price.Credits)
	case -u.EntrySum != u.Credits:
		return fmt.Sprintf("usage %s cost %d credits, but its entries took %d", u.ID, u.Credits, -u.EntrySum)
	}
	return ""
}
