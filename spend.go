package credits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the spending API.
const (
	MaxAmount               = 1_000_000_000_000_000_000 // 10^18 credits in one operation
	MaxIdempotencyKeyLength = 255
	IdempotencyKeyRetention = 30 * 24 * time.Hour
	MaxDescriptionLength    = 500
	MaxMetadataKeys         = 20
	MaxMetadataKeyLength    = 40
	MaxMetadataValueLength  = 500
	MaxPriority             = 1_000_000
	DefaultHoldSeconds      = 600
	MaxHoldSeconds          = 30 * 24 * 3600
)

// Idempotency identifies a request that must have at most one effect. Scope
// keeps keys of different API keys and accounts apart; RequestHash is a digest
// of the request, so that a key reused for another request is refused.
type Idempotency struct {
	Scope       string
	Key         string
	RequestHash string
}

// ValidateIdempotencyKey checks a client's key: 1–255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLength {
		return Errorf(EINVALID, "Idempotency-Key must be 1 to %d characters", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return Errorf(EINVALID, "Idempotency-Key must be printable ASCII")
		}
	}
	return nil
}

// validate refuses a key that the HTTP layer would have refused, and a
// scope that is not text without NUL, for callers of the library: a
// PostgreSQL batch reads its writes' keys ahead, and one the server refuses
// to take as text would fail every write of the batch.
func (idem *Idempotency) validate() error {
	if idem == nil {
		return nil
	}
	if err := ValidateIdempotencyKey(idem.Key); err != nil {
		return err
	}
	if !utf8.ValidString(idem.Scope) || strings.IndexByte(idem.Scope, 0) >= 0 {
		return Errorf(EINVALID, "the idempotency scope must be text without NUL")
	}
	return nil
}

// HashRequest digests the parts of a request that a replay must repeat.
func HashRequest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent runs op, which locks accountID first, in one transaction with
// the key: the first request's answer, result or expected error, is stored
// with its effect; a repeat gets that answer again (replayed = true) and
// changes nothing. Internal errors store nothing, so a retry runs again.
func idempotent[T any](s *Service, ctx context.Context, idem *Idempotency, accountID string, op func(tx Tx, now time.Time) (T, error)) (result T, replayed bool, err error) {
	return idempotentAs(s, ctx, idem, accountID, "", op)
}

// idempotentAs is idempotent for a spend as memberID ("": none), which the
// store may read with the account.
func idempotentAs[T any](s *Service, ctx context.Context, idem *Idempotency, accountID, memberID string, op func(tx Tx, now time.Time) (T, error)) (result T, replayed bool, err error) {
	if err := idem.validate(); err != nil {
		return result, false, err
	}
	now := s.now()
	w := AccountWrite{AccountID: accountID, Now: now, MemberID: memberID}
	if idem != nil {
		w.Scope, w.Key = idem.Scope, idem.Key
	}
	run := func(fn func(Tx) error) error { return s.updateAccount(ctx, w, fn) }
	return runIdempotent(run, idem, now, op)
}

// idempotentUpdate is idempotent for an op that locks more than one
// account (a transfer): it runs alone, never grouped with other writes.
func idempotentUpdate[T any](s *Service, ctx context.Context, idem *Idempotency, op func(tx Tx, now time.Time) (T, error)) (result T, replayed bool, err error) {
	if err := idem.validate(); err != nil {
		return result, false, err
	}
	run := func(fn func(Tx) error) error { return s.update(ctx, fn) }
	return runIdempotent(run, idem, s.now(), op)
}

