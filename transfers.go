package credits

import (
	"context"
	"time"
)

// Entry kinds of a transfer, one on each account's ledger.
const (
	EntryTransferOut = "transfer_out"
	EntryTransferIn  = "transfer_in"
)

// OutTransferCreated is written to both accounts of a transfer.
const OutTransferCreated = "transfer.created"

// MaxTransferLots bounds the lots one transfer reads from its sender.
const MaxTransferLots = 1000

// TransferRequest moves credits from one account to another.
type TransferRequest struct {
	From           string
	To             string
	Credits        int64
	Description    string
	IncludeGranted bool
}

// TransferPart is what one lot of the sender gave to one new lot of the
// receiver, which keeps its expiry, priority and origin.
type TransferPart struct {
	FromLot   int64      `json:"from_lot"`
	ToLot     int64      `json:"to_lot"`
	Credits   int64      `json:"credits"`
	ExpiresAt *time.Time `json:"expires_at"`
	// OriginLot is the lot the credits first arrived in (a purchase's or a
	// grant's), in whichever account.
	OriginLot int64 `json:"origin_lot"`
}

// Transfer is credits moved between accounts, lot by lot.
type Transfer struct {
	ID             string         `json:"id"`
	From           string         `json:"from"`
	To             string         `json:"to"`
	Credits        int64          `json:"credits"`
	Description    string         `json:"description"`
	IncludeGranted bool           `json:"include_granted"`
	Parts          []TransferPart `json:"parts"`
	CreatedAt      time.Time      `json:"created_at"`
}

// TransferTx is the transfers' part of Tx. A transfer is written with both
// its accounts locked.
type TransferTx interface {
	// CreateTransfer writes a transfer, its parts, and the origin of each
	// lot it made.
	CreateTransfer(t Transfer) error
	Transfer(id string) (Transfer, error)
	// Transfers lists the transfers from or to an account, newest first.
	Transfers(accountID string, limit int) ([]Transfer, error)
	// LotOrigin returns the lot whose credits a lot holds (itself, unless a
	// transfer made it).
	LotOrigin(lotID int64) (int64, error)
	// MovedLots lists the lots that transfers made from credits of an
	// origin lot, with their accounts, by id.
	MovedLots(originLotID int64) ([]Lot, error)
	// LotMovedOut sums what transfers took from a lot.
	LotMovedOut(lotID int64) (int64, error)
	// MovedToAccounts lists the accounts, other than accountID, holding
	// lots that transfers made of the credits of the lot of accountID's
	// purchase of session sessionID, by id.
	MovedToAccounts(accountID, sessionID string) ([]string, error)
	// BrokenTransfers describes every transfer whose parts do not sum to
	// its credits, every part whose lots are not of its transfer's sender
	// and receiver, and every part whose new lot names no origin or differs
	// from the lot it came from in expiry, priority, source or reference
	// (verify).
	BrokenTransfers() ([]string, error)
}

// Transfer moves credits from one account to another in burn-down order:
// each part taken from a lot of the sender becomes a lot of the receiver
// with the same expiry, priority and origin. Only purchased credits move
// unless IncludeGranted. Both accounts are locked, in the order of their
// ids, so that opposite transfers at once wait for each other, never in a
// cycle.
func (s *Service) Transfer(ctx context.Context, req TransferRequest, idem *Idempotency) (Transfer, bool, error) {
	if err := validateTransfer(&req); err != nil {
		return Transfer{}, false, err
	}
	return idempotentUpdate(s, ctx, idem, func(tx Tx, now time.Time) (Transfer, error) {
		from, to, err := s.lockPair(tx, req.From, req.To, now)
		if err != nil {
			return Transfer{}, err
		}
		t := Transfer{ID: NewOrderedID("tr_"), From: req.From, To: req.To, Credits: req.Credits, Description: req.Description,
			IncludeGranted: req.IncludeGranted, CreatedAt: now}
		if err := checkAvailable(from.account, req.Credits, "the transfer moves"); err != nil {
			return Transfer{}, err
		}
		lots, err := movableLots(from.locked, req.Credits, req.IncludeGranted, now)
		if err != nil {
			return Transfer{}, err
		}
		if t.Parts, err = moveLots(tx, from, to, t, lots); err != nil {
			return Transfer{}, err
		}
		if err := tx.CreateTransfer(t); err != nil {
			return Transfer{}, err
		}
		for _, side := range []*lockedSide{from, to} {
			if err := emit(side.locked, OutTransferCreated, t, now); err != nil {
				return Transfer{}, err
			}
			if err := s.alertAndRechargeIfLow(tx, side.locked, side.account, now); err != nil {
				return Transfer{}, err
			}
		}
		return t, nil
	})
}

func validateTransfer(req *TransferRequest) error {
	if err := lookupID("account", req.From); err != nil {
		return err
	}
	if err := lookupID("account", req.To); err != nil {
		return err
	}
	if req.From == req.To {
		return Errorf(EINVALID, "from and to must be different accounts")
	}
	if err := validateAmount("credits", req.Credits); err != nil {
		return err
	}
	description, err := validateText("description", req.Description, false)
	req.Description = description
	return err
}

// lockedSide is one locked account of a transfer, as it stands.
type lockedSide struct {
	locked  LockedAccount
	account Account
}

