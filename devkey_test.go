package credits_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// TestDevelopmentAPIKey: one key per database, the same at every call,
// sealed in the store; a box of another signing secret does not open it,
// one that still has the old secret as previous does.
func TestDevelopmentAPIKey(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	ctx := context.Background()
	svc := credits.NewService(db)
	box := func(current string, previous ...string) *credits.SecretBox {
		var prev [][]byte
		for _, p := range previous {
			prev = append(prev, []byte(p))
		}
		b, err := credits.NewSecretBox([]byte(current), prev...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := svc.DevelopmentAPIKey(ctx); err == nil {
		t.Error("a key without a secret box: want an error")
	}
	svc.Secrets = box("first signing secret")
	key, err := svc.DevelopmentAPIKey(ctx)
	if err != nil || !strings.HasPrefix(key, credits.DevelopmentKeyPrefix) || len(key) != len(credits.DevelopmentKeyPrefix)+32 {
		t.Fatalf("key %q, %v", key, err)
	}
	var stored string
	if err := db.View(ctx, func(tx credits.Tx) (err error) { stored, err = tx.Setting("development_api_key"); return err }); err != nil || strings.Contains(stored, key) || stored == "" {
		t.Errorf("stored %q (%v): want it sealed", stored, err)
	}
	for _, tc := range []struct {
		name    string
		box     *credits.SecretBox
		want    string
		wantErr error
	}{
		{"same secret", box("first signing secret"), key, nil},
		{"rotated, previous given", box("second signing secret", "first signing secret"), key, nil},
		{"another secret", box("second signing secret"), "", credits.ErrSecretSealed},
	} {
		svc.Secrets = tc.box
		got, err := svc.DevelopmentAPIKey(ctx)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	other, _ := testkit.OpenSQLite(t)
	svc2 := credits.NewService(other)
	svc2.Secrets = box("first signing secret")
	if again, err := svc2.DevelopmentAPIKey(ctx); err != nil || again == key {
		t.Errorf("another database's key %q (%v), want a new one", again, err)
	}
}
