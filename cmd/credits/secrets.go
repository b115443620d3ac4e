package main

import (
	"context"
	"fmt"

	"github.com/credits/credits"
)

// signingKeys returns the secret that signs links and cookies and seals
// webhook endpoints' secrets, and the previous one still accepted during a
// rotation. Production takes it from CREDITS_SIGNING_SECRET and never stores
// it; development, without it, makes one and keeps it in the database.
func (c *Config) signingKeys(ctx context.Context, svc *credits.Service) (current []byte, previous [][]byte, err error) {
	if c.SigningSecretPrevious != "" {
		previous = [][]byte{[]byte(c.SigningSecretPrevious)}
	}
	if c.SigningSecret != "" {
		return []byte(c.SigningSecret), previous, nil
	}
	if c.Env == envProduction {
		return nil, nil, fmt.Errorf("production needs CREDITS_SIGNING_SECRET: set it in the environment")
	}
	current, err = svc.SigningSecret(ctx)
	return current, previous, err
}

// useSecretBox lets the service seal and open webhook endpoints' secrets
// with a key derived from the signing secret. A command run in production
// without CREDITS_SIGNING_SECRET has no box: the commands that write a new
// endpoint secret refuse to run without it (sealsSecrets), the others do not
// need it.
func (c *Config) useSecretBox(ctx context.Context, svc *credits.Service, readOnly bool) error {
	if readOnly || (c.Env == envProduction && c.SigningSecret == "") {
		return nil
	}
	current, previous, err := c.signingKeys(ctx, svc)
	if err != nil {
		return fmt.Errorf("signing secret: %w", err)
	}
	svc.Secrets, err = credits.NewSecretBox(current, previous...)
	return err
}

// sealsSecrets refuses a production command that writes an endpoint's
// signing secret without CREDITS_SIGNING_SECRET: the secret would be stored
// in plain text until every server restarted and sealed it, and a copy of
// the database meanwhile would hold a secret that signs events.
func (c *Config) sealsSecrets(command string) error {
	if c.Env != envProduction || c.SigningSecret != "" {
		return nil
	}
	return fmt.Errorf("credits %s in production needs CREDITS_SIGNING_SECRET (the servers' value): the endpoint's secret is stored sealed with it, never in plain text", command)
}
