package credits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The comparisons read in one transaction and change nothing; what heals a
// difference is a Stripe event, applied later by handleEvent like any other.

// fixEvent is the event that would have told us what object says: its id is
// derived from the kind, the object and the state it heals, so that feeding
// it twice records it once, and a later state is a new event.
func fixEvent(kind, eventType, state string, object StripeObject) StripeEvent {
	id := reconcileEventPrefix + kind + "_" + object.ID
	if state != "" {
		id += "_" + state
	}
	raw := json.RawMessage(object.Raw)
	if len(raw) == 0 || !json.Valid(raw) {
		raw = json.RawMessage("null")
	}
	payload, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": eventType, "livemode": object.Livemode,
		"data": map[string]any{"object": raw}, "reconcile": true})
	if err != nil {
		panic(err) // a map of plain values and valid JSON always encodes
	}
	in := StripeEvent{ID: id, Type: eventType, Livemode: object.Livemode, Payload: payload}
	switch eventType {
	case EventCheckoutCompleted:
		in.Session = object.Session
	case EventPaymentIntentSucceeded:
		in.PaymentIntent = object.PaymentIntent
	case EventChargeRefunded:
		in.Charge = object.Charge
	case EventRefundUpdated:
		in.Refund = object.Refund
	default: // charge.dispute.*
		in.Dispute = object.Dispute
	}
	return in
}

func one(item ReconcileItem, events ...StripeEvent) []finding {
	return []finding{{item: item, events: events}}
}