// runIdempotent is idempotent's transaction, run by run.
func runIdempotent[T any](run func(func(Tx) error) error, idem *Idempotency, now time.Time, op func(tx Tx, now time.Time) (T, error)) (result T, replayed bool, err error) {
	var opErr error
	err = run(func(tx Tx) error {
		var zero T
		result, replayed, opErr = zero, false, nil
		if idem != nil {
			done, again, stored, err := replay(tx, idem, now, &result)
			if done || err != nil {
				replayed, opErr = again, stored
				return err
			}
		}
		result, opErr = op(tx, now)
		if code := ErrorCode(opErr); opErr != nil && (code == EINTERNAL || code == EUNAVAILABLE) {
			return opErr // not an answer to keep: the request is retried
		}
		if idem == nil {
			return nil
		}
		return keepAnswer(tx, idem, now, result, opErr)
	})
	if err != nil {
		var zero T
		return zero, false, err
	}
	return result, replayed, opErr
}

// replay looks the key up: done says the stored answer (into result, or
// opErr) is the request's.
func replay[T any](tx Tx, idem *Idempotency, now time.Time, result *T) (done, replayed bool, opErr, err error) {
	rec, err := tx.IdempotencyRecord(idem.Scope, idem.Key)
	switch {
	case err == nil && rec.CreatedAt.After(now.Add(-IdempotencyKeyRetention)):
		if rec.RequestHash != idem.RequestHash {
			return true, false, Errorf(EIDEMPOTENCY, "Idempotency-Key %q was already used with another request", idem.Key), nil
		}
		if rec.ErrorCode != "" {
			return true, true, Errorf(rec.ErrorCode, "%s", rec.ErrorMessage), nil
		}
		return true, true, nil, json.Unmarshal(rec.Result, result)
	case err == nil: // older than the retention: forget it
		return false, false, nil, tx.DeleteIdempotencyRecord(idem.Scope, idem.Key)
	case !errors.Is(err, ErrNotFound):
		return false, false, nil, err
	}
	return false, false, nil, nil
}

// keepAnswer stores the first answer to a key with its effect.
func keepAnswer(tx Tx, idem *Idempotency, now time.Time, result any, opErr error) error {
	rec := IdempotencyRecord{Scope: idem.Scope, Key: idem.Key, RequestHash: idem.RequestHash, CreatedAt: now}
	if opErr != nil {
		rec.ErrorCode, rec.ErrorMessage = ErrorCode(opErr), ErrorMessage(opErr)
	} else {
		var err error
		if rec.Result, err = json.Marshal(result); err != nil {
			return err
		}
	}
	if err := tx.CreateIdempotencyRecord(rec); err != nil {
		if errors.Is(err, ErrConflict) {
			return errRetry // another replica stored this key first: read its answer
		}
		return err
	}
	return nil
}

// Metadata is a client's small key-value annotations.
type Metadata map[string]string

