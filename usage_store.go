package credits

import "time"

// RateCard is a named, versioned set of prices; Current is the version in
// effect now and Versions every version, oldest first.
type RateCard struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"created_at"`
	Current   *RateCardVersion  `json:"current"`
	Versions  []RateCardVersion `json:"versions"`
}

// Usage is one priced use of a feature by an account, pinned to the rate
// card version that priced it, and the entries that took its credits:
// EntryID (a debit, or the capture of HoldID) and ExtraEntryID (the debit of
// what the price exceeded the hold by); 0 when none (a usage of 0 credits).
type Usage struct {
	ID           string            `json:"id"`
	AccountID    string            `json:"account_id"`
	Feature      string            `json:"feature"`
	Quantities   map[string]int64  `json:"quantities"`
	Properties   map[string]string `json:"properties"`
	RateCard     RateCardRef       `json:"rate_card"`
	Credits      int64             `json:"credits"`
	HoldID       string            `json:"hold_id,omitempty"`
	EntryID      int64             `json:"entry_id,omitempty"`
	ExtraEntryID int64             `json:"extra_entry_id,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
}

// UsageEntries is a usage that took an entry's credits, with the entry's
// entries' sum, for verify.
type UsageEntries struct {
	Usage
	EntrySum int64 // what its entries add up to (negative)
}

// PricingTx is what a transaction reads and writes of features, rate cards
// and usages (embedded in Tx).
type PricingTx interface {
	// CreateFeature, CreateRateCard and AddRateCardVersion return
	// ErrConflict when the id (the version) exists.
	CreateFeature(f Feature) error
	Feature(id string) (Feature, error)
	Features() ([]Feature, error)
	CreateRateCard(c RateCard) error
	// RateCard reads a card without its versions.
	RateCard(id string) (RateCard, error)
	AddRateCardVersion(v RateCardVersion) error
	// RateCardVersions lists a card's versions, oldest first.
	RateCardVersions(id string) ([]RateCardVersion, error)
	RateCardVersion(id string, version int64) (RateCardVersion, error)
	// PricingVersion reads what prices a usage by the account at now: its
	// rate card (its own, else DefaultRateCard) and the latest version of
	// it in effect at now (Version 0: none yet).
	PricingVersion(accountID string, now time.Time) (RateCardRef, error)
	// AccountRateCard reads the id of an account's own rate card
	// (ErrNotFound when it has none); SetAccountRateCard sets it.
	AccountRateCard(accountID string) (string, error)
	SetAccountRateCard(accountID, rateCardID string, now time.Time) error
	// EntryUsages reads the usages that took the credits of the given
	// entries, by entry id.
	EntryUsages(entryIDs []int64) (map[int64]Usage, error)
	// UsagesBetween lists an account's usages created in [from, to), oldest
	// first, at most limit.
	UsagesBetween(accountID string, from, to time.Time, limit int) ([]Usage, error)
	// AllUsages lists every usage by id after the given one, at most limit,
	// with what its entries add up to (verify).
	AllUsages(after string, limit int) ([]UsageEntries, error)
}

// UsageWriter records a usage of the locked account (embedded in
// LockedAccount).
type UsageWriter interface {
	AddUsage(u Usage) error
}
