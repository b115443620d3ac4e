package sqlstore

// SQLiteStatement is a statement's template as SQLite runs it.
func SQLiteStatement(template string) string { return SQLite.statement(template) }

// MemberHoldsOf is the template of LockedAccount.MemberHoldsOf's read.
var MemberHoldsOf = memberHoldsOf

// ExpireHolds is the template of LockedAccount.ExpireHolds's write.
const ExpireHolds = expireHolds
