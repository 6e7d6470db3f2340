package ws

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// FuzzNegotiateDeflate feeds Sec-WebSocket-Extensions values to the offer
// parser: it must not panic, and an answer must be a valid
// permessage-deflate response whose window matches the mode it sets.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=16",
		"x-webkit-deflate-frame, permessage-deflate; frobnicate",
		`permessage-deflate; server_max_window_bits="10"`,
		";;,,=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{"Sec-Websocket-Extensions": {header}}}
		answer, mode, err := negotiateDeflate(r)
		if err != nil || !mode.on() {
			return
		}
		if mode < minWindow || mode > deflateFull {
			t.Fatalf("mode %d out of 8-15", mode)
		}
		var wire bytes.Buffer // the header value as the upgrader writes it
		if _, err := httphead.WriteOptions(&wire, []httphead.Option{answer}); err != nil {
			t.Fatal(err)
		}
		opts, ok := httphead.ParseOptions(wire.Bytes(), nil)
		if !ok || len(opts) != 1 {
			t.Fatalf("answer %q does not parse as one option", wire.Bytes())
		}
		var p wsflate.Parameters
		if err := p.Parse(opts[0]); err != nil {
			t.Fatalf("answer %q: %v", wire.Bytes(), err)
		}
		if p.ServerMaxWindowBits.Defined() && deflateMode(p.ServerMaxWindowBits) != mode || !p.ServerMaxWindowBits.Defined() && mode != deflateFull {
			t.Fatalf("answer %q, mode %d", wire.Bytes(), mode)
		}
	})
}