// ValidateMetadata checks metadata against its limits.
func ValidateMetadata(m Metadata) error {
	if len(m) > MaxMetadataKeys {
		return Errorf(EINVALID, "metadata may hold at most %d keys", MaxMetadataKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxMetadataKeyLength {
			return Errorf(EINVALID, "metadata keys must be 1 to %d characters", MaxMetadataKeyLength)
		}
		if !PlainText(k) || !PlainText(v) {
			return Errorf(EINVALID, "metadata keys and values must be valid UTF-8 without control characters")
		}
		if len(v) > MaxMetadataValueLength {
			return Errorf(EINVALID, "metadata value of %q must be at most %d characters", k, MaxMetadataValueLength)
		}
	}
	return nil
}

func validateAmount(field string, amount int64) error {
	if amount <= 0 || amount > MaxAmount {
		return Errorf(EINVALID, "%s must be a whole number between 1 and %d", field, int64(MaxAmount))
	}
	return nil
}

func validateText(field, text string, required bool) (string, error) {
	if err := checkText(field, text); err != nil {
		return text, err
	}
	text = strings.TrimSpace(text)
	if required && text == "" {
		return text, Errorf(EINVALID, "%s is required", field)
	}
	if len(text) > MaxDescriptionLength {
		return text, Errorf(EINVALID, "%s must be at most %d characters", field, MaxDescriptionLength)
	}
	return text, nil
}

// DebitRequest spends credits.
type DebitRequest struct {
	Amount      int64
	Description string
	Metadata    Metadata
	// MemberID, when set, spends as that member of the account, under its cap.
	MemberID string
}

// DebitResult is the answer to a debit.
type DebitResult struct {
	ID          int64       `json:"id"`
	AccountID   string      `json:"account_id"`
	Amount      int64       `json:"amount"`
	Description string      `json:"description"`
	Metadata    Metadata    `json:"metadata"`
	MemberID    string      `json:"member_id,omitempty"`
	Balance     int64       `json:"balance"`
	Available   int64       `json:"available"`
	Lots        []LotAmount `json:"lots"`
	CreatedAt   time.Time   `json:"created_at"`
}

// Debit spends amount credits from the account's available credits, from its
// lots in burn-down order; all or nothing.
func (s *Service) Debit(ctx context.Context, accountID string, req DebitRequest, idem *Idempotency) (DebitResult, bool, error) {
	if err := validateAmount("amount", req.Amount); err != nil {
		return DebitResult{}, false, err
	}
	description, err := validateText("description", req.Description, false)
	if err != nil {
		return DebitResult{}, false, err
	}
	if err := ValidateMetadata(req.Metadata); err != nil {
		return DebitResult{}, false, err
	}
	return idempotentAs(s, ctx, idem, accountID, req.MemberID, func(tx Tx, now time.Time) (DebitResult, error) {
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return DebitResult{}, err
		}
		if err := checkAvailable(account, req.Amount, "requested"); err != nil {
			return DebitResult{}, err
		}
		var charge MemberCharge
		if req.MemberID != "" {
			if charge, err = chargeMember(locked, req.MemberID, req.Amount, false, now); err != nil {
				return DebitResult{}, err
			}
		}
		entry := Entry{AccountID: accountID, Amount: -req.Amount, Kind: EntryDebit, Description: description, CreatedAt: now}
		entry.Reference = metadataReference(req.Metadata)
		if req.MemberID != "" {
			entry.spentAs(charge)
		}
		account, entry, draws, err := takeFromLots(locked, account, entry)
		if err != nil {
			return DebitResult{}, err
		}
		if err := s.alertAndRechargeIfLow(tx, locked, account, now); err != nil {
			return DebitResult{}, err
		}
		return DebitResult{
			ID: entry.ID, AccountID: accountID, Amount: req.Amount, Description: description, Metadata: req.Metadata, MemberID: req.MemberID,
			Balance: account.Balance, Available: account.Balance - account.Held, Lots: draws, CreatedAt: now,
		}, nil
	})
}

// checkAvailable refuses to take amount credits from an account that has
// fewer available, or that is in debt (which new credits must pay first).
func checkAvailable(account Account, amount int64, what string) error {
	if account.Debt > 0 {
		return Errorf(EINDEBT, "account %s owes %d credits that a refund or dispute took back after they were spent; new credits pay the debt first", account.ID, account.Debt)
	}
	if available := account.Balance - account.Held; amount > available {
		return Errorf(EINSUFFICIENT, "account %s has %d credits available; %s %d", account.ID, available, what, amount)
	}
	return nil
}

func metadataReference(m Metadata) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// takeFromLots writes entry (a negative amount) and takes it from the
// account's spendable lots in burn-down order. The caller has checked that the
// account has the credits available.
func takeFromLots(locked LockedAccount, account Account, entry Entry) (Account, Entry, []LotAmount, error) {
	account.Balance += entry.Amount
	entry.BalanceAfter = account.Balance
	var draws []LotAmount
	var err error
	if entry.Amount < 0 {
		entry.ID, draws, err = locked.AddEntryTakingFromLots(entry)
	} else {
		entry.ID, err = locked.AddEntry(entry)
	}
	if err == nil {
		err = keepTrial(locked, account)
	}
	return account, entry, draws, err
}

