package credits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// Kinds of web session.
const (
	SessionLink      = "link"      // a dashboard link, before it is opened
	SessionDashboard = "dashboard" // a customer's dashboard session
	SessionOperator  = "operator"  // an operator's session on /admin
)

// WebSession is a dashboard link or a session of the pages, kept so that it
// can be revoked; a signed token names it.
type WebSession struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	AccountID string    `json:"account_id"` // "" for an operator
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateWebSession records a link or a session of ttl.
func (s *Service) CreateWebSession(ctx context.Context, kind, accountID string, ttl time.Duration) (WebSession, error) {
	now := s.now()
	ws := WebSession{ID: NewID("ws_"), Kind: kind, AccountID: accountID, ExpiresAt: now.Add(ttl), CreatedAt: now}
	err := s.Store.Update(ctx, func(tx Tx) error { return tx.CreateWebSession(ws) })
	return ws, err
}

// ErrSessionInvalid is a link or session that is unknown, revoked, expired or
// of another kind.
var ErrSessionInvalid = errors.New("the link or session is not valid any more")

// CheckWebSession returns a live link or session of the given kind.
func (s *Service) CheckWebSession(ctx context.Context, id, kind string) (WebSession, error) {
	if err := lookupID("session", id); err != nil {
		return WebSession{}, ErrSessionInvalid
	}
	var ws WebSession
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		ws, err = tx.WebSession(id)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ws, ErrSessionInvalid
	case err != nil:
		return ws, err
	case ws.Kind != kind || ws.Revoked || !ws.ExpiresAt.After(s.now()):
		return ws, ErrSessionInvalid
	}
	return ws, nil
}

// RevokeWebSession ends one link or session at once, on every replica.
func (s *Service) RevokeWebSession(ctx context.Context, id string) error {
	if lookupID("session", id) != nil {
		return nil
	}
	return s.Store.Update(ctx, func(tx Tx) error { return tx.RevokeWebSession(id) })
}

// LogoutAccount revokes every dashboard link and session of an account and
// returns how many it revoked.
func (s *Service) LogoutAccount(ctx context.Context, accountID string) (int64, error) {
	if _, err := s.GetAccount(ctx, accountID); err != nil {
		return 0, err
	}
	var n int64
	err := s.Store.Update(ctx, func(tx Tx) (err error) {
		n, err = tx.RevokeAccountWebSessions(accountID)
		return err
	})
	return n, err
}

// signingSecretSetting names the generated secret that signs links and cookies.
const signingSecretSetting = "signing_secret"

// SigningSecret returns the secret that signs dashboard links and cookies,
// made once and kept in the store, so that every replica has the same one
// and rotating API keys signs nobody out.
func (s *Service) SigningSecret(ctx context.Context) ([]byte, error) {
	read := func() (secret string, err error) {
		err = s.Store.View(ctx, func(tx Tx) (err error) {
			secret, err = tx.Setting(signingSecretSetting)
			return err
		})
		return secret, err
	}
	secret, err := read()
	if errors.Is(err, ErrNotFound) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		if err := s.Store.Update(ctx, func(tx Tx) error { return tx.CreateSetting(signingSecretSetting, hex.EncodeToString(b[:])) }); err != nil {
			return nil, err
		}
		secret, err = read() // another replica may have made it first: its secret stays
	}
	if err != nil {
		return nil, err
	}
	return []byte(secret), nil
}
