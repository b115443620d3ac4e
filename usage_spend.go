package credits

import (
	"context"
	"errors"
	"time"
)

// UsageRequest is a usage of a feature: its quantities (Quantity alone is
// the quantity named "quantity") and properties that rates match.
type UsageRequest struct {
	Feature     string
	Quantity    *int64
	Quantities  map[string]int64
	Properties  map[string]string
	Description string
	Metadata    Metadata
	// HoldID, for a usage, is a hold (of a check with reserve) to capture
	// the price from.
	HoldID string
	// Reserve, for a check, makes a hold of the price, for
	// ExpiresInSeconds (DefaultHoldSeconds when 0).
	Reserve          bool
	ExpiresInSeconds int64
	// MemberID, when set, spends (or, for a check, quotes and reserves) as
	// that member of the account, under its cap.
	MemberID string
}

func (req *UsageRequest) validate() error {
	if err := ValidateID("feature", req.Feature); err != nil {
		return err
	}
	q, err := normalizeQuantities(req.Quantity, req.Quantities)
	if err != nil {
		return err
	}
	req.Quantity, req.Quantities = nil, q
	if err := validateProperties("properties", req.Properties); err != nil {
		return err
	}
	if req.Properties == nil {
		req.Properties = map[string]string{}
	}
	if req.Description, err = validateText("description", req.Description, false); err != nil {
		return err
	}
	return ValidateMetadata(req.Metadata)
}

// CheckResult says whether an account can pay for a usage, and its price.
type CheckResult struct {
	Allowed   bool        `json:"allowed"`
	Credits   int64       `json:"credits"`
	Available int64       `json:"available"`
	Shortfall int64       `json:"shortfall"`
	RateCard  RateCardRef `json:"rate_card"`
	Breakdown []PriceLine `json:"breakdown"`
	HoldID    string      `json:"hold_id,omitempty"`
	// Reason says why a usage is not allowed (absent when it is):
	// insufficient_credits, account_in_debt or member_cap_exceeded.
	Reason string `json:"reason,omitempty"`
	// Member is the member the check spends as (absent for none).
	Member *CheckMember `json:"member,omitempty"`
}

// Check prices a usage as RecordUsage would now, and says whether the
// account's available credits (and req.MemberID's cap) cover it. It
// changes nothing, unless req.Reserve: then a hold of the price is made in
// the same transaction, as the member (insufficient_credits or
// member_cap_exceeded when not allowed).
func (s *Service) Check(ctx context.Context, accountID string, req UsageRequest, idem *Idempotency) (CheckResult, bool, error) {
	if err := req.validate(); err != nil {
		return CheckResult{}, false, err
	}
	if req.ExpiresInSeconds == 0 {
		req.ExpiresInSeconds = DefaultHoldSeconds
	}
	if req.ExpiresInSeconds < 1 || req.ExpiresInSeconds > MaxHoldSeconds {
		return CheckResult{}, false, Errorf(EINVALID, "expires_in_seconds must be between 1 and %d", MaxHoldSeconds)
	}
	if !req.Reserve {
		res, err := s.quote(ctx, accountID, req)
		return res, false, err
	}
	return idempotentAs(s, ctx, idem, accountID, req.MemberID, func(tx Tx, now time.Time) (CheckResult, error) {
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return CheckResult{}, err
		}
		res, err := s.checkPrice(tx, account, req, now)
		if err != nil {
			return res, err
		}
		if res.Credits > 0 { // a price of 0 needs no hold, nor credits
			if err := checkAvailable(account, res.Credits, "the usage costs"); err != nil {
				return res, err
			}
			hold, account, err := s.reserve(tx, locked, account, HoldRequest{Amount: res.Credits, ExpiresInSeconds: req.ExpiresInSeconds,
				Description: req.Description, MemberID: req.MemberID}, now)
			if err != nil {
				return res, err
			}
			res.HoldID, res.Available = hold.ID, account.Balance-account.Held
		}
		return res, reservedMember(locked, &res, req.MemberID, now)
	})
}