// A draw reads firstLotBatch lots, and lotBatch at a time after that: most
// draws need one lot, and reading (and decoding) 32 to use one was a fifth
// of a debit's CPU when accounts had many lots.
const (
	firstLotBatch = 2
	lotBatch      = 32
)

// EachSpendableLot calls use with the lots to take amount from, in burn-down
// order (SpendableLots at now), and how much to take of each; use must take it
// (so that the next batch starts after it). The caller has checked that the
// credits are there. Stores walk a spend's lots with it too.
func EachSpendableLot(locked LockedAccount, now time.Time, amount int64, use func(lot Lot, take int64) error) error {
	for batch := firstLotBatch; amount > 0; batch = lotBatch {
		lots, err := locked.SpendableLots(now, batch)
		if err != nil {
			return err
		}
		if len(lots) == 0 {
			panic(fmt.Sprintf("account %s: lots hold %d fewer credits than available says", locked.Account().ID, amount))
		}
		for _, lot := range lots {
			take := min(amount, lot.Spendable())
			if err := use(lot, take); err != nil {
				return err
			}
			if amount -= take; amount == 0 {
				return nil
			}
		}
	}
	return nil
}

// addEntry appends entry to the ledger with the account's new balance, which
// AddEntry stores; and the trial flag, when it changed (a first purchase).
func addEntry(locked LockedAccount, account Account, entry Entry) (Entry, error) {
	entry.BalanceAfter = account.Balance
	id, err := locked.AddEntry(entry)
	if err != nil {
		return entry, err
	}
	entry.ID = id
	return entry, keepTrial(locked, account)
}

// keepTrial stores the account's trial flag when it changed (AddEntry
// stores the balance alone).
func keepTrial(locked LockedAccount, account Account) error {
	if account.Trial == locked.Account().Trial {
		return nil
	}
	return locked.SetBalance(account.Balance, account.Trial)
}

// GrantRequest adds promotional or goodwill credits.
type GrantRequest struct {
	Amount    int64
	ExpiresAt *time.Time
	Priority  int64
	Reason    string
}

// GrantResult is the answer to a grant.
type GrantResult struct {
	ID        int64      `json:"id"`
	AccountID string     `json:"account_id"`
	LotID     int64      `json:"lot_id"`
	Amount    int64      `json:"amount"`
	ExpiresAt *time.Time `json:"expires_at"`
	Priority  int64      `json:"priority"`
	Reason    string     `json:"reason"`
	Balance   int64      `json:"balance"`
	Available int64      `json:"available"`
	CreatedAt time.Time  `json:"created_at"`
}

// Grant adds a lot of credits to an account.
func (s *Service) Grant(ctx context.Context, accountID string, req GrantRequest, idem *Idempotency) (GrantResult, bool, error) {
	if err := validateAmount("amount", req.Amount); err != nil {
		return GrantResult{}, false, err
	}
	if req.Priority < 0 || req.Priority > MaxPriority {
		return GrantResult{}, false, Errorf(EINVALID, "priority must be between 0 and %d", MaxPriority)
	}
	reason, err := validateText("reason", req.Reason, false)
	if err != nil {
		return GrantResult{}, false, err
	}
	return idempotent(s, ctx, idem, accountID, func(tx Tx, now time.Time) (GrantResult, error) {
		if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
			return GrantResult{}, Errorf(EINVALID, "expires_at must be in the future")
		}
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return GrantResult{}, err
		}
		lot := Lot{AccountID: accountID, Amount: req.Amount, Priority: req.Priority, ExpiresAt: req.ExpiresAt, Source: EntryGrant, Reference: reason, CreatedAt: now}
		entry := Entry{AccountID: accountID, Amount: req.Amount, Kind: EntryGrant, Reference: "", Description: reason, CreatedAt: now}
		account, entry, lot, err = addLot(locked, account, entry, lot)
		if err != nil {
			return GrantResult{}, err
		}
		result := GrantResult{
			ID: entry.ID, AccountID: accountID, LotID: lot.ID, Amount: req.Amount, ExpiresAt: req.ExpiresAt,
			Priority: req.Priority, Reason: reason, Balance: account.Balance, Available: account.Balance - account.Held, CreatedAt: now,
		}
		if err := emit(locked, OutCreditsGranted, result, now); err != nil {
			return result, err
		}
		return result, s.alertAndRechargeIfLow(tx, locked, account, now)
	})
}

