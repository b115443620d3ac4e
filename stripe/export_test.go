package stripe

import "time"

// SetListBackoff shortens the waits between a list's tries for a test.
func SetListBackoff(d time.Duration) (restore func()) {
	before := listBackoff
	listBackoff = d
	return func() { listBackoff = before }
}

// SetMaxRechargePayments lowers the look-up's list bound for a test.
func SetMaxRechargePayments(n int) (restore func()) {
	old := maxRechargePayments
	maxRechargePayments = n
	return func() { maxRechargePayments = old }
}
