package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func TestParseAndMatch(t *testing.T) {
	sum := sha256.Sum256([]byte("s3cret"))
	hashed := HashPrefix + hex.EncodeToString(sum[:])
	tests := []struct {
		name       string
		configured string
		presented  string
		set, match bool
	}{
		{"unset matches nothing", "", "", false, false},
		{"unset matches nothing, even a value", "", "s3cret", false, false},
		{"plain, right", "s3cret", "s3cret", true, true},
		{"plain, wrong", "s3cret", "s3creT", true, false},
		{"plain, prefix of it", "s3cret", "s3cre", true, false},
		{"plain, empty presented", "s3cret", "", true, false},
		{"hashed, right", hashed, "s3cret", true, true},
		{"hashed, the hash itself is not the secret", hashed, hashed, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.configured)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.configured, err)
			}
			if s.IsSet() != tt.set {
				t.Fatalf("IsSet = %v, want %v", s.IsSet(), tt.set)
			}
			if got := s.Match(tt.presented); got != tt.match {
				t.Fatalf("Match(%q) = %v, want %v", tt.presented, got, tt.match)
			}
		})
	}
}

func TestParseRejectsBadHash(t *testing.T) {
	for _, bad := range []string{"sha256:", "sha256:abc", "sha256:" + string(make([]byte, 64)), "sha256:zz" + hex.EncodeToString(make([]byte, 31))} {
		if _, err := Parse(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("Parse(%q) = %v, want ErrBadHash", bad, err)
		}
	}
}
