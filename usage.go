package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Features and rate cards are written by admins; usage is priced by the
// version of the account's rate card in effect at the service's now, in the
// transaction that takes its credits (PriceUsage, in pricing.go).

// CreateFeature adds a feature to meter.
func (s *Service) CreateFeature(ctx context.Context, f Feature) (Feature, error) {
	if err := ValidateID("id", f.ID); err != nil {
		return f, err
	}
	var err error
	if f.Name, err = validateText("name", f.Name, true); err != nil {
		return f, err
	}
	if len(f.Name) > MaxNameLength {
		return f, Errorf(EINVALID, "name must be at most %d characters", MaxNameLength)
	}
	if err := validateName("unit", f.Unit); err != nil {
		return f, err
	}
	f.CreatedAt = s.now()
	err = s.update(ctx, func(tx Tx) error {
		err := tx.CreateFeature(f)
		if errors.Is(err, ErrConflict) {
			return Errorf(ECONFLICT, "feature %s exists", f.ID)
		}
		return err
	})
	return f, err
}

// ListFeatures lists every feature by id.
func (s *Service) ListFeatures(ctx context.Context) ([]Feature, error) {
	var features []Feature
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		features, err = tx.Features()
		return err
	})
	if features == nil {
		features = []Feature{}
	}
	return features, err
}

// RateCardRequest creates a rate card with its first version, or adds a
// version (ID and Name unused). EffectiveAt is now when nil.
type RateCardRequest struct {
	ID          string
	Name        string
	Rates       []Rate
	Rounding    string
	Minimum     int64
	EffectiveAt *time.Time
}

// CreateRateCard creates a rate card and its version 1.
func (s *Service) CreateRateCard(ctx context.Context, req RateCardRequest) (RateCardVersion, error) {
	if err := ValidateID("id", req.ID); err != nil {
		return RateCardVersion{}, err
	}
	name, err := validateText("name", req.Name, true)
	if err != nil {
		return RateCardVersion{}, err
	}
	if len(name) > MaxNameLength {
		return RateCardVersion{}, Errorf(EINVALID, "name must be at most %d characters", MaxNameLength)
	}
	now := s.now()
	var v RateCardVersion
	err = s.update(ctx, func(tx Tx) error {
		err := tx.CreateRateCard(RateCard{ID: req.ID, Name: name, CreatedAt: now})
		if errors.Is(err, ErrConflict) {
			return Errorf(ECONFLICT, "rate card %s exists", req.ID)
		} else if err != nil {
			return err
		}
		v, err = addVersion(tx, req, now)
		return err
	})
	s.forgetUnwritten(v, err)
	return v, err
}

// AddRateCardVersion adds the next version of a rate card. It takes effect at
// EffectiveAt (now when nil), never before the version before it.
func (s *Service) AddRateCardVersion(ctx context.Context, id string, req RateCardRequest) (RateCardVersion, error) {
	if err := lookupID("rate card", id); err != nil {
		return RateCardVersion{}, err
	}
	req.ID = id
	now := s.now()
	var v RateCardVersion
	err := s.update(ctx, func(tx Tx) error {
		if _, err := tx.RateCard(id); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "rate card %s not found", id)
		} else if err != nil {
			return err
		}
		var err error
		v, err = addVersion(tx, req, now)
		if errors.Is(err, ErrConflict) {
			return errRetry // another version was added meanwhile: number this one after it
		}
		return err
	})
	s.forgetUnwritten(v, err)
	return v, err
}

// forgetUnwritten drops from the cache of versions one that a write made
// but did not commit (err): a usage beside it in its batch (SQLite's
// writes share one transaction) may have read it, and the version of that
// number written later must price from its own rates.
func (s *Service) forgetUnwritten(v RateCardVersion, err error) {
	if err != nil && v.Version != 0 {
		s.versions.Delete(RateCardRef{ID: v.RateCardID, Version: v.Version})
	}
}

// MaxEffectiveAhead bounds how far ahead a version may take effect: a
// mistyped year would otherwise freeze the card's prices until then, as no
// later version may take effect before it.
const MaxEffectiveAhead = 366 * 24 * time.Hour

// addVersion checks a version (its features must exist) and adds it after
// the card's latest.
func addVersion(tx Tx, req RateCardRequest, now time.Time) (RateCardVersion, error) {
	v, err := normalizeVersion(RateCardVersion{RateCardID: req.ID, Rates: req.Rates, Rounding: req.Rounding, Minimum: req.Minimum, EffectiveAt: now, CreatedAt: now})
	if err != nil {
		return v, err
	}
	if req.EffectiveAt != nil {
		if req.EffectiveAt.Before(now) || req.EffectiveAt.After(now.Add(MaxEffectiveAhead)) {
			return v, Errorf(EINVALID, "effective_at must be from now to %d days from now", int(MaxEffectiveAhead/(24*time.Hour)))
		}
		v.EffectiveAt = req.EffectiveAt.UTC()
	}
	seen := map[string]bool{}
	for _, r := range v.Rates {
		if seen[r.Feature] {
			continue
		}
		seen[r.Feature] = true
		if _, err := tx.Feature(r.Feature); errors.Is(err, ErrNotFound) {
			return v, Errorf(ENOTFOUND, "feature %s not found", r.Feature)
		} else if err != nil {
			return v, err
		}
	}
	versions, err := tx.RateCardVersions(req.ID)
	if err != nil {
		return v, err
	}
	v.Version = 1
	if n := len(versions); n > 0 {
		last := versions[n-1]
		if v.EffectiveAt.Before(last.EffectiveAt) {
			return v, Errorf(EINVALID, "effective_at must not be before %s, when version %d takes effect", last.EffectiveAt.Format(time.RFC3339), last.Version)
		}
		v.Version = last.Version + 1
	}
	return v, tx.AddRateCardVersion(v)
}

