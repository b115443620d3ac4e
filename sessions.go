package credits

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"
)

// Kinds of web session.
const (
	SessionLink      = "link"      // a dashboard link, before it is opened
	SessionDashboard = "dashboard" // a customer's dashboard session
	SessionOperator  = "operator"  // an operator's session on /admin
)

// What a customer page may change besides buying: each is granted by the key
// that made its link.
const (
	CanPurchase     = "purchase"      // buy packs through Checkout
	CanAutoRecharge = "auto_recharge" // turn auto-recharge on or off
	CanCard         = "card"          // save or remove the card
)

// Capabilities lists what a link made by a key of scope may let its page do,
// as the same key could over the API: a spend key buys; only an admin key
// changes auto-recharge or the card.
func Capabilities(scope string) []string {
	switch scope {
	case ScopeAdmin:
		return []string{CanPurchase, CanAutoRecharge, CanCard}
	case ScopeSpend:
		return []string{CanPurchase}
	}
	return nil
}

// WebSession is a dashboard link or a session of the pages, kept so that it
// can be revoked. A signed token carries a random secret; the store keeps only
// its SHA-256, the ID, so that a copy of the database opens nothing.
type WebSession struct {
	ID        string    `json:"id"` // hex SHA-256 of the token's secret: names the session, forges nothing
	Kind      string    `json:"kind"`
	AccountID string    `json:"account_id"`          // "" for an operator
	KeyID     string    `json:"key_id,omitempty"`    // the API key that made it (or its link)
	Can       []string  `json:"can,omitempty"`       // what a customer page may change
	MemberID  string    `json:"member_id,omitempty"` // a member's page: its allowance and its own history
	Used      bool      `json:"used,omitempty"`      // a link already exchanged for a session
	Flash     string    `json:"-"`                   // an operator's notice, shown once
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
}

// Allows reports whether a customer page may do what capability names.
func (ws WebSession) Allows(capability string) bool { return slices.Contains(ws.Can, capability) }

// NewWebSession is a link or session to make.
type NewWebSession struct {
	Kind      string
	AccountID string
	KeyID     string
	Can       []string
	TTL       time.Duration
	MemberID  string
}

// SessionHash is what the store keeps of a session's secret.
func SessionHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// sessionSecretBytes is the randomness of a session's secret.
const sessionSecretBytes = 32

func newSessionSecret() string {
	var b [sessionSecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "ws_" + hex.EncodeToString(b[:])
}

// CreateWebSession records a link or a session and returns it with its
// secret, which is not kept: only the token that carries it opens it.
func (s *Service) CreateWebSession(ctx context.Context, req NewWebSession) (WebSession, string, error) {
	now := s.now()
	secret := newSessionSecret()
	ws := WebSession{ID: SessionHash(secret), Kind: req.Kind, AccountID: req.AccountID, KeyID: req.KeyID, Can: req.Can,
		MemberID: req.MemberID, ExpiresAt: now.Add(req.TTL), CreatedAt: now}
	err := s.Store.Update(ctx, func(tx Tx) error { return tx.CreateWebSession(ws) })
	return ws, secret, err
}

// Errors of links and sessions.
var (
	// ErrSessionInvalid is a link or session that is unknown, revoked,
	// expired or of another kind.
	ErrSessionInvalid = errors.New("the link or session is not valid any more")
	// ErrLinkUsed is a dashboard link opened before: a link opens once.
	ErrLinkUsed = errors.New("this link was already used")
)

// CheckWebSession returns the live link or session of kind that a token's
// secret names. It reads the shared store each time: a revocation on any
// replica holds at once.
func (s *Service) CheckWebSession(ctx context.Context, secret, kind string) (WebSession, error) {
	if err := lookupID("session", secret); err != nil {
		return WebSession{}, ErrSessionInvalid
	}
	var ws WebSession
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		ws, err = tx.WebSession(SessionHash(secret))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return ws, ErrSessionInvalid
	}
	if err != nil {
		return ws, err
	}
	return ws, s.live(ws, kind)
}

func (s *Service) live(ws WebSession, kind string) error {
	if ws.Kind != kind || ws.Revoked || !ws.ExpiresAt.After(s.now()) {
		return ErrSessionInvalid
	}
	return nil
}

// UseLink exchanges a dashboard link, once, for a dashboard session of ttl
// with the link's account, key and capabilities; it returns the session and
// its secret. A link used before answers ErrLinkUsed.
func (s *Service) UseLink(ctx context.Context, linkSecret string, ttl time.Duration) (WebSession, string, error) {
	if err := lookupID("session", linkSecret); err != nil {
		return WebSession{}, "", ErrSessionInvalid
	}
	now, secret := s.now(), newSessionSecret()
	var session WebSession
	err := s.Store.Update(ctx, func(tx Tx) error {
		link, err := tx.WebSession(SessionHash(linkSecret))
		if errors.Is(err, ErrNotFound) {
			return ErrSessionInvalid
		} else if err != nil {
			return err
		}
		if err := s.live(link, SessionLink); err != nil {
			return err
		}
		if first, err := tx.UseWebSession(link.ID); err != nil {
			return err
		} else if !first || link.Used {
			return ErrLinkUsed
		}
		session = WebSession{ID: SessionHash(secret), Kind: SessionDashboard, AccountID: link.AccountID, KeyID: link.KeyID,
			Can: link.Can, MemberID: link.MemberID, ExpiresAt: now.Add(ttl), CreatedAt: now}
		return tx.CreateWebSession(session)
	})
	return session, secret, err
}

// RevokeWebSession ends one link or session, named by its ID, at once on
// every replica; it answers ENOTFOUND for an unknown one.
func (s *Service) RevokeWebSession(ctx context.Context, id string) error {
	if err := lookupID("session", id); err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.WebSession(id); errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "session %s not found", id)
		} else if err != nil {
			return err
		}
		return tx.RevokeWebSession(id)
	})
}

// OperatorSessions lists the live operator sessions, newest first.
func (s *Service) OperatorSessions(ctx context.Context) ([]WebSession, error) {
	var out []WebSession
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		out, err = tx.LiveWebSessions(SessionOperator, s.now())
		return err
	})
	return out, err
}

// maxFlashLength bounds an operator's notice.
const maxFlashLength = 500

// SetFlash keeps a notice with a session (named by its ID), to be shown once
// by the next page: notices never come from a URL, where anyone could write
// one.
func (s *Service) SetFlash(ctx context.Context, id, notice string) error {
	if len(notice) > maxFlashLength {
		notice = notice[:maxFlashLength]
	}
	return s.Store.Update(ctx, func(tx Tx) error { return tx.SetWebSessionFlash(id, notice) })
}

// TakeFlash returns a session's notice and forgets it.
func (s *Service) TakeFlash(ctx context.Context, ws WebSession) (string, error) {
	if ws.Flash == "" {
		return "", nil
	}
	return ws.Flash, s.Store.Update(ctx, func(tx Tx) error { return tx.SetWebSessionFlash(ws.ID, "") })
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

// SigningSecret returns the secret that signs dashboard links and cookies in
// development, made once and kept in the store, so that every replica has the
// same one and rotating API keys signs nobody out. Production takes it from
// CREDITS_SIGNING_SECRET and never stores it.
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