// quote is a check that reserves nothing: a read, after settling what is
// due.
func (s *Service) quote(ctx context.Context, accountID string, req UsageRequest) (CheckResult, error) {
	if err := s.settleIfDue(ctx, accountID); err != nil {
		return CheckResult{}, err
	}
	now := s.now()
	var res CheckResult
	err := s.Store.View(ctx, func(tx Tx) error {
		account, err := getAccount(tx, accountID)
		if err != nil {
			return err
		}
		if res, err = s.checkPrice(tx, account, req, now); err != nil || req.MemberID == "" {
			return err
		}
		return quoteMember(tx, &res, accountID, req.MemberID, now)
	})
	return res, err
}

func (s *Service) checkPrice(tx Tx, account Account, req UsageRequest, now time.Time) (CheckResult, error) {
	price, err := s.priceFor(tx, account.ID, req.Feature, req.Quantities, req.Properties, now)
	if err != nil {
		return CheckResult{}, err
	}
	available := account.Balance - account.Held
	res := CheckResult{Credits: price.Credits, Available: available, RateCard: price.RateCard, Breakdown: price.Breakdown, Allowed: true}
	if price.Credits == 0 {
		return res, nil // it takes nothing, as RecordUsage takes nothing, even from an account in debt
	}
	res.Allowed = account.Debt == 0 && price.Credits <= available
	if price.Credits > available {
		res.Shortfall = price.Credits - max(available, 0)
		res.Reason = EINSUFFICIENT
	}
	if account.Debt > 0 {
		res.Reason = EINDEBT
	}
	return res, nil
}

