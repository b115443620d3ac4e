package sqlstore_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/credits/credits/internal/sqlstore"
	"github.com/credits/credits/internal/testkit"
)

// TestMemberHoldsOfByHoldIDs plans, on SQLite (which has no statistics: the
// plan is the same however many rows), the read of the members of the holds
// a settlement expires: it looks each hold up by its id. By the account's id
// (member_holds_member) it read every hold of the account ever tagged with a
// member, on every settlement that expired one: 37.7 ms a debit among
// 300,000 of them, against 0.6 ms.
func TestMemberHoldsOfByHoldIDs(t *testing.T) {
	wantPlan(t, sqlstore.MemberHoldsOf, "SEARCH h USING INDEX sqlite_autoindex_member_holds_1 (hold_id=?)")
}

// TestExpireHoldsByHoldIDs: the UPDATE that marks a settlement's due holds
// expired finds each by its id, not by walking the account's held holds
// (holds_account), which with 150,000 held took 178 ms a settlement.
func TestExpireHoldsByHoldIDs(t *testing.T) {
	wantPlan(t, sqlstore.ExpireHolds, "SEARCH holds USING INDEX sqlite_autoindex_holds_1 (id=?)")
}

// wantPlan plans template on SQLite, its list parameter two hold ids and
// any other parameter "u1", and wants want among the plan's steps.
func wantPlan(t *testing.T, template, want string) {
	t.Helper()
	_, path := testkit.OpenSQLite(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := sqlstore.SQLiteStatement(template)
	args := []any{}
	for range strings.Count(query, "?") {
		args = append(args, "u1")
	}
	args[strings.Count(query[:strings.Index(query, "json_each(?)")], "?")] = `["hold_a","hold_b"]`
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, want) {
		t.Errorf("the plan does not have %q:\n%s", want, text)
	}
}
