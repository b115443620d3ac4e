package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

// testWebSessions: links and sessions are found by their secret's hash
// only; a link is used once, even by concurrent exchanges; a session keeps
// its link's key and capabilities; a flash is shown once; revoking a key
// revokes what it made; the live operator sessions are listed.
func testWebSessions(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	key, _, err := f.svc.CreateAPIKey(ctx, "worker", credits.ScopeSpend, "u1")
	if err != nil {
		t.Fatal(err)
	}
	link, secret, err := f.svc.CreateWebSession(ctx, credits.NewWebSession{Kind: credits.SessionLink, AccountID: "u1", KeyID: key.ID,
		Can: []string{credits.CanPurchase}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if link.ID == secret || link.ID != credits.SessionHash(secret) {
		t.Fatalf("a link is kept by its secret's hash: id %q", link.ID)
	}
	if _, err := f.svc.CheckWebSession(ctx, link.ID, credits.SessionLink); !errors.Is(err, credits.ErrSessionInvalid) {
		t.Errorf("the stored id opened the link: %v", err)
	}
	session, ok, used := useConcurrently(t, f.svc, secret, 5)
	if !ok || used != 4 || session.KeyID != key.ID || !session.Allows(credits.CanPurchase) || session.Allows(credits.CanCard) {
		t.Fatalf("5 concurrent exchanges: %d refused as used, session %+v", used, session)
	}

	operator, operatorSecret, err := f.svc.CreateWebSession(ctx, credits.NewWebSession{Kind: credits.SessionOperator, KeyID: "bootstrap.x", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetFlash(ctx, operator.ID, "done"); err != nil {
		t.Fatal(err)
	}
	ws, err := f.svc.CheckWebSession(ctx, operatorSecret, credits.SessionOperator)
	if flash, _ := f.svc.TakeFlash(ctx, ws); err != nil || flash != "done" {
		t.Errorf("flash = %q (%v), want done", flash, err)
	}
	if ws, _ := f.svc.CheckWebSession(ctx, operatorSecret, credits.SessionOperator); ws.Flash != "" {
		t.Errorf("the flash stayed: %q", ws.Flash)
	}
	if live, err := f.svc.OperatorSessions(ctx); err != nil || len(live) != 1 || live[0].ID != operator.ID {
		t.Errorf("operator sessions: %+v (%v)", live, err)
	}

	if _, err := f.svc.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	var after credits.WebSession
	err = f.svc.Store.View(ctx, func(tx credits.Tx) (err error) {
		after, err = tx.WebSession(session.ID)
		return err
	})
	if err != nil || !after.Revoked {
		t.Errorf("the key's session after its revocation: revoked %v (%v)", after.Revoked, err)
	}
	if _, err := f.svc.CheckWebSession(ctx, operatorSecret, credits.SessionOperator); err != nil {
		t.Errorf("another key's session after the revocation: %v", err)
	}
}

// useConcurrently exchanges one link n times at once and returns the one
// session made and how many exchanges were refused as used.
func useConcurrently(t *testing.T, svc *credits.Service, secret string, n int) (credits.WebSession, bool, int) {
	var wg sync.WaitGroup
	results := make(chan error, n)
	sessions := make(chan credits.WebSession, n)
	for range n {
		wg.Go(func() {
			ws, _, err := svc.UseLink(context.Background(), secret, time.Hour)
			results <- err
			if err == nil {
				sessions <- ws
			}
		})
	}
	wg.Wait()
	close(results)
	close(sessions)
	used := 0
	for err := range results {
		switch {
		case err == nil:
		case errors.Is(err, credits.ErrLinkUsed):
			used++
		default:
			t.Errorf("an exchange failed: %v", err)
		}
	}
	session, ok := <-sessions
	return session, ok, used
}
