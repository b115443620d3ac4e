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
	_, path := testkit.OpenSQLite(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := sqlstore.SQLiteStatement(sqlstore.MemberHoldsOf)
	args := []any{`["hold_a","hold_b"]`}
	for range strings.Count(query, "?") - 1 {
		args = append(args, "u1") // the account's id, where the read names it
	}
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
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "SEARCH h USING INDEX sqlite_autoindex_member_holds_1 (hold_id=?)") {
		t.Errorf("the members of due holds are not read by the holds' ids:\n%s", text)
	}
}
