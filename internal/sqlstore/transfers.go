package sqlstore

import (
	"errors"
	"fmt"

	"github.com/credits/credits"
)

const transferColumns = `id, from_account, to_account, credits, description, include_granted, created_at`

func scanTransfer(s scanner) (credits.Transfer, error) {
	var t credits.Transfer
	return t, s.Scan(&t.ID, &t.From, &t.To, &t.Credits, &t.Description, &t.IncludeGranted, timeValue{&t.CreatedAt})
}

func (t *Tx) CreateTransfer(tr credits.Transfer) error {
	_, err := t.exec("create transfer "+tr.ID, `INSERT INTO transfers (`+transferColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tr.ID, tr.From, tr.To, tr.Credits, tr.Description, tr.IncludeGranted, t.d.Time(tr.CreatedAt))
	if err != nil {
		return err
	}
	for i, p := range tr.Parts {
		_, err := t.exec(fmt.Sprintf("record part %d of transfer %s", i, tr.ID),
			`INSERT INTO transfer_parts (transfer_id, seq, from_lot, to_lot, credits, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			tr.ID, i, p.FromLot, p.ToLot, p.Credits, t.d.nullTime(p.ExpiresAt))
		if err != nil {
			return err
		}
		_, err = t.exec(fmt.Sprintf("record the origin of lot %d", p.ToLot),
			`INSERT INTO lot_origins (lot_id, origin_lot_id, transfer_id) VALUES (?, ?, ?)`, p.ToLot, p.OriginLot, tr.ID)
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) Transfer(id string) (credits.Transfer, error) {
	tr, err := queryOne(t, "read transfer "+id, scanTransfer, `SELECT `+transferColumns+` FROM transfers WHERE id = ?`, id)
	if err != nil {
		return tr, err
	}
	return tr, t.transferParts(&tr)
}

func (t *Tx) transferParts(tr *credits.Transfer) error {
	parts, err := queryAll(t, "read the parts of transfer "+tr.ID, func(s scanner) (credits.TransferPart, error) {
		var p credits.TransferPart
		return p, s.Scan(&p.FromLot, &p.ToLot, &p.Credits, nullTimeValue{&p.ExpiresAt}, &p.OriginLot)
	}, `SELECT p.from_lot, p.to_lot, p.credits, p.expires_at, o.origin_lot_id FROM transfer_parts p
		JOIN lot_origins o ON o.lot_id = p.to_lot WHERE p.transfer_id = ? ORDER BY p.seq`, tr.ID)
	if parts == nil {
		parts = []credits.TransferPart{}
	}
	tr.Parts = parts
	return err
}

func (t *Tx) Transfers(accountID string, limit int) ([]credits.Transfer, error) {
	transfers, err := queryAll(t, "list transfers of account "+accountID, scanTransfer, `SELECT `+transferColumns+` FROM transfers
		WHERE from_account = ? OR to_account = ? ORDER BY id DESC LIMIT ?`, accountID, accountID, limit)
	if err != nil {
		return nil, err
	}
	for i := range transfers {
		if err := t.transferParts(&transfers[i]); err != nil {
			return nil, err
		}
	}
	return transfers, nil
}

func (t *Tx) LotOrigin(lotID int64) (int64, error) {
	origin, err := queryOne(t, fmt.Sprintf("read the origin of lot %d", lotID), scanInt64,
		`SELECT origin_lot_id FROM lot_origins WHERE lot_id = ?`, lotID)
	if errors.Is(err, credits.ErrNotFound) {
		return lotID, nil
	}
	return origin, err
}

func (t *Tx) MovedLots(originLotID int64) ([]credits.Lot, error) {
	return queryAll(t, fmt.Sprintf("list the lots moved from lot %d", originLotID), scanLot, `SELECT `+lotColumns+`
		FROM lot_origins JOIN lots ON lots.id = lot_origins.lot_id WHERE lot_origins.origin_lot_id = ? ORDER BY lots.id`, originLotID)
}

func (t *Tx) LotMovedOut(lotID int64) (int64, error) {
	return queryOne(t, fmt.Sprintf("sum what transfers took from lot %d", lotID), scanInt64,
		`SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) FROM transfer_parts WHERE from_lot = ?`, lotID)
}

func (t *Tx) MovedToAccounts(accountID, sessionID string) ([]string, error) {
	return queryAll(t, "list the accounts credits of session "+sessionID+" moved to", scanString, `SELECT DISTINCT m.account_id
		FROM lots p JOIN lot_origins o ON o.origin_lot_id = p.id JOIN lots m ON m.id = o.lot_id
		WHERE p.account_id = ? AND p.source = 'purchase' AND p.reference = ? AND m.account_id <> p.account_id
		ORDER BY m.account_id`, accountID, sessionID)
}

func (t *Tx) BrokenTransfers() ([]string, error) {
	sums, err := queryAll(t, "sum the parts of transfers", scanString, `SELECT 'transfer ' || t.id || ' moves ' || CAST(t.credits AS TEXT)
		|| ' credits but its parts sum to ' || CAST(COALESCE((SELECT SUM(p.credits) FROM transfer_parts p WHERE p.transfer_id = t.id), 0) AS TEXT)
		FROM transfers t WHERE t.credits <> COALESCE((SELECT SUM(p.credits) FROM transfer_parts p WHERE p.transfer_id = t.id), 0) ORDER BY t.id`)
	if err != nil {
		return nil, err
	}
	parts, err := queryAll(t, "compare moved lots with their origins", scanString, `SELECT CASE
		WHEN f.account_id <> tr.from_account OR m.account_id <> tr.to_account THEN 'part ' || CAST(p.seq AS TEXT) || ' of transfer '
			|| p.transfer_id || ' moves lot ' || CAST(p.from_lot AS TEXT) || ' of ' || f.account_id || ' to lot ' || CAST(p.to_lot AS TEXT)
			|| ' of ' || m.account_id || ', not from ' || tr.from_account || ' to ' || tr.to_account
		ELSE 'lot ' || CAST(p.to_lot AS TEXT) || ' of transfer ' || p.transfer_id || ' does not keep what lot ' || CAST(p.from_lot AS TEXT)
			|| ' was, or names no origin' END
		FROM transfer_parts p JOIN transfers tr ON tr.id = p.transfer_id JOIN lots f ON f.id = p.from_lot JOIN lots m ON m.id = p.to_lot
		LEFT JOIN lot_origins o ON o.lot_id = p.to_lot
		WHERE f.account_id <> tr.from_account OR m.account_id <> tr.to_account
		OR o.lot_id IS NULL OR m.amount <> p.credits OR m.priority <> f.priority OR m.source <> f.source OR m.reference <> f.reference
		OR (m.expires_at IS NULL) <> (f.expires_at IS NULL) OR m.expires_at <> f.expires_at
		OR o.origin_lot_id <> COALESCE((SELECT fo.origin_lot_id FROM lot_origins fo WHERE fo.lot_id = p.from_lot), p.from_lot)
		ORDER BY p.transfer_id, p.seq`)
	return append(sums, parts...), err
}
