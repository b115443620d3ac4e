package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Stripe events of saved cards and off-session payments.
const (
	EventPaymentIntentSucceeded = "payment_intent.succeeded"
	EventPaymentIntentFailed    = "payment_intent.payment_failed"
	EventPaymentMethodDetached  = "payment_method.detached"
	EventCustomerDeleted        = "customer.deleted"
)

// SaveCardMetadataKey marks, in a Checkout session's metadata, a purchase
// that saves its card for off-session payments.
const SaveCardMetadataKey = "credits_save_card"

// applyPaymentIntent applies payment_intent.succeeded,
// payment_intent.payment_failed and payment_intent.canceled to the recharge
// the payment intent names in its metadata; other payment intents are
// purchases, credited by their Checkout session's events.
func (s *Service) applyPaymentIntent(tx Tx, in StripeEvent, now time.Time) (status, reason string, err error) {
	pi := in.PaymentIntent
	rechargeID := pi.Metadata[RechargeMetadataKey]
	if rechargeID == "" {
		return EventIgnored, "payment intent " + pi.ID + " is not a recharge's: purchases are credited by their Checkout session", nil
	}
	if in.Type == EventPaymentIntentSucceeded {
		if pi.Status != "succeeded" {
			return EventFailed, "payment_intent.succeeded whose payment intent is " + pi.Status, nil
		}
		return s.creditRecharge(tx, rechargeID, *pi, in.ID, now)
	}
	res := resultOf(*pi)
	if in.Type == EventPaymentIntentCanceled && res.Message == "" {
		res.Message = "the payment intent was canceled"
	}
	if res.Code == "authentication_required" {
		// The worker makes the customer's Checkout link.
		if _, err := s.askCustomer(tx, rechargeID, pi.ID, res.reason(), now); err != nil && !errors.Is(err, ErrNotFound) {
			return "", "", err
		}
		return EventProcessed, "recharge " + rechargeID + " waits for the customer to authenticate", nil
	}
	return s.declineRecharge(tx, rechargeID, res, now)
}

// applySetupSession records that a Checkout session in setup mode saved a
// card for its account: the card (brand, last 4) is read from its setup
// intent by the worker.
func (s *Service) applySetupSession(tx Tx, ev Event, now time.Time) (status, reason string, err error) {
	session := ev.Session
	if ev.Type != EventCheckoutCompleted {
		return EventProcessed, "setup session " + session.ID + ": nothing to do", nil
	}
	if session.SetupIntent == "" {
		return EventUnmatched, "setup session " + session.ID + " names no setup intent", nil
	}
	return s.cardToRead(tx, session.Metadata["account_id"], session.Customer, session.SetupIntent, now)
}

// cardToRead notes that an intent saved a card for an account, whose
// customer it must be.
func (s *Service) cardToRead(tx Tx, accountID, customerID, intentID string, now time.Time) (status, reason string, err error) {
	if lookupID("account", accountID) != nil {
		return EventUnmatched, "the session names no account", nil
	}
	locked, err := tx.LockAccount(accountID)
	if errors.Is(err, ErrNotFound) {
		return EventUnmatched, fmt.Sprintf("account %s not found", accountID), nil
	} else if err != nil {
		return "", "", err
	}
	ar, err := autoRechargeOf(locked, now)
	if err != nil {
		return "", "", err
	}
	if ar.CustomerID != "" && customerID != "" && ar.CustomerID != customerID {
		return EventUnmatched, fmt.Sprintf("the card was saved for customer %s, not account %s's (%s)", customerID, accountID, ar.CustomerID), nil
	}
	if ar.CustomerID == "" {
		ar.CustomerID = customerID
	}
	ar.CardPending, ar.UpdatedAt = intentID, now
	return EventProcessed, "card of " + intentID + " to be read", locked.SaveAutoRecharge(ar)
}

