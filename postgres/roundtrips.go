package postgres

// RoundTrips is the number of round trips to the server that the store's
// transactions have made: `credits bench` holds each path to its count.
func (db *DB) RoundTrips() int64 { return db.roundTrips.Load() }