// GetRateCard reads a rate card, the version in effect now (none when its
// first is still to come), and every version.
func (s *Service) GetRateCard(ctx context.Context, id string) (RateCard, error) {
	if err := lookupID("rate card", id); err != nil {
		return RateCard{}, err
	}
	now := s.now()
	var c RateCard
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		if c, err = tx.RateCard(id); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "rate card %s not found", id)
		} else if err != nil {
			return err
		}
		if c.Versions, err = tx.RateCardVersions(id); err != nil {
			return err
		}
		for i := range c.Versions {
			if !c.Versions[i].EffectiveAt.After(now) {
				c.Current = &c.Versions[i]
			}
		}
		return nil
	})
	return c, err
}

// GetRateCardVersion reads one version of a rate card.
func (s *Service) GetRateCardVersion(ctx context.Context, id string, version int64) (RateCardVersion, error) {
	if err := lookupID("rate card", id); err != nil {
		return RateCardVersion{}, err
	}
	var v RateCardVersion
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		v, err = tx.RateCardVersion(id, version)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "rate card %s has no version %d", id, version)
		}
		return err
	})
	return v, err
}

// AccountRateCard is an account's own rate card.
type AccountRateCard struct {
	AccountID  string `json:"account_id"`
	RateCardID string `json:"rate_card_id"`
}

// SetAccountRateCard prices an account by a rate card of its own.
func (s *Service) SetAccountRateCard(ctx context.Context, accountID, rateCardID string) (AccountRateCard, error) {
	if err := lookupID("rate card", rateCardID); err != nil {
		return AccountRateCard{}, err
	}
	now := s.now()
	err := s.update(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		if _, err := tx.RateCard(rateCardID); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "rate card %s not found", rateCardID)
		} else if err != nil {
			return err
		}
		return tx.SetAccountRateCard(accountID, rateCardID, now)
	})
	return AccountRateCard{AccountID: accountID, RateCardID: rateCardID}, err
}

// PricingRateCard names the rate card that prices an account: its own, else
// DefaultRateCard.
func (s *Service) PricingRateCard(ctx context.Context, accountID string) (string, error) {
	id := DefaultRateCard
	err := s.Store.View(ctx, func(tx Tx) error {
		own, err := tx.AccountRateCard(accountID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		id = own
		return err
	})
	return id, err
}

// priceFor prices a usage by the account's rate card (its own, else the
// card "default") in effect at now. Versions never change: each is read from
// the store once, then from the service's cache. A version that prices the
// feature proves it exists (a version's features must exist, and features
// are never deleted); only a usage about to be refused reads the feature,
// to say whether it is unknown (404) or has no rate (no_rate).
func (s *Service) priceFor(tx Tx, accountID, feature string, quantities map[string]int64, properties map[string]string, now time.Time) (Price, error) {
	ref, err := tx.PricingVersion(accountID, now)
	if err != nil {
		return Price{}, err
	}
	var v RateCardVersion
	if ref.Version != 0 {
		if v, err = s.version(tx, ref); err != nil {
			return Price{}, err
		}
	}
	if !v.prices(feature) {
		if _, err := tx.Feature(feature); errors.Is(err, ErrNotFound) {
			return Price{}, Errorf(ENOTFOUND, "feature %s not found", feature)
		} else if err != nil {
			return Price{}, err
		}
	}
	if ref.Version == 0 {
		return Price{}, Errorf(ENORATE, "rate card %s of account %s has no version in effect", ref.ID, accountID)
	}
	return PriceUsage(v, feature, quantities, properties)
}

// version reads a rate card version, from the service's cache once read.
func (s *Service) version(tx Tx, ref RateCardRef) (RateCardVersion, error) {
	if v, ok := s.versions.Load(ref); ok {
		return v.(RateCardVersion), nil
	}
	read, err := tx.RateCardVersion(ref.ID, ref.Version)
	if err != nil {
		return RateCardVersion{}, err
	}
	v, _ := s.versions.LoadOrStore(ref, read)
	return v.(RateCardVersion), nil
}

// prices reports whether the version has a rate of the feature.
func (v RateCardVersion) prices(feature string) bool {
	for _, r := range v.Rates {
		if r.Feature == feature {
			return true
		}
	}
	return false
}

// attachUsages names, on each entry that took a usage's credits, the usage
// and what priced it.
func attachUsages(tx Tx, entries []Entry) error {
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	usages, err := tx.EntryUsages(ids)
	if err != nil {
		return fmt.Errorf("read the usages of entries: %w", err)
	}
	for i := range entries {
		if u, ok := usages[entries[i].ID]; ok {
			ref := u.RateCard
			entries[i].UsageID, entries[i].Feature, entries[i].Quantities, entries[i].Properties, entries[i].RateCard = u.ID, u.Feature, u.Quantities, u.Properties, &ref
		}
	}
	return nil
}
