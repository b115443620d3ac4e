package credits

// markRechargePurchases sets Recharge on the purchases that auto-recharge
// made: those charged off-session (their session is the recharge's id) and
// those the customer paid through a recharge's Checkout link (their session
// is the recharge's), among the recharges given.
func markRechargePurchases(purchases []Purchase, recharges []Recharge) {
	linked := make(map[string]bool, len(recharges))
	for _, r := range recharges {
		if r.CheckoutSessionID != "" {
			linked[r.CheckoutSessionID] = true
		}
	}
	for i := range purchases {
		purchases[i].Recharge = purchases[i].IsRecharge() || linked[purchases[i].SessionID]
	}
}
