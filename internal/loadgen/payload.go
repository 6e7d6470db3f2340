package loadgen

import (
	"bytes"
	"strconv"
)

// A published message's text is a marker followed by padding:
//
//	sbm:<publisher>:<seq>:<nanoseconds since the run began>:xxxx...
//
// Only ASCII letters, digits and ':' are used, so the marker reaches the
// receiver byte for byte inside any dialect's framing: a Pusher event's JSON
// "data" string, the token broker's JSON-encoded string, or a raw echo.
var markerPrefix = []byte("sbm:")

// padding fills messages up to their payload size, a slice at a time.
var padding = bytes.Repeat([]byte{'x'}, 4096)

// appendMessage appends a message of size bytes (or of the marker's length,
// if longer) carrying pub, seq and ts to dst.
func appendMessage(dst []byte, pub, seq uint64, ts int64, size int) []byte {
	start := len(dst)
	dst = append(dst, markerPrefix...)
	dst = strconv.AppendUint(dst, pub, 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, ':')
	for n := size - (len(dst) - start); n > 0; n -= len(padding) {
		dst = append(dst, padding[:min(n, len(padding))]...)
	}
	return dst
}

// parseMessage finds a marker in frame and returns its fields. ok is false
// when frame holds no well-formed marker. It does not allocate.
func parseMessage(frame []byte) (pub, seq uint64, ts int64, ok bool) {
	i := bytes.Index(frame, markerPrefix)
	if i < 0 {
		return 0, 0, 0, false
	}
	p := frame[i+len(markerPrefix):]
	if pub, p, ok = parseField(p); !ok {
		return 0, 0, 0, false
	}
	if seq, p, ok = parseField(p); !ok {
		return 0, 0, 0, false
	}
	var t uint64
	if t, _, ok = parseField(p); !ok || t > 1<<62 {
		return 0, 0, 0, false
	}
	return pub, seq, int64(t), true
}

// parseField parses the decimal number at the start of p up to its ':' and
// returns the rest after the ':'.
func parseField(p []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(p) && i < 20; i++ {
		c := p[i]
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	if i == 0 || i >= len(p) || p[i] != ':' {
		return 0, nil, false
	}
	return v, p[i+1:], true
}