// compareSession: a paid session of ours must have its purchase, and a
// purchase its paid session, for the amount the ledger says.
func compareSession(tx Tx, object StripeObject) ([]finding, error) {
	session := object.Session
	if session.Mode != "" && session.Mode != "payment" {
		return nil, nil // a setup session moves no money
	}
	cs, err := tx.CheckoutSession(session.ID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if !known && session.Metadata["credits_checkout"] == "" && session.Metadata["account_id"] == "" {
		return nil, nil // not ours
	}
	purchase, err := tx.PurchaseBySession(session.ID)
	credited := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	item := ReconcileItem{Object: session.ID, AccountID: cs.AccountID}
	if !known {
		item.AccountID = session.Metadata["account_id"]
	}
	paid := session.Status == "complete" && session.IsPaid()
	paidText := FormatMoney(session.AmountTotal, session.Currency)
	switch {
	case paid && !credited && known && soldAsPaid(session, cs) != "":
		item.Kind = ItemAmountMismatch
		item.Detail = "session paid, not credited: " + soldAsPaid(session, cs) + "; accept its event (credits events accept) or refund it"
		return one(item, fixEvent(ItemAmountMismatch, EventCheckoutCompleted, "", object)), nil
	case paid && !credited:
		item.Kind, item.Detail = ItemPaidNotCredited, "session paid "+paidText+"; no purchase in the ledger"
		return one(item, fixEvent(ItemPaidNotCredited, EventCheckoutCompleted, "", object)), nil
	case !paid && credited:
		item.Kind = ItemCreditedNotPaid
		item.Detail = fmt.Sprintf("%d credits added for it; Stripe says the session is %s, payment %s", purchase.Credits, session.Status, session.PaymentStatus)
	case paid && (purchase.AmountPaid != session.AmountTotal || purchase.Currency != session.Currency):
		item.Kind = ItemAmountMismatch
		item.Detail = "Stripe says paid " + paidText + "; the purchase says " + FormatMoney(purchase.AmountPaid, purchase.Currency)
	default:
		return nil, nil
	}
	return one(item), nil
}

// rechargeOf names the recharge a payment intent pays: an off-session one
// names it in credits_recharge, a Checkout link's in credits_checkout.
func rechargeOf(pi *StripePaymentIntent) string {
	if id := pi.Metadata[RechargeMetadataKey]; id != "" {
		return id
	}
	if ref := pi.Metadata["credits_checkout"]; isRechargeReference(ref) {
		return ref
	}
	return ""
}

// comparePaymentIntent: a succeeded recharge payment must be credited, once
// per recharge; a credited payment must have succeeded.
func comparePaymentIntent(tx Tx, state *reconcileState, object StripeObject) ([]finding, error) {
	pi := object.PaymentIntent
	rechargeID, checkoutRef := rechargeOf(pi), pi.Metadata["credits_checkout"]
	if rechargeID == "" && checkoutRef == "" && pi.Metadata["account_id"] == "" {
		return nil, nil // not ours
	}
	payment, err := tx.Payment(pi.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	credited := err == nil && payment.AccountID != ""
	purchase := ""
	if credited {
		purchase = payment.SessionID
	}
	item := ReconcileItem{Object: pi.ID, AccountID: pi.Metadata["account_id"]}
	if credited {
		item.AccountID = payment.AccountID
	}
	if pi.Status != "succeeded" {
		if !credited {
			return nil, nil
		}
		item.Kind = ItemCreditedNotPaid
		item.Detail = fmt.Sprintf("%d credits added for it; Stripe says the payment intent is %s", payment.Credits, pi.Status)
		return one(item), nil
	}
	if twice, err := chargedTwice(tx, state, object, rechargeID, twiceCandidate{id: pi.ID, credited: credited, purchase: purchase}); err != nil || twice != nil {
		return twice, err
	}
	switch {
	case !credited && rechargeID != "" && pi.Metadata[RechargeMetadataKey] != "":
		item.Kind = ItemPaidNotCredited
		item.Detail = "recharge " + rechargeID + " paid " + FormatMoney(pi.Amount, pi.Currency) + "; no purchase in the ledger"
		return one(item, fixEvent(ItemPaidNotCredited, EventPaymentIntentSucceeded, "", object)), nil
	case credited && (payment.PaidAmount != pi.Amount || payment.Currency != pi.Currency):
		item.Kind = ItemAmountMismatch
		item.Detail = "Stripe says paid " + FormatMoney(pi.Amount, pi.Currency) + "; the ledger says " + FormatMoney(payment.PaidAmount, payment.Currency)
		return one(item), nil
	}
	return nil, nil // a Checkout payment not credited is its session's item
}

// chargedTwice finds a second succeeded payment intent for one recharge (in
// the ledger, or listed before in this run) or one checkout reference, when
// one of the two is not credited, or both credit the same purchase. Two
// payments that each credited a purchase of their own are two purchases,
// not one charged twice: a checkout reference comes from the client's
// Idempotency-Key, which the service forgets after a while, so a client
// may reuse it for a new purchase. It names the one to refund: the one not
// credited (the one listed later when neither is).
func chargedTwice(tx Tx, state *reconcileState, object StripeObject, rechargeID string, this twiceCandidate) ([]finding, error) {
	pi := object.PaymentIntent
	if rechargeID == "" && pi.Metadata["credits_checkout"] == "" {
		return nil, nil // nothing names what it paid for
	}
	key, what := "checkout "+pi.Metadata["credits_checkout"], "checkout "+pi.Metadata["credits_checkout"]
	var other twiceCandidate
	if rechargeID != "" {
		key, what = "recharge "+rechargeID, "recharge "+rechargeID
		purchase, err := tx.PurchaseBySession(rechargeID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil && purchase.PaymentIntent != "" && purchase.PaymentIntent != pi.ID {
			other = twiceCandidate{id: purchase.PaymentIntent, credited: true, purchase: purchase.SessionID}
		}
	}
	if first, ok := state.seen[key]; other.id == "" && ok && first.id != pi.ID {
		other = first
	} else if !ok {
		state.seen[key] = this
	}
	if other.id == "" || (this.credited && other.credited && this.purchase != other.purchase) {
		return nil, nil
	}
	refund, keep := this, other
	if this.credited && !other.credited {
		refund, keep = other, this
	}
	var why string
	switch {
	case keep.credited && refund.credited:
		why = fmt.Sprintf("both credit the same purchase %s", keep.purchase)
	case keep.credited:
		why = keep.id + " is credited, " + refund.id + " is not"
	default:
		why = "neither was credited when listed: check which one is before refunding the other"
	}
	command := "stripe refunds create --payment-intent " + refund.id
	item := ReconcileItem{Kind: ItemChargedTwice, Object: refund.id, AccountID: pi.Metadata["account_id"], Command: command,
		Detail: fmt.Sprintf("payment intents %s and %s both succeeded for %s; %s: refund %s (%s, or the Dashboard)",
			keep.id, refund.id, what, why, refund.id, command)}
	return one(item), nil
}

// compareRefund: a refund of one of our payments that takes money must be
// in the payment's facts, at its status.
func compareRefund(tx Tx, state *reconcileState, object StripeObject) ([]finding, error) {
	r := object.Refund
	paymentID := paymentOf(r.PaymentIntent, r.Charge)
	payment, refunds, disputes, ok, err := paymentFacts(tx, paymentID)
	if err != nil || !ok {
		return nil, err
	}
	var known *PaymentRefund
	var seen int64
	for i := range refunds {
		if refunds[i].ID == r.ID {
			known = &refunds[i]
		}
		if refunds[i].Currency == payment.ChargeCurrency {
			seen += refunds[i].Amount
		}
	}
	has := "no such refund"
	switch {
	case known != nil && refundRank(r.Status) > refundRank(known.Status):
		has = "it as " + known.Status
	case known == nil && refundCounts(r.Status):
		// A charge's refunded total may have said so already (charge.refunded).
		if r.Currency == payment.ChargeCurrency && payment.ChargeRefunded-seen >= r.Amount {
			return nil, nil
		}
	case known == nil && Owed(payment, append(refunds[:len(refunds):len(refunds)], PaymentRefund{ID: r.ID, PaymentID: paymentID,
		Amount: r.Amount, Currency: r.Currency, Status: r.Status}), disputes) != Owed(payment, refunds, disputes):
		// A refund that failed or was canceled, known only through a
		// charge's refunded total (charge.refunded came, its own event
		// did not): the snapshot still counts it, and takes credits for
		// money that came back.
		has = "no such refund, while the charge's refunded total still counts it"
	default:
		return nil, nil
	}
	state.refunded[paymentID] = true
	item := ReconcileItem{Kind: ItemRefundNotTaken, Object: r.ID, AccountID: payment.AccountID,
		Detail: fmt.Sprintf("refund of %s (%s) is %s in Stripe; the payment's facts have %s", paymentID, FormatMoney(r.Amount, r.Currency), r.Status, has)}
	return one(item, fixEvent(ItemRefundNotTaken, EventRefundUpdated, r.Status, object)), nil
}

// paymentFacts reads a payment of ours and its facts; ok is false when the
// ledger does not know it (not ours, or its purchase is an item of its own).
func paymentFacts(tx Tx, id string) (p Payment, refunds []PaymentRefund, disputes []PaymentDispute, ok bool, err error) {
	if id == "" {
		return p, nil, nil, false, nil
	}
	p, err = tx.Payment(id)
	if errors.Is(err, ErrNotFound) {
		return p, nil, nil, false, nil
	} else if err != nil {
		return p, nil, nil, false, err
	}
	if refunds, err = tx.PaymentRefunds(id); err != nil {
		return p, nil, nil, false, err
	}
	disputes, err = tx.PaymentDisputes(id)
	return p, refunds, disputes, err == nil, err
}

// compareDispute: a dispute of one of our payments must be in its facts,
// at its status, with the funds it withdrew or reinstated.
func compareDispute(tx Tx, object StripeObject) ([]finding, error) {
	d := object.Dispute
	payment, _, disputes, ok, err := paymentFacts(tx, paymentOf(d.PaymentIntent, d.Charge))
	if err != nil || !ok {
		return nil, err
	}
	var known PaymentDispute
	exists := false
	for _, k := range disputes {
		if k.ID == d.ID {
			known, exists = k, true
		}
	}
	behind := !exists || disputeRank(d.Status) > disputeRank(known.Status) ||
		object.FundsWithdrawn && !known.Withdrawn || object.FundsReinstated && !known.Reinstated
	if !behind {
		return nil, nil
	}
	has := "no such dispute"
	if exists {
		has = fmt.Sprintf("it as %s (withdrawn %t, reinstated %t)", known.Status, known.Withdrawn, known.Reinstated)
	}
	state := d.Status
	events := []StripeEvent{fixEvent(ItemDisputeNotTaken, EventDisputeUpdated, state, object)}
	if object.FundsWithdrawn || d.Status == "lost" {
		events = append(events, fixEvent(ItemDisputeNotTaken, EventDisputeFundsWithdrawn, state+"_withdrawn", object))
	}
	if object.FundsReinstated {
		events = append(events, fixEvent(ItemDisputeNotTaken, EventDisputeFundsReinstated, state+"_reinstated", object))
	}
	item := ReconcileItem{Kind: ItemDisputeNotTaken, Object: d.ID, AccountID: payment.AccountID,
		Detail: fmt.Sprintf("dispute of %s (%s) is %s in Stripe (funds withdrawn %t, reinstated %t); the payment's facts have %s",
			payment.ID, FormatMoney(d.Amount, d.Currency), d.Status, object.FundsWithdrawn, object.FundsReinstated, has)}
	return []finding{{item: item, events: events}}, nil
}

// compareCharge: a charge's refunded total, where no refund item of this
// run said so, must owe the account what the ledger holds: a total that
// grew (a refund whose events were lost) takes credits, one that went down
// (a refund that failed or was canceled after charge.refunded said it)
// gives them back. The fix's charge.refunded is dated when the run read
// the charge, so that it never shadows a real one created after.
func compareCharge(tx Tx, state *reconcileState, object StripeObject) ([]finding, error) {
	c := object.Charge
	paymentID := paymentOf(c.PaymentIntent, c.ID)
	payment, refunds, disputes, ok, err := paymentFacts(tx, paymentID)
	if err != nil || !ok || payment.AccountID == "" || state.refunded[paymentID] || c.AmountRefunded == payment.ChargeRefunded {
		return nil, err
	}
	after := payment
	after.ChargeID, after.ChargeAmount, after.ChargeCurrency, after.ChargeRefunded = c.ID, c.Amount, c.Currency, c.AmountRefunded
	owedNow, owedAfter := Owed(payment, refunds, disputes), Owed(after, refunds, disputes)
	if owedAfter == owedNow {
		return nil, nil
	}
	what := "the payment's facts"
	if c.AmountRefunded < payment.ChargeRefunded {
		what = fmt.Sprintf("the payment's facts (%s refunded, by an older snapshot)", FormatMoney(payment.ChargeRefunded, payment.ChargeCurrency))
	}
	item := ReconcileItem{Kind: ItemRefundNotTaken, Object: c.ID, AccountID: payment.AccountID,
		Detail: fmt.Sprintf("charge of %s has %s refunded in Stripe; %s owe %d credits, Stripe's %d",
			paymentID, FormatMoney(c.AmountRefunded, c.Currency), what, owedNow, owedAfter)}
	return []finding{{item: item, readAt: state.readAt,
		events: []StripeEvent{fixEvent(ItemRefundNotTaken, EventChargeRefunded, fmt.Sprint(c.AmountRefunded), object)}}}, nil
}

// reconcileStuck reports recharges and events that wait longer than they
// should: what no list shows, since nothing arrived to list.
func (s *Service) reconcileStuck(ctx context.Context, state *reconcileState) error {
	now := s.now()
	var found []finding
	err := s.Store.View(ctx, func(tx Tx) error {
		found = found[:0]
		recharges, err := tx.StuckRecharges(now.Add(-StuckRechargeAfter), MaxStuckItems)
		if err != nil {
			return err
		}
		for _, r := range recharges {
			found = append(found, finding{item: ReconcileItem{Kind: ItemStuck, Object: r.ID, AccountID: r.AccountID,
				Detail: fmt.Sprintf("recharge is %s since %s (payment intent %q); look it up in Stripe", r.Status, r.UpdatedAt.Format(time.RFC3339), r.PaymentIntent)}})
		}
		for _, status := range []string{EventPending, EventFailed} {
			events, err := tx.Events(EventFilter{Status: status, Limit: MaxStuckItems})
			if err != nil {
				return err
			}
			for _, ev := range events {
				if ev.ReceivedAt.After(now.Add(-StuckEventAfter)) {
					continue
				}
				found = append(found, finding{item: ReconcileItem{Kind: ItemStuck, Object: ev.ID,
					Detail: fmt.Sprintf("%s event %s since %s: %s", ev.Type, status, ev.ReceivedAt.Format(time.RFC3339), strings.TrimSpace(ev.Error))}})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("find what is stuck: %w", err)
	}
	for _, f := range found {
		if err := s.recordFinding(ctx, state, f); err != nil {
			return err
		}
	}
	return nil
}
