package adminauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGuard(t *testing.T) {
	const local, remote = "127.0.0.1:5000", "203.0.113.9:5000"
	tests := []struct {
		name       string
		token      string
		remote     string
		host       string
		header     http.Header
		wantStatus int // 200: let in
		challenge  bool
	}{
		{"no token, local", "", local, "localhost:8000", nil, 200, false},
		{"no token, remote", "", remote, "localhost:8000", nil, 403, false},
		{"no token, local through a proxy", "", local, "localhost:8000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 403, false},
		{"no token, a Bearer does not open it", "", remote, "example.com", http.Header{"Authorization": {"Bearer x"}}, 403, false},
		{"token, remote, none sent", "tok", remote, "example.com", nil, 401, true},
		{"token, local, none sent", "tok", local, "localhost:8000", nil, 401, true},
		{"token, Bearer right", "tok", remote, "example.com", http.Header{"Authorization": {"Bearer tok"}}, 200, false},
		{"token, bearer in lower case", "tok", remote, "example.com", http.Header{"Authorization": {"bearer tok"}}, 200, false},
		{"token, Bearer wrong", "tok", remote, "example.com", http.Header{"Authorization": {"Bearer tok2"}}, 401, true},
		{"token, Basic with any user", "tok", remote, "example.com", http.Header{"Authorization": {"Basic YW55b25lOnRvaw=="}}, 200, false}, // anyone:tok
		{"token, Basic wrong password", "tok", remote, "example.com", http.Header{"Authorization": {"Basic YW55b25lOm5vcGU="}}, 401, true}, // anyone:nope
		{"hashed token, Bearer right", tokSum, remote, "example.com", http.Header{"Authorization": {"Bearer tok"}}, 200, false},
		{"hashed token, the hash is not the token", tokSum, remote, "example.com", http.Header{"Authorization": {"Bearer " + tokSum}}, 401, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.token)
			if err != nil {
				t.Fatal(err)
			}
			h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
			r := httptest.NewRequest("GET", "/console", nil)
			r.RemoteAddr, r.Host = tt.remote, tt.host
			for k, v := range tt.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate") != ""; got != tt.challenge {
				t.Fatalf("challenge sent = %v, want %v", got, tt.challenge)
			}
			if w.Code != 200 {
				var body struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
					t.Fatalf("refusal body %q is not {\"error\": message}: %v", w.Body, err)
				}
			}
		})
	}
}

// tokSum is "tok" as a hashed config value: printf %s tok | sha256sum.
const tokSum = "sha256:1a7674eb4ee78df7e1ac439a93c3fa8e3c945784d4dec9fd8e3011738b2f1d62"

func TestNewRejectsMalformedHash(t *testing.T) {
	if _, err := New("sha256:nothex"); err == nil {
		t.Fatal("New accepted a malformed hash")
	}
}
