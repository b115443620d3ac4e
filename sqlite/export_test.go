package sqlite

import "github.com/credits/credits"

// RememberedAccount answers an account's row from memory, as ReadAccount
// would, or says that it cannot: the tests in sqlite_test look at the memory
// through it.
func (db *DB) RememberedAccount(id string) (credits.Account, bool) {
	header, ok := db.walIndex.header()
	if !ok {
		return credits.Account{}, false
	}
	return db.rows.Remembered(id, header)
}
