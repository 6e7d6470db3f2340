package localreq

import (
	"net/http"
	"testing"
)

func TestIs(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		host   string
		header http.Header
		want   bool
	}{
		{"loopback v4", "127.0.0.1:5000", "localhost:8000", nil, true},
		{"loopback v6", "[::1]:5000", "[::1]:8000", nil, true},
		{"127/8", "127.3.4.5:5000", "127.0.0.1", nil, true},
		{"name under .localhost", "127.0.0.1:5000", "api.localhost:8000", nil, true},
		{"remote client", "203.0.113.9:5000", "localhost:8000", nil, false},
		{"bad remote address", "garbage", "localhost", nil, false},
		{"public Host", "127.0.0.1:5000", "example.com", nil, false},
		{"X-Forwarded-For", "127.0.0.1:5000", "localhost", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, false},
		{"Forwarded", "127.0.0.1:5000", "localhost", http.Header{"Forwarded": {"for=203.0.113.9"}}, false},
		{"X-Real-Ip", "127.0.0.1:5000", "localhost", http.Header{"X-Real-Ip": {"203.0.113.9"}}, false},
		{"local page", "127.0.0.1:5000", "localhost", http.Header{"Origin": {"http://localhost:3000"}}, true},
		{"foreign Origin", "127.0.0.1:5000", "localhost", http.Header{"Origin": {"https://evil.example"}}, false},
		{"foreign Referer", "127.0.0.1:5000", "localhost", http.Header{"Referer": {"https://evil.example/page"}}, false},
		{"cross-site fetch", "127.0.0.1:5000", "localhost", http.Header{"Sec-Fetch-Site": {"cross-site"}}, false},
		{"same-origin fetch", "127.0.0.1:5000", "localhost", http.Header{"Sec-Fetch-Site": {"same-origin"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Host: tt.host, Header: tt.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			if got := Is(r); got != tt.want {
				t.Fatalf("Is = %v, want %v", got, tt.want)
			}
		})
	}
}
