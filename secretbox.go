package credits

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretBox encrypts the secrets the service must read back (webhook
// endpoints' signing secrets) before they reach the store: AES-256-GCM with a
// key derived by HKDF-SHA256 from CREDITS_SIGNING_SECRET, which the store
// never holds in production. A copy of the database then signs nothing.
type SecretBox struct {
	aeads []cipher.AEAD // the first seals; each opens (a rotation's previous keys)
}

// sealedPrefix starts a sealed value; a value without it is a plain secret
// written before encryption, read as it is and sealed at start-up.
const sealedPrefix = "sealed1:"

// secretBoxInfo binds the derived key to this one use of the signing secret.
const secretBoxInfo = "credits webhook endpoint secrets v1"

// NewSecretBox derives the box's keys from the signing secret and the
// previous ones still accepted during a rotation.
func NewSecretBox(signingSecret []byte, previous ...[]byte) (*SecretBox, error) {
	box := &SecretBox{}
	for _, secret := range append([][]byte{signingSecret}, previous...) {
		if len(secret) == 0 {
			continue
		}
		key, err := hkdf.Key(sha256.New, secret, nil, secretBoxInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("derive the secret box key: %w", err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		box.aeads = append(box.aeads, aead)
	}
	if len(box.aeads) == 0 {
		return nil, errors.New("the secret box needs a signing secret")
	}
	return box, nil
}

// Seal encrypts plain for the record named by context (an endpoint id), so
// that a sealed value moved to another record does not open.
func (b *SecretBox) Seal(plain, context string) string {
	if b == nil || plain == "" {
		return plain
	}
	aead := b.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	sealed := aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// ErrSecretSealed is a sealed secret that no key of the box opens (the
// signing secret changed without CREDITS_SIGNING_SECRET_PREVIOUS).
var ErrSecretSealed = errors.New("a stored secret is sealed with another signing secret: set CREDITS_SIGNING_SECRET_PREVIOUS to the one before")

// Open decrypts a sealed value, and reports whether it was sealed with the
// box's current key; a plain (legacy) value is returned as it is.
func (b *SecretBox) Open(stored, context string) (plain string, current bool, err error) {
	encoded, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, stored == "", nil
	}
	if b == nil {
		return "", false, ErrSecretSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", false, ErrSecretSealed
	}
	for i, aead := range b.aeads {
		if len(raw) < aead.NonceSize() {
			break
		}
		if out, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context)); err == nil {
			return string(out), i == 0, nil
		}
	}
	return "", false, ErrSecretSealed
}
