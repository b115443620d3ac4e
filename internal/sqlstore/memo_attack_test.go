package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
)

// TestMemoAttackBounds: past maxMemoMembers the memo starts again (what it
// forgot is read again, what it keeps is true); an answer's cap is a copy;
// a spending saved of another period than the one remembered changes
// nothing remembered.
func TestMemoAttackBounds(t *testing.T) {
	now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	starts := credits.MemberPeriodStarts(now)
	var m WriterMemo
	member := func(i int) credits.Member {
		return credits.Member{AccountID: "u1", MemberID: fmt.Sprint("m", i), Cap: &credits.MemberCap{Credits: 10, Period: credits.PeriodDay}}
	}
	for i := range maxMemoMembers + 1 {
		m.keepMember(member(i), starts, []credits.MemberSpending{{AccountID: "u1", MemberID: fmt.Sprint("m", i), PeriodStart: starts.Day, Spent: int64(i % 10)}})
	}
	if _, _, ok := m.member("u1", "m0", starts); ok {
		t.Error("the memo still answers for m0 after it started again")
	}
	last := fmt.Sprint("m", maxMemoMembers)
	got, spendings, ok := m.member("u1", last, starts)
	if !ok || got.Cap == nil || got.Cap.Credits != 10 || len(spendings) != 1 || spendings[0].Spent != maxMemoMembers%10 {
		t.Fatalf("the memo answers %+v, %+v, %v for %s", got, spendings, ok, last)
	}
	got.Cap.Credits = 1000
	spendings[0].Spent = 0
	m.spendingSaved("u1", credits.MemberSpending{MemberID: last, PeriodStart: starts.Day.AddDate(0, 0, -1), Spent: 0})
	again, spendings, _ := m.member("u1", last, starts)
	if again.Cap.Credits != 10 || spendings[0].Spent != maxMemoMembers%10 {
		t.Errorf("the memo answers cap %d and spent %d after its answer was changed and another day saved", again.Cap.Credits, spendings[0].Spent)
	}
	if _, _, ok := m.member("u1", last, credits.MemberPeriodStarts(now.AddDate(0, 0, 1))); ok {
		t.Error("the memo answers at the next day's starts")
	}
}
