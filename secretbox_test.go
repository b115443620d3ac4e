package credits_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// secretsSeen records the secrets each delivery was signed with.
type secretsSeen struct {
	mu   sync.Mutex
	last []string
}

func (s *secretsSeen) Send(_ context.Context, _ string, _ []byte, secrets []string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = secrets
	return 200, nil
}

func storedSecrets(t *testing.T, svc *credits.Service, id string) (string, string) {
	t.Helper()
	var ep credits.WebhookEndpoint
	err := svc.Store.View(context.Background(), func(tx credits.Tx) (err error) {
		ep, err = tx.WebhookEndpoint(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ep.Secret, ep.PreviousSecret
}

func box(t *testing.T, secret string, previous ...string) *credits.SecretBox {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, []byte(p))
	}
	b, err := credits.NewSecretBox([]byte(secret), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEndpointSecretsAreSealed: an endpoint's secret is kept sealed (never in
// plain text), deliveries are signed with the plain one, secrets kept before
// sealing are sealed at start-up, and a rotation of the signing secret opens
// the old seals through the previous secret and seals them again.
func TestEndpointSecretsAreSealed(t *testing.T) {
	ctx := context.Background()
	db, _ := testkit.OpenSQLite(t)
	svc := credits.NewService(db)
	seen := &secretsSeen{}
	svc.Webhooks = seen
	svc.Secrets = box(t, "first signing secret 0123456789abcdef")

	ep, err := svc.CreateWebhookEndpoint(ctx, "https://app.example.com/hook", []string{"*"}, "")
	if err != nil {
		t.Fatal(err)
	}
	plain := ep.Secret
	if stored, _ := storedSecrets(t, svc, ep.ID); stored == plain || strings.Contains(stored, plain) || !strings.HasPrefix(stored, "sealed1:") {
		t.Fatalf("stored secret %q, want it sealed", stored)
	}
	if _, err := svc.TestWebhookEndpoint(ctx, ep.ID); err != nil || len(seen.last) != 1 || seen.last[0] != plain {
		t.Fatalf("a ping was signed with %d secret(s) (%v), want the plain secret", len(seen.last), err)
	}
	rotated, err := svc.RotateWebhookSecret(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret, previous := storedSecrets(t, svc, ep.ID)
	if strings.Contains(secret+previous, rotated.Secret) || strings.Contains(secret+previous, plain) {
		t.Error("a rotation kept a secret in plain text")
	}
	if _, err := svc.TestWebhookEndpoint(ctx, ep.ID); err != nil || len(seen.last) != 2 || seen.last[0] != rotated.Secret || seen.last[1] != plain {
		t.Errorf("during the rotation a ping was signed with %d secret(s) (%v), want the new and the old", len(seen.last), err)
	}

	sealLegacy(t, svc)

	// A new signing secret: the old seals open through the previous one and are sealed again.
	svc.Secrets = box(t, "second signing secret 0123456789abcdef")
	seen.last = nil
	if a, err := svc.TestWebhookEndpoint(ctx, ep.ID); err != nil || !strings.Contains(a.Error, "CREDITS_SIGNING_SECRET_PREVIOUS") || seen.last != nil {
		t.Errorf("without the previous signing secret: attempt %q (%v), signed with %d secret(s); want no delivery, the reason named", a.Error, err, len(seen.last))
	}
	if n, unopened, err := svc.SealWebhookSecrets(ctx); err != nil || n != 0 || len(unopened) != 2 {
		t.Errorf("without the previous signing secret: sealed %d, unopened %v (%v); want none sealed, both named", n, unopened, err)
	}
	svc.Secrets = box(t, "second signing secret 0123456789abcdef", "first signing secret 0123456789abcdef")
	if n, unopened, err := svc.SealWebhookSecrets(ctx); err != nil || n != 2 || len(unopened) != 0 {
		t.Errorf("sealed %d endpoint(s) again after the rotation, %v unopened (%v), want 2", n, unopened, err)
	}
	svc.Secrets = box(t, "second signing secret 0123456789abcdef")
	if _, err := svc.TestWebhookEndpoint(ctx, ep.ID); err != nil || len(seen.last) != 2 || seen.last[0] != rotated.Secret || seen.last[1] != plain {
		t.Errorf("after sealing again, a ping with the new signing secret alone: %d secret(s) (%v), want the new and the old", len(seen.last), err)
	}

	// A leaked signing secret replaced with no window: the endpoint's new
	// secret (rotate) signs alone; the old one, unreadable, is dropped.
	svc.Secrets = box(t, "third signing secret 0123456789abcdef0")
	fresh, err := svc.RotateWebhookSecret(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := svc.TestWebhookEndpoint(ctx, ep.ID); err != nil || a.Error != "" || len(seen.last) != 1 || seen.last[0] != fresh.Secret {
		t.Errorf("after a rotation under a new signing secret: attempt %q (%v), %d secret(s); want the new one alone", a.Error, err, len(seen.last))
	}
}

// sealLegacy: a secret kept before sealing existed is read as it is, and
// sealed at start-up.
func sealLegacy(t *testing.T, svc *credits.Service) {
	t.Helper()
	ctx := context.Background()
	legacy, err := svc.CreateWebhookEndpoint(ctx, "https://app.example.com/legacy", []string{"*"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Store.Update(ctx, func(tx credits.Tx) error { return tx.SetWebhookSecrets(legacy.ID, legacy.Secret, "") }); err != nil {
		t.Fatal(err)
	}
	if n, unopened, err := svc.SealWebhookSecrets(ctx); err != nil || n != 1 || len(unopened) != 0 {
		t.Errorf("sealed %d endpoint(s) at start-up, %v unopened (%v), want the legacy one", n, unopened, err)
	}
	if stored, _ := storedSecrets(t, svc, legacy.ID); !strings.HasPrefix(stored, "sealed1:") {
		t.Errorf("the legacy secret is still %q", stored)
	}
}

// TestSealedSecretsAreBoundToTheirEndpoint: a sealed value copied to another
// endpoint's row does not open there.
func TestSealedSecretsAreBoundToTheirEndpoint(t *testing.T) {
	b := box(t, "a signing secret 0123456789abcdef0123")
	sealed := b.Seal("whsec_abc", "we_one")
	if got, current, err := b.Open(sealed, "we_one"); err != nil || got != "whsec_abc" || !current {
		t.Fatalf("open on its endpoint: %q %v %v", got, current, err)
	}
	if _, _, err := b.Open(sealed, "we_two"); !errors.Is(err, credits.ErrSecretSealed) {
		t.Errorf("open on another endpoint: %v, want ErrSecretSealed", err)
	}
}
