package credits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// API key scopes, each allowing what the one before does and more.
const (
	ScopeRead  = "read"  // GETs
	ScopeSpend = "spend" // and debits, holds, checkout sessions, dashboard links
	ScopeAdmin = "admin" // everything: packs, accounts, grants, adjustments, events, keys, /metrics, /admin
)

// ScopeRank orders the scopes (0 for an unknown one).
func ScopeRank(scope string) int {
	switch scope {
	case ScopeRead:
		return 1
	case ScopeSpend:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// BootstrapKeyID names CREDITS_API_KEY, the admin key of the configuration.
const BootstrapKeyID = "bootstrap"

// apiKeyPrefix starts every secret this service makes.
const apiKeyPrefix = "ck_"

// lastUsedResolution is how stale a key's last use may be written: a key in
// use is not written on every request.
const lastUsedResolution = time.Minute

// APIKey is a scoped key; its secret is shown once and only a hash is kept.
type APIKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	AccountID string `json:"account_id,omitempty"` // set: the key reaches this account only
	// MemberID, set, binds a spend key of one account to one of its
	// members: it spends as that member only.
	MemberID   string     `json:"member_id,omitempty"`
	SecretHash string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// HashAPIKey is what is kept of a secret.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateAPIKey makes a key and returns it with its secret, which is not kept.
func (s *Service) CreateAPIKey(ctx context.Context, name, scope, accountID string) (APIKey, string, error) {
	return s.CreateMemberAPIKey(ctx, name, scope, accountID, "")
}

// CreateMemberAPIKey is CreateAPIKey for a key that may also be bound to a
// member of its account (memberID; "" for none): a spend key, that spends
// as that member only.
func (s *Service) CreateMemberAPIKey(ctx context.Context, name, scope, accountID, memberID string) (APIKey, string, error) {
	if ScopeRank(scope) == 0 {
		return APIKey{}, "", Errorf(EINVALID, "scope must be read, spend or admin")
	}
	name = strings.TrimSpace(name)
	if err := checkText("name", name); err != nil {
		return APIKey{}, "", err
	}
	if len(name) > MaxNameLength {
		return APIKey{}, "", Errorf(EINVALID, "name must be at most %d characters", MaxNameLength)
	}
	if accountID != "" {
		if _, err := s.GetAccount(ctx, accountID); err != nil {
			return APIKey{}, "", err
		}
	}
	if err := s.checkKeyMember(ctx, scope, accountID, memberID); err != nil {
		return APIKey{}, "", err
	}
	secret := apiKeyPrefix + NewID("") + NewID("") // 192 random bits
	key := APIKey{ID: NewID("key_"), Name: name, Scope: scope, AccountID: accountID, MemberID: memberID, SecretHash: HashAPIKey(secret), CreatedAt: s.now()}
	err := s.Store.Update(ctx, func(tx Tx) error { return tx.CreateAPIKey(key) })
	return key, secret, err
}

// ListAPIKeys lists the keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	var keys []APIKey
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		keys, err = tx.APIKeys()
		return err
	})
	return keys, err
}

// RevokeAPIKey revokes a key, and every link and session it made, at once
// on every replica.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	if err := lookupID("API key", id); err != nil {
		return APIKey{}, err
	}
	var key APIKey
	err := s.Store.Update(ctx, func(tx Tx) error {
		var err error
		if key, err = tx.APIKey(id); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "API key %s not found", id)
		} else if err != nil {
			return err
		}
		if key.RevokedAt != nil {
			return nil
		}
		now := s.now()
		key.RevokedAt = &now
		if err := tx.RevokeAPIKey(id, now); err != nil {
			return err
		}
		_, err = tx.RevokeKeyWebSessions(id) // its /admin sessions and dashboard links end with it
		return err
	})
	return key, err
}

// LiveAPIKey returns the key of id unless it is unknown or revoked
// (EUNAUTHORIZED): a session lives only as long as the key that made it.
func (s *Service) LiveAPIKey(ctx context.Context, id string) (APIKey, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "the API key of this session was revoked")
	if lookupID("API key", id) != nil {
		return APIKey{}, unauthorized
	}
	var key APIKey
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		key, err = tx.APIKey(id)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return key, unauthorized
	case err != nil:
		return key, err
	case key.RevokedAt != nil:
		return key, unauthorized
	}
	return key, nil
}

// Authenticate finds the live key of a secret, and notes its use.
func (s *Service) Authenticate(ctx context.Context, secret string) (APIKey, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "missing, wrong or revoked API key")
	if !strings.HasPrefix(secret, apiKeyPrefix) || len(secret) > MaxStripeIDLength || !PlainText(secret) {
		return APIKey{}, unauthorized
	}
	var key APIKey
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		key, err = tx.APIKeyByHash(HashAPIKey(secret))
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return key, unauthorized
	case err != nil:
		return key, err
	case key.RevokedAt != nil:
		return key, unauthorized
	}
	if now := s.now(); key.LastUsedAt == nil || now.Sub(*key.LastUsedAt) >= lastUsedResolution {
		key.LastUsedAt = &now
		if err := s.Store.Update(ctx, func(tx Tx) error { return tx.TouchAPIKey(key.ID, now) }); err != nil {
			s.Logger.Warn("note an API key's use", "key", key.ID, "error", err)
		}
	}
	return key, nil
}
