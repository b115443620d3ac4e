package server_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSavedCardOnReturn: back from Save a card, the customer page shows the
// card when it arrives while the page waits; when it has not come, the page
// says it is being saved and refreshes once, then says it is still coming.
func TestSavedCardOnReturn(t *testing.T) {
	t.Parallel()
	t.Run("arrives while the page waits", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		s.srv.CardWait = 20 * time.Second // ends as soon as the card arrives
		v, p := s.signIn("alice")
		setup := v.submit(p, "#save-card", nil)
		// The card is read from the webhook's event by the worker, which
		// this test stands for while the return page waits.
		read := make(chan error, 1)
		go func() { read <- readCard(s, time.Minute) }()
		back := v.submit(setup, "#pay-form", map[string]string{"card": "4242 4242 4242 4242"})
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(back.url, "/dashboard/credits?card=saved") || back.text("#saved-card") != "Saved card: visa ending in 4242" || back.count("#card-saving") != 0 {
			t.Errorf("the return page %s: card %q, notice %q", back.url, back.text("#saved-card"), back.text("#card-saving"))
		}
	})
	t.Run("late: being saved, one refresh", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		s.srv.CardWait = 50 * time.Millisecond
		v, p := s.signIn("alice")
		back := v.submit(v.submit(p, "#save-card", nil), "#pay-form", map[string]string{"card": "4242 4242 4242 4242"})
		refresh := back.doc.Find(`meta[http-equiv="refresh"]`).AttrOr("content", "")
		if !strings.Contains(back.text("#card-saving"), "being saved") || back.count("#no-card") != 1 || refresh != "3; url=/dashboard/credits?card=saving" {
			t.Fatalf("the return page before the card: notice %q, refresh %q", back.text("#card-saving"), refresh)
		}
		again := v.get("/dashboard/credits?card=saving")
		if !strings.Contains(again.text("#card-saving"), "still being saved") || again.count(`meta[http-equiv="refresh"]`) != 0 {
			t.Errorf("the refreshed page: notice %q, %d refreshes", again.text("#card-saving"), again.count(`meta[http-equiv="refresh"]`))
		}
		if err := readCard(s, time.Minute); err != nil {
			t.Fatal(err)
		}
		done := v.get("/dashboard/credits?card=saving")
		if done.text("#saved-card") != "Saved card: visa ending in 4242" || done.count("#card-saving") != 0 {
			t.Errorf("with the card: %q, notice %q", done.text("#saved-card"), done.text("#card-saving"))
		}
	})
}

// readCard does the worker's part: it reads the saved card once the demo's
// webhook event has come, within limit.
func readCard(s *site, limit time.Duration) error {
	ctx, stop := context.WithTimeout(context.Background(), limit)
	defer stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := s.svc.ReadSavedCards(ctx)
		if err != nil || n > 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
