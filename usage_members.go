package credits

import (
	"errors"
	"time"
)

// Usage and check as a member of the account: a usage is charged to the
// member's cap as a debit is (chargeMember, then an entry spentAs it); a usage
// from a hold spends as the hold's member; a check reports what the member
// has left and refuses a price beyond it.

// CheckMember is what a check says of the member it spends as.
type CheckMember struct {
	MemberID string `json:"member_id"`
	// Remaining is what the member may still spend in the current period
	// of its cap, after the check's hold when it reserved one (null: no cap).
	Remaining *int64 `json:"remaining"`
}

// chargeUsage counts amount credits of a usage toward memberID's cap (nil
// for no member). A usage of 0 credits counts nothing, but its member must
// exist.
func chargeUsage(locked LockedAccount, memberID string, amount int64, now time.Time) (*MemberCharge, error) {
	switch {
	case memberID == "":
		return nil, nil
	case amount == 0:
		_, err := activeMember(locked, memberID)
		return nil, err
	}
	charge, err := chargeMember(locked, memberID, amount, false, now)
	if err != nil {
		return nil, err
	}
	return &charge, nil
}

// spendsAsHoldMember returns the member a usage from hold spends as: the
// hold's (whose cap its credits already count against). A usage naming
// another member than the hold's is refused.
func spendsAsHoldMember(locked LockedAccount, hold Hold, memberID string) (string, error) {
	sp, err := locked.MemberHold(hold.ID)
	if errors.Is(err, ErrNotFound) {
		sp, err = MemberSpending{}, nil
	} else if err != nil {
		return "", err
	}
	if memberID != "" && memberID != sp.MemberID {
		as := "as no member"
		if sp.MemberID != "" {
			as = "as member " + sp.MemberID
		}
		return "", Errorf(EINVALID, "hold %s was made %s; a usage from it spends as the hold's member, not as member %s", hold.ID, as, memberID)
	}
	return sp.MemberID, nil
}

// setMember reports a member's allowance on a check, and refuses a price
// beyond it when nothing else did.
func (res *CheckResult) setMember(v MemberView) {
	res.Member = &CheckMember{MemberID: v.MemberID, Remaining: v.Remaining}
	if res.Allowed && v.Remaining != nil && res.Credits > *v.Remaining {
		res.Allowed, res.Reason = false, EMEMBERCAP
	}
}

// quoteMember reads the member a check spends as, without the account's
// lock (a quote writes nothing).
func quoteMember(tx Tx, res *CheckResult, accountID, memberID string, now time.Time) error {
	if err := lookupID("member", memberID); err != nil {
		return err
	}
	m, err := tx.MemberOf(accountID, memberID)
	if errors.Is(err, ErrNotFound) || (err == nil && m.Deleted) {
		return Errorf(ENOTFOUND, "member %s of account %s not found", memberID, accountID)
	} else if err != nil {
		return err
	}
	v, err := readMemberView(tx, m, now)
	res.setMember(v)
	return err
}

// reservedMember reports the allowance of the member a check with reserve
// spends as, after its hold (which chargeMember already checked).
func reservedMember(locked LockedAccount, res *CheckResult, memberID string, now time.Time) error {
	if memberID == "" {
		return nil
	}
	m, sp, end, err := memberNow(locked, memberID, now)
	if err != nil {
		return err
	}
	v := memberView(m, sp, end)
	res.Member = &CheckMember{MemberID: v.MemberID, Remaining: v.Remaining}
	return nil
}
