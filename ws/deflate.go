package ws

import (
	"bytes"
	"net/http"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"

	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// compressThreshold is the smallest payload worth compressing; smaller
// messages are sent as they are even on a deflate connection (RFC 7692 lets
// each message choose).
const compressThreshold = 128

// deflateParams are the only permessage-deflate parameters this server
// accepts: no context takeover either way, so that messages compress and
// decompress on their own and one compressed copy serves every connection.
var deflateParams = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}

// negotiateDeflate picks the first permessage-deflate offer of r that this
// server can honour, in the client's order of preference (RFC 7692 §5), and
// returns the answer to send for it; ok is false when no offer can be
// honoured. An offer this server cannot honour, or with a parameter it does
// not know, is declined and the next one tried; only a header that does not
// parse is an error.
func negotiateDeflate(r *http.Request) (answer httphead.Option, ok bool, err error) {
	for _, h := range r.Header.Values("Sec-WebSocket-Extensions") {
		opts, parsed := httphead.ParseOptions([]byte(h), nil)
		if !parsed {
			return answer, false, fmt.Errorf("cannot parse %q", h)
		}
		for _, opt := range opts {
			if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
				continue
			}
			ext := wsflate.Extension{Parameters: deflateParams}
			if a, err := ext.Negotiate(opt); err == nil && a.Size() > 0 {
				return a, true, nil
			}
		}
	}
	return answer, false, nil
}

// deflateNegotiator is the upgrader's Negotiate for a handshake whose
// permessage-deflate offers negotiateDeflate answered: it answers once,
// with answer, however many offers the client listed.
func deflateNegotiator(answer httphead.Option) func(httphead.Option) (httphead.Option, error) {
	answered := false
	return func(opt httphead.Option) (httphead.Option, error) {
		if answered || !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
			return httphead.Option{}, nil
		}
		answered = true
		return answer, nil
	}
}

// deflateTail is the empty stored block that RFC 7692 section 7.2.1 strips
// from every compressed message and section 7.2.2 appends before inflating.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate compresses p as one permessage-deflate message with no context
// takeover.
func deflate(p []byte) []byte {
	var buf bytes.Buffer
	w := flateWriters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(p) // writes to a bytes.Buffer cannot fail
	_ = w.Flush()
	flateWriters.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

// inflate decompresses one permessage-deflate message, refusing output over
// limit bytes (limit < 0: no limit).
func inflate(p []byte, limit int64) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	defer r.Close()
	var src io.Reader = r
	if limit >= 0 {
		src = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(src)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if limit >= 0 && int64(len(out)) > limit {
		return nil, ErrMessageTooBig
	}
	return out, nil
}
