package demo

import (
	"log/slog"
	"testing"
	"time"
)

// TestCloseEndsDeliveries: an event still being retried (its webhook does
// not answer) ends when the demo closes, with the service, instead of
// retrying for a minute in a goroutine nobody owns.
func TestCloseEndsDeliveries(t *testing.T) {
	s := NewCheckout("http://localhost:8080", func([]byte, time.Time) string { return "" }, slog.New(slog.DiscardHandler))
	s.deliverWithRetries([]byte(`{"id":"evt_1"}`)) // no webhook URL: every try fails
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a delivery being retried")
	}
}
