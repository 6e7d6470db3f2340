// Package secret compares a presented API key or token with a configured
// one in constant time. A configured secret is the secret itself or
// "sha256:" followed by the 64 hex digits of its SHA-256, so that a config
// file need not hold it in the clear.
//
// It knows nothing about HTTP: callers take the presented value from
// wherever their protocol carries it.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// HashPrefix marks a configured secret given as its SHA-256.
const HashPrefix = "sha256:"

// ErrBadHash is wrapped by Parse for a "sha256:" value that is not 64 hex
// digits.
var ErrBadHash = errors.New(`after "sha256:" give the 64 hex digits of the secret's SHA-256 (printf %s SECRET | sha256sum)`)

// Secret is a configured secret, kept only as its SHA-256. The zero value
// is unset: it matches nothing.
type Secret struct {
	sum [sha256.Size]byte
	set bool
}

// Parse reads a configured secret: "" (unset), "sha256:<64 hex digits>", or
// the secret itself.
func Parse(configured string) (Secret, error) {
	if configured == "" {
		return Secret{}, nil
	}
	hexSum, hashed := strings.CutPrefix(configured, HashPrefix)
	if !hashed {
		return Secret{sum: sha256.Sum256([]byte(configured)), set: true}, nil
	}
	b, err := hex.DecodeString(hexSum)
	if err != nil || len(b) != sha256.Size {
		return Secret{}, fmt.Errorf("secret: %w", ErrBadHash)
	}
	s := Secret{set: true}
	copy(s.sum[:], b)
	return s, nil
}

// IsSet reports whether a secret is configured.
func (s Secret) IsSet() bool { return s.set }

// Match reports whether presented is the secret. Both sides are compared as
// SHA-256 sums in constant time, so the time taken says nothing about the
// secret, not even its length. An unset Secret matches nothing.
func (s Secret) Match(presented string) bool {
	if !s.set {
		return false
	}
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], s.sum[:]) == 1
}
