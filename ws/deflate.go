package ws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
	"github.com/klauspost/compress/flate"
)

// compressThreshold is the smallest payload worth compressing; smaller
// messages are sent as they are even on a deflate connection (RFC 7692 lets
// each message choose).
const compressThreshold = 128

// deflateMode is what a connection negotiated: deflateOff, or the largest
// LZ77 window the server may compress with, in bits (8 to 15: 256 bytes to
// 32 KiB; RFC 7692 §7.1.2.1 server_max_window_bits).
type deflateMode uint8

const (
	deflateOff  deflateMode = 0
	deflateFull deflateMode = 15 // no server_max_window_bits: the full 32 KiB window
	minWindow   deflateMode = 8
)

func (m deflateMode) on() bool { return m != deflateOff }

// negotiateDeflate picks the first permessage-deflate offer of r that this
// server can honour, in the client's order of preference (RFC 7692 §5), and
// returns the answer to send for it and the mode it sets; deflateOff when no
// offer can be honoured. Every valid offer can: the server compresses each
// message on its own (server_no_context_takeover) within the window the
// offer allows (server_max_window_bits, 8-15), asks the client to do the
// same (client_no_context_takeover), and inflates any client window, so it
// never needs to answer client_max_window_bits. An offer with a parameter
// it does not know, or a bad value, is declined and the next one tried;
// only a header that does not parse is an error.
func negotiateDeflate(r *http.Request) (answer httphead.Option, mode deflateMode, err error) {
	for _, h := range r.Header.Values("Sec-WebSocket-Extensions") {
		opts, parsed := httphead.ParseOptions([]byte(h), nil)
		if !parsed {
			return answer, deflateOff, fmt.Errorf("cannot parse %q", h)
		}
		for _, opt := range opts {
			if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
				continue
			}
			var offer wsflate.Parameters
			if offer.Parse(opt) != nil {
				continue
			}
			mode = deflateFull
			if offer.ServerMaxWindowBits.Defined() {
				mode = deflateMode(offer.ServerMaxWindowBits)
			}
			accept := wsflate.Parameters{
				ServerNoContextTakeover: true,
				ClientNoContextTakeover: true,
				ServerMaxWindowBits:     offer.ServerMaxWindowBits, // echoed when offered (RFC 7692 §7.1.2.1)
			}
			return accept.Option(), mode, nil
		}
	}
	return answer, deflateOff, nil
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

// flateWriters holds idle compressors, one pool per window size (index:
// bits - 8). Compressors are large (klauspost's fastest level is a few
// hundred KiB with its tables) and only busy while a message is compressed,
// so connections share them: a compressing connection holds none between
// messages.
var flateWriters [deflateFull - minWindow + 1]sync.Pool

// newFlateWriter returns a compressor for a window of 2^bits bytes.
func newFlateWriter(bits deflateMode) *flate.Writer {
	var w *flate.Writer
	if bits == deflateFull {
		w, _ = flate.NewWriter(nil, flate.BestSpeed) // the level is valid
	} else {
		w, _ = flate.NewWriterWindow(nil, 1<<bits) // 256 to 16384: within Min/MaxCustomWindowSize
	}
	return w
}

// deflate compresses p as one permessage-deflate message with no context
// takeover, within a window of 2^mode bytes.
func deflate(p []byte, mode deflateMode) []byte {
	mode = max(mode, minWindow)
	pool := &flateWriters[mode-minWindow]
	w, _ := pool.Get().(*flate.Writer)
	if w == nil {
		w = newFlateWriter(mode)
	}
	var buf bytes.Buffer
	w.Reset(&buf)
	_, _ = w.Write(p) // writes to a bytes.Buffer cannot fail
	_ = w.Flush()
	pool.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

// flateReaders holds idle decompressors; any of them inflates any window.
var flateReaders sync.Pool

// inflate decompresses one permessage-deflate message, refusing output over
// limit bytes (limit < 0: no limit).
func inflate(p []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail))
	r, _ := flateReaders.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	defer flateReaders.Put(r)
	var in io.Reader = r
	if limit >= 0 {
		in = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(in)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if limit >= 0 && int64(len(out)) > limit {
		return nil, ErrMessageTooBig
	}
	return out, nil
}