// addLot credits a new lot with its ledger entry; the entry's reference is
// the lot's id unless the caller set one. The new credits pay back any debt
// first.
func addLot(locked LockedAccount, account Account, entry Entry, lot Lot) (Account, Entry, Lot, error) {
	balance, err := AddCredits(account.Balance, lot.Amount)
	if err != nil {
		return account, entry, lot, Errorf(EINVALID, "amount would overflow the balance of account %s", account.ID)
	}
	repaid := min(account.Debt, lot.Amount)
	lot.Remaining = lot.Amount - repaid
	if lot.ID, err = locked.AddLot(lot); err != nil {
		return account, entry, lot, err
	}
	if repaid > 0 {
		account.Debt -= repaid
		if err := locked.SetDebt(account.Debt); err != nil {
			return account, entry, lot, err
		}
		if account.Debt == 0 {
			if err := emit(locked, OutAccountDebtSettled, map[string]any{"repaid": repaid}, lot.CreatedAt); err != nil {
				return account, entry, lot, err
			}
		}
	}
	if entry.Reference == "" {
		entry.Reference = fmt.Sprintf("lot_%d", lot.ID)
	}
	account.Balance = balance
	entry, err = addEntry(locked, account, entry)
	return account, entry, lot, err
}

// AdjustmentRequest is an operator's correction: a signed amount and why.
type AdjustmentRequest struct {
	Amount int64
	Reason string
}

// Adjust corrects an account's balance with a new entry: a positive amount
// adds a lot; a negative one takes from the lots like a debit, and is refused
// when the available credits are short.
func (s *Service) Adjust(ctx context.Context, accountID string, req AdjustmentRequest, idem *Idempotency) (DebitResult, bool, error) {
	if req.Amount == 0 || req.Amount > MaxAmount || req.Amount < -MaxAmount {
		return DebitResult{}, false, Errorf(EINVALID, "amount must be a non-zero whole number between -%d and %d", int64(MaxAmount), int64(MaxAmount))
	}
	reason, err := validateText("reason", req.Reason, true)
	if err != nil {
		return DebitResult{}, false, err
	}
	return idempotent(s, ctx, idem, accountID, func(tx Tx, now time.Time) (DebitResult, error) {
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return DebitResult{}, err
		}
		entry := Entry{AccountID: accountID, Amount: req.Amount, Kind: EntryAdjustment, Description: reason, CreatedAt: now}
		var draws []LotAmount
		if req.Amount > 0 {
			lot := Lot{AccountID: accountID, Amount: req.Amount, Source: EntryAdjustment, Reference: reason, CreatedAt: now}
			if account, entry, lot, err = addLot(locked, account, entry, lot); err != nil {
				return DebitResult{}, err
			}
			draws = []LotAmount{{LotID: lot.ID, Amount: req.Amount}}
		} else {
			if err := checkAvailable(account, -req.Amount, "the adjustment takes"); err != nil {
				return DebitResult{}, err
			}
			if account, entry, draws, err = takeFromLots(locked, account, entry); err != nil {
				return DebitResult{}, err
			}
		}
		result := DebitResult{ID: entry.ID, AccountID: accountID, Amount: req.Amount, Description: reason,
			Balance: account.Balance, Available: account.Balance - account.Held, Lots: draws, CreatedAt: now}
		if err := emit(locked, OutCreditsAdjusted, result, now); err != nil {
			return result, err
		}
		return result, s.alertAndRechargeIfLow(tx, locked, account, now)
	})
}
