package credits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// developmentKeySetting names the development API key, kept sealed.
const developmentKeySetting = "development_api_key"

// DevelopmentKeyPrefix starts every generated development API key.
const DevelopmentKeyPrefix = "dev_"

// DevelopmentAPIKey returns the database's development API key, made the
// first time and kept, so that a saved KEY= still works after a restart.
//
// The key must be read back to be printed at each start, so it cannot be
// hashed like the scoped keys: it is sealed with the service's secret box
// (the key derived from the signing secret), as webhook endpoints' secrets
// are. It lives in the database rather than in a file beside it because a
// PostgreSQL database has no file beside it, and because "once per database"
// then holds for a copied or restored database too.
func (s *Service) DevelopmentAPIKey(ctx context.Context) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("the development API key needs the secret box (a signing secret)")
	}
	read := func() (stored string, err error) {
		err = s.Store.View(ctx, func(tx Tx) (err error) {
			stored, err = tx.Setting(developmentKeySetting)
			return err
		})
		return stored, err
	}
	stored, err := read()
	if errors.Is(err, ErrNotFound) {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		sealed := s.Secrets.Seal(DevelopmentKeyPrefix+hex.EncodeToString(b[:]), developmentKeySetting)
		if err := s.Store.Update(ctx, func(tx Tx) error { return tx.CreateSetting(developmentKeySetting, sealed) }); err != nil {
			return "", fmt.Errorf("keep the development API key: %w", err)
		}
		stored, err = read() // another replica may have made it first: its key stays
	}
	if err != nil {
		return "", fmt.Errorf("read the development API key: %w", err)
	}
	key, _, err := s.Secrets.Open(stored, developmentKeySetting)
	if err != nil || key == "" {
		return "", fmt.Errorf("the development API key kept in the database: %w", ErrSecretSealed)
	}
	return key, nil
}
