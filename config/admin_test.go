package config

import (
	"strings"
	"testing"
)

func TestAdminToken(t *testing.T) {
	for _, tt := range []struct{ text, wantErr string }{
		{`admin: { token: "" }`, ""},
		{`admin: { token: "a long random token" }`, ""},
		{`admin: { token: "sha256:` + strings.Repeat("0f", 32) + `" }`, ""},
		{`admin: { token: "sha256:xyz" }`, "admin.token: after \"sha256:\" give the 64 hex digits"},
	} {
		c, err := Parse([]byte(tt.text), "a.hjson")
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.text, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s:\n got %v\nwant %s", tt.text, err, tt.wantErr)
		}
	}
}