// lockPair locks and settles two accounts, the lower id first.
func (s *Service) lockPair(tx Tx, fromID, toID string, now time.Time) (from, to *lockedSide, err error) {
	first, second := fromID, toID
	if second < first {
		first, second = second, first
	}
	sides := map[string]*lockedSide{}
	for _, id := range []string{first, second} {
		locked, account, err := s.settle(tx, id, now)
		if err != nil {
			return nil, nil, err
		}
		sides[id] = &lockedSide{locked: locked, account: account}
	}
	return sides[fromID], sides[toID], nil
}

// movableLots lists the sender's lots to take amount from, in burn-down
// order: its purchased credits (and granted ones when includeGranted), with
// what to take of each; 402 when they hold fewer.
func movableLots(locked LockedAccount, amount int64, includeGranted bool, now time.Time) ([]LotAmount, error) {
	lots, err := locked.SpendableLots(now, MaxTransferLots)
	if err != nil {
		return nil, err
	}
	var takes []LotAmount
	left := amount
	for _, lot := range lots {
		if left == 0 {
			break
		}
		if lot.Source != EntryPurchase && !(includeGranted && lot.Source == EntryGrant) {
			continue
		}
		take := min(left, lot.Spendable())
		takes = append(takes, LotAmount{LotID: lot.ID, Amount: take})
		left -= take
	}
	if left > 0 {
		what := "purchased"
		if includeGranted {
			what = "purchased and granted"
		}
		return nil, Errorf(EINSUFFICIENT, "account %s has %d %s credits that may move; the transfer moves %d",
			locked.Account().ID, amount-left, what, amount)
	}
	return takes, nil
}

// moveLots takes each part from its lot of the sender and makes a lot of
// the receiver with the same expiry, priority, source and reference (the
// receiver's debt is paid from them first), and writes the two entries.
func moveLots(tx Tx, from, to *lockedSide, t Transfer, takes []LotAmount) ([]TransferPart, error) {
	balance, err := AddCredits(to.account.Balance, t.Credits)
	if err != nil {
		return nil, Errorf(EINVALID, "credits would overflow the balance of account %s", t.To)
	}
	parts := make([]TransferPart, 0, len(takes))
	repaid := int64(0)
	for _, take := range takes {
		lot, err := from.locked.Lot(take.LotID)
		if err != nil {
			return nil, err
		}
		if err := from.locked.SetLot(lot.ID, lot.Remaining-take.Amount, lot.Reserved); err != nil {
			return nil, err
		}
		origin, err := tx.LotOrigin(lot.ID)
		if err != nil {
			return nil, err
		}
		pay := min(to.account.Debt-repaid, take.Amount)
		repaid += pay
		moved := Lot{AccountID: t.To, Amount: take.Amount, Remaining: take.Amount - pay, Priority: lot.Priority, ExpiresAt: lot.ExpiresAt,
			Source: lot.Source, Reference: lot.Reference, CreatedAt: t.CreatedAt}
		if moved.ID, err = to.locked.AddLot(moved); err != nil {
			return nil, err
		}
		parts = append(parts, TransferPart{FromLot: lot.ID, ToLot: moved.ID, Credits: take.Amount, ExpiresAt: lot.ExpiresAt, OriginLot: origin})
	}
	from.account.Balance -= t.Credits
	out := Entry{AccountID: t.From, Amount: -t.Credits, Kind: EntryTransferOut, Reference: t.ID, Description: t.Description, CreatedAt: t.CreatedAt}
	if out, err = addEntry(from.locked, from.account, out); err != nil {
		return nil, err
	}
	if err := from.locked.AddLotDraws(out.ID, takes); err != nil {
		return nil, err
	}
	if err := repayFromTransfer(to, repaid, t.CreatedAt); err != nil {
		return nil, err
	}
	to.account.Balance = balance
	in := Entry{AccountID: t.To, Amount: t.Credits, Kind: EntryTransferIn, Reference: t.ID, Description: t.Description, CreatedAt: t.CreatedAt}
	_, err = addEntry(to.locked, to.account, in)
	return parts, err
}

// repayFromTransfer records what the moved credits paid of the receiver's
// debt.
func repayFromTransfer(to *lockedSide, repaid int64, now time.Time) error {
	if repaid == 0 {
		return nil
	}
	to.account.Debt -= repaid
	if err := to.locked.SetDebt(to.account.Debt); err != nil {
		return err
	}
	if to.account.Debt == 0 {
		return emit(to.locked, OutAccountDebtSettled, map[string]any{"repaid": repaid}, now)
	}
	return nil
}

// GetTransfer reads a transfer.
func (s *Service) GetTransfer(ctx context.Context, id string) (Transfer, error) {
	return viewOne(ctx, s, "transfer", id, func(tx Tx, id string) (Transfer, error) { return tx.Transfer(id) })
}

// ListTransfers lists the transfers from or to an account, newest first.
func (s *Service) ListTransfers(ctx context.Context, accountID string, limit int) ([]Transfer, error) {
	limit, err := PageSize(limit)
	if err != nil {
		return nil, err
	}
	if err := lookupID("account", accountID); err != nil {
		return nil, err
	}
	var transfers []Transfer
	err = s.Store.View(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		transfers, err = tx.Transfers(accountID, limit)
		return err
	})
	if transfers == nil {
		transfers = []Transfer{}
	}
	return transfers, err
}
