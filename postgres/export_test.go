package postgres

// RoundTrips is the number of round trips the store's transactions made.
func RoundTrips(db *DB) int64 { return db.roundTrips.Load() }