// applyCardGone forgets a saved card that Stripe says was detached, or
// every card of a deleted customer; auto-recharge, if on, turns off.
func (s *Service) applyCardGone(tx Tx, in StripeEvent, now time.Time) (status, reason string, err error) {
	var ar AutoRecharge
	if in.Type == EventCustomerDeleted {
		ar, err = tx.AutoRechargeByCustomer(in.CustomerID)
	} else {
		ar, err = tx.AutoRechargeByPaymentMethod(in.PaymentMethodID)
	}
	if errors.Is(err, ErrNotFound) {
		return EventProcessed, "no account saved it: nothing to forget", nil
	} else if err != nil {
		return "", "", err
	}
	locked, err := tx.LockAccount(ar.AccountID)
	if err != nil {
		return "", "", err
	}
	what := "the saved card was removed in Stripe"
	if in.Type == EventCustomerDeleted {
		// The next customer is a new one: its create key must differ.
		ar.CustomerID, ar.CardPending, ar.CustomerGeneration = "", "", ar.CustomerGeneration+1
		what = "the Stripe customer was deleted"
	}
	return EventProcessed, what, s.forgetCard(locked, ar, what, now)
}

// forgetCard clears an account's saved card and turns auto-recharge off.
func (s *Service) forgetCard(locked LockedAccount, ar AutoRecharge, why string, now time.Time) error {
	ar.Card, ar.UpdatedAt = nil, now
	if err := locked.SaveAutoRecharge(ar); err != nil {
		return err
	}
	return s.disableAutoRecharge(locked, ar, why, now)
}

// ensureCustomer returns an account's Stripe customer, created once (once
// again after Stripe deleted it).
func (s *Service) ensureCustomer(ctx context.Context, account Account) (string, error) {
	ar, err := viewOne(ctx, s, "auto-recharge of account", account.ID, Tx.AutoRecharge)
	if err == nil && ar.CustomerID != "" {
		return ar.CustomerID, nil
	} else if err != nil && ErrorCode(err) != ENOTFOUND {
		return "", err
	}
	if s.Payments == nil {
		return "", Errorf(EUNAVAILABLE, "cards cannot be saved: %s", s.PaymentsMissing)
	}
	created, err := s.Payments.CreateCustomer(ctx, account, ar.CustomerGeneration)
	if err != nil {
		return "", fmt.Errorf("create the customer of account %s: %w", account.ID, err)
	}
	customerID, generation := created, ar.CustomerGeneration
	err = s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, err := tx.LockAccount(account.ID)
		if err != nil {
			return err
		}
		ar, err := autoRechargeOf(locked, now)
		if err != nil {
			return err
		}
		if ar.CustomerID != "" {
			customerID = ar.CustomerID // another request stored one first
			return nil
		}
		if ar.CustomerGeneration != generation {
			return Errorf(ECONFLICT, "account %s's Stripe customer was deleted meanwhile: try again", account.ID)
		}
		ar.CustomerID, ar.UpdatedAt = created, now
		return locked.SaveAutoRecharge(ar)
	})
	return customerID, err
}

// CreateSetupSession opens a Checkout page in setup mode that saves a card
// for the account's off-session payments, without buying anything.
func (s *Service) CreateSetupSession(ctx context.Context, accountID string, back ReturnURLs) (CheckoutSession, error) {
	account, err := viewOne(ctx, s, "account", accountID, Tx.Account)
	if err != nil {
		return CheckoutSession{}, err
	}
	customerID, err := s.ensureCustomer(ctx, account)
	if err != nil {
		return CheckoutSession{}, err
	}
	id, url, err := s.Payments.CreateSetupSession(ctx, SetupRequest{Account: account, CustomerID: customerID, SuccessURL: back.Success, CancelURL: back.Cancel})
	if err != nil {
		return CheckoutSession{}, fmt.Errorf("create setup session: %w", err)
	}
	return CheckoutSession{ID: id, AccountID: accountID, URL: url, Status: SessionOpen, CreatedAt: s.now()}, nil
}