// UsageResult is the answer to a usage.
type UsageResult struct {
	ID          string            `json:"id"`
	AccountID   string            `json:"account_id"`
	Feature     string            `json:"feature"`
	Quantities  map[string]int64  `json:"quantities"`
	Properties  map[string]string `json:"properties"`
	Credits     int64             `json:"credits"`
	Balance     int64             `json:"balance"`
	Available   int64             `json:"available"`
	RateCard    RateCardRef       `json:"rate_card"`
	Breakdown   []PriceLine       `json:"breakdown"`
	Lots        []LotAmount       `json:"lots"`
	HoldID      string            `json:"hold_id,omitempty"`
	MemberID    string            `json:"member_id,omitempty"`
	Description string            `json:"description"`
	Metadata    Metadata          `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
}

// RecordUsage prices a usage by the version of the account's rate card in
// effect now and takes its credits, all in one transaction: from the hold
// req.HoldID names (the rest released; a price above the hold takes the
// difference from available credits), or else from available credits.
// Refused (insufficient_credits) with nothing changed when they are short,
// and (member_cap_exceeded) when req.MemberID's cap does not allow them.
func (s *Service) RecordUsage(ctx context.Context, accountID string, req UsageRequest, idem *Idempotency) (UsageResult, bool, error) {
	if idem == nil {
		return UsageResult{}, false, Errorf(EINVALID, "an Idempotency-Key is required")
	}
	if err := req.validate(); err != nil {
		return UsageResult{}, false, err
	}
	if req.HoldID != "" {
		if err := lookupID("hold", req.HoldID); err != nil {
			return UsageResult{}, false, err
		}
	}
	return idempotentAs(s, ctx, idem, accountID, req.MemberID, func(tx Tx, now time.Time) (UsageResult, error) {
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return UsageResult{}, err
		}
		price, err := s.priceFor(tx, accountID, req.Feature, req.Quantities, req.Properties, now)
		if err != nil {
			return UsageResult{}, err
		}
		u := Usage{ID: NewOrderedID("use_"), AccountID: accountID, Feature: req.Feature, Quantities: req.Quantities,
			Properties: req.Properties, RateCard: price.RateCard, Credits: price.Credits, HoldID: req.HoldID, CreatedAt: now}
		var lots []LotAmount
		spend := req // a usage from a hold spends as the hold's member
		if req.HoldID != "" {
			account, lots, err = s.useHold(tx, locked, account, &u, &spend, now)
		} else {
			account, lots, err = takeUsage(locked, account, &u, req, price.Credits, now)
		}
		if err != nil {
			return UsageResult{}, err
		}
		if err := locked.AddUsage(u); err != nil {
			return UsageResult{}, err
		}
		if lots == nil {
			lots = []LotAmount{}
		}
		return UsageResult{ID: u.ID, AccountID: accountID, Feature: u.Feature, Quantities: u.Quantities, Properties: u.Properties,
			Credits: u.Credits, Balance: account.Balance, Available: account.Balance - account.Held, RateCard: u.RateCard,
			Breakdown: price.Breakdown, Lots: lots, HoldID: u.HoldID, MemberID: spend.MemberID, Description: req.Description, Metadata: req.Metadata, CreatedAt: now,
		}, s.alertAndRechargeIfLow(tx, locked, account, now)
	})
}

// takeUsage debits amount credits of a usage from available credits (none
// for 0), as Debit does, as req.MemberID under its cap.
func takeUsage(locked LockedAccount, account Account, u *Usage, req UsageRequest, amount int64, now time.Time) (Account, []LotAmount, error) {
	if amount > 0 {
		if err := checkAvailable(account, amount, "the usage costs"); err != nil {
			return account, nil, err
		}
	}
	charge, err := chargeUsage(locked, req.MemberID, amount, now)
	if err != nil {
		return account, nil, err
	}
	return debitUsage(locked, account, u, req, amount, charge, now)
}

// debitUsage writes the entry of amount credits of a usage (none for 0),
// which the caller checked and charged to its member (charge, nil for none),
// and names it on the usage as its EntryID (or ExtraEntryID when it already
// has one: the part beyond its hold).
func debitUsage(locked LockedAccount, account Account, u *Usage, req UsageRequest, amount int64, charge *MemberCharge, now time.Time) (Account, []LotAmount, error) {
	if amount == 0 {
		return account, nil, nil
	}
	entry := Entry{AccountID: account.ID, Amount: -amount, Kind: EntryDebit, Description: req.Description, CreatedAt: now}
	entry.Reference = metadataReference(req.Metadata)
	if entry.Reference == "" {
		entry.Reference = u.ID
	}
	if charge != nil {
		entry.spentAs(*charge)
	}
	account, entry, draws, err := takeFromLots(locked, account, entry)
	if err != nil {
		return account, nil, err
	}
	if u.EntryID == 0 {
		u.EntryID = entry.ID
	} else {
		u.ExtraEntryID = entry.ID
	}
	return account, draws, nil
}

// useHold takes a usage's price from one of the account's holds: the price
// is captured and the rest released; a price above the hold captures all of
// it and takes the difference from available credits, which are checked
// before anything changes. It spends as the hold's member (req.MemberID
// becomes it), whose cap the difference is charged to.
func (s *Service) useHold(tx Tx, locked LockedAccount, account Account, u *Usage, req *UsageRequest, now time.Time) (Account, []LotAmount, error) {
	hold, err := tx.Hold(req.HoldID)
	if errors.Is(err, ErrNotFound) || err == nil && hold.AccountID != account.ID {
		return account, nil, Errorf(ENOTFOUND, "hold %s not found", req.HoldID)
	} else if err != nil {
		return account, nil, err
	}
	if hold.Status == HoldHeld && !hold.ExpiresAt.After(now) {
		hold.Status = HoldExpired // not settled yet (a settlement closes a bounded number)
	}
	if hold.Status != HoldHeld {
		return account, nil, Errorf(ECONFLICT, "hold %s is %s; it can no longer be captured", hold.ID, hold.Status)
	}
	if req.MemberID, err = spendsAsHoldMember(locked, hold, req.MemberID); err != nil {
		return account, nil, err
	}
	captured := min(u.Credits, hold.Amount)
	extra := u.Credits - captured
	if extra > 0 {
		if err := checkAvailable(account, extra, "the usage costs beyond its hold"); err != nil {
			return account, nil, err
		}
	}
	charge, err := chargeUsage(locked, req.MemberID, extra, now)
	if err != nil {
		return account, nil, err
	}
	status := HoldCaptured
	if captured == 0 {
		status = HoldReleased
	}
	if account, hold, err = s.closeHold(locked, account, hold, captured, status, now); err != nil {
		return account, nil, err
	}
	var lots []LotAmount
	if u.EntryID = hold.captureEntryID; u.EntryID != 0 {
		if lots, err = tx.EntryDraws(u.EntryID); err != nil {
			return account, nil, err
		}
	}
	account, more, err := debitUsage(locked, account, u, *req, extra, charge, now)
	for _, d := range more {
		lots = addDraw(lots, d)
	}
	return account, lots, err
}
