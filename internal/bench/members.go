package bench

import (
	"context"
	"fmt"
	"net/http"

	"github.com/credits/credits"
)

// membersPerAccount is how many capped members each account of the
// debit-member phase has.
const membersPerAccount = 10

// addMembers gives every account of the many-account phases its members,
// each capped (per month, high enough never to be reached in a run), so that
// every debit of the phase checks and counts a cap.
func (b *bench) addMembers(ctx context.Context, svc *credits.Service) error {
	for a := range b.accounts {
		for m := range membersPerAccount {
			req := credits.MemberRequest{SetCap: true, Cap: &credits.MemberCap{Credits: 1_000_000_000, Period: credits.PeriodMonth}}
			if _, err := svc.PutMember(ctx, b.account(a), benchMember(m), req); err != nil {
				return fmt.Errorf("add member %d of %s: %w", m, b.account(a), err)
			}
		}
	}
	return nil
}

func benchMember(m int) string { return fmt.Sprint("member-", m) }

// memberDebit is request i of debit-member: one credit from account i (of
// the many), as one of its members in turn.
func (b *bench) memberDebit(base string, i int) (bool, error) {
	body := fmt.Appendf(nil, `{"amount":1,"member_id":%q}`, benchMember((i/b.accounts)%membersPerAccount))
	status, err := b.send(http.MethodPost, base+"/v1/accounts/"+b.account(i)+"/debits", body,
		map[string]string{"Authorization": "Bearer " + b.apiKey, "Idempotency-Key": fmt.Sprint("dm-", i)})
	return status == http.StatusCreated, err
}

// guardMemberRoundTrips counts a debit with a key as a capped member: as a
// debit with a key, since the member's row and spending go out with the
// account's lock.
func guardMemberRoundTrips(ctx context.Context, svc *credits.Service, run string, count func(string, int64, func() error) error) error {
	account := "bench-rt-team-" + run
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return err
	}
	if _, _, err := svc.Grant(ctx, account, credits.GrantRequest{Amount: 100}, nil); err != nil {
		return err
	}
	name := "Ann"
	if _, err := svc.PutMember(ctx, account, "ann", credits.MemberRequest{Name: &name, SetCap: true,
		Cap: &credits.MemberCap{Credits: 50, Period: credits.PeriodDay}}); err != nil {
		return err
	}
	debit := func(key string) func() error {
		return func() error {
			_, _, err := svc.Debit(ctx, account, credits.DebitRequest{Amount: 1, MemberID: "ann"},
				&credits.Idempotency{Scope: "k/" + account, Key: key, RequestHash: key})
			return err
		}
	}
	if err := debit("m1")(); err != nil { // the member's first spend in the period
		return err
	}
	return count("debit as a member with a key", 2, debit("m2"))
}