// RemoveCard detaches an account's saved card in Stripe and forgets it;
// auto-recharge, if on, turns off.
func (s *Service) RemoveCard(ctx context.Context, accountID string) error {
	ar, err := viewOne(ctx, s, "auto-recharge of account", accountID, Tx.AutoRecharge)
	if err == nil && ar.Card == nil {
		err = Errorf(ENOTFOUND, "account %s has no saved card", accountID)
	}
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return Errorf(ENOTFOUND, "account %s has no saved card", accountID)
		}
		return err
	}
	if s.Payments == nil {
		return Errorf(EUNAVAILABLE, "cards cannot be removed: %s", s.PaymentsMissing)
	}
	if err := s.Payments.DetachPaymentMethod(ctx, ar.Card.PaymentMethodID); err != nil {
		return fmt.Errorf("remove the card of account %s: %w", accountID, err)
	}
	return s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, err := tx.LockAccount(accountID)
		if err != nil {
			return err
		}
		current, err := autoRechargeOf(locked, now)
		if err != nil || current.Card == nil || current.Card.PaymentMethodID != ar.Card.PaymentMethodID {
			return err
		}
		return s.forgetCard(locked, current, "the customer removed the saved card", now)
	})
}

// ReadSavedCards reads the cards that setup sessions and purchases saved
// (brand, last 4) from the payment provider; it returns how many it read.
func (s *Service) ReadSavedCards(ctx context.Context) (int, error) {
	if s.Payments == nil {
		return 0, nil
	}
	var pending []AutoRecharge
	if err := s.Store.View(ctx, func(tx Tx) (err error) { pending, err = tx.CardsToRead(rechargeClaimBatch); return err }); err != nil {
		return 0, fmt.Errorf("list cards to read: %w", err)
	}
	read := 0
	for _, ar := range pending {
		card, customerID, err := s.Payments.SavedCard(ctx, ar.CardPending)
		if err != nil {
			s.Logger.Warn("cannot read a saved card yet", "account", ar.AccountID, "intent", ar.CardPending, "error", err)
			continue
		}
		err = s.update(ctx, func(tx Tx) error {
			now := s.now()
			locked, err := tx.LockAccount(ar.AccountID)
			if err != nil {
				return err
			}
			current, err := autoRechargeOf(locked, now)
			if err != nil || current.CardPending != ar.CardPending {
				return err
			}
			if current.CustomerID == "" {
				current.CustomerID = customerID
			}
			current.CardPending, current.UpdatedAt = "", now
			// Only a card of the account's own customer is charged for it
			// (one attached to no customer cannot be charged off-session).
			if card.PaymentMethodID != "" && (customerID == "" || customerID == current.CustomerID) {
				current.Card = &card
			} else if card.PaymentMethodID != "" {
				s.Logger.Warn("a saved card of another customer is not kept", "account", ar.AccountID, "intent", ar.CardPending, "customer", customerID)
			}
			return locked.SaveAutoRecharge(current)
		})
		if err != nil {
			return read, err
		}
		read++
	}
	return read, nil
}

// afterPurchase ends the recharge a paid session stood for (the link of one
// that waited for the customer), and notes the card a purchase saved.
func afterPurchase(tx Tx, locked LockedAccount, session StripeSession, now time.Time) error {
	if err := settleRechargeSession(tx, locked, session, RechargeSucceeded, now); err != nil {
		return err
	}
	if session.Metadata[SaveCardMetadataKey] != "true" || session.PaymentIntent == "" {
		return nil
	}
	ar, err := autoRechargeOf(locked, now)
	if err != nil {
		return err
	}
	if ar.CustomerID != "" && session.Customer != "" && ar.CustomerID != session.Customer {
		return nil // saved for another customer: not this account's card
	}
	if ar.CustomerID == "" {
		ar.CustomerID = session.Customer
	}
	ar.CardPending, ar.UpdatedAt = session.PaymentIntent, now
	return locked.SaveAutoRecharge(ar)
}
