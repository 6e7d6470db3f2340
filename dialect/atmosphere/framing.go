package atmosphere

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the Atmosphere transport layer: the request parameters, the
// protocol handshake frame and trackMessageLength framing. It knows nothing
// of the Navixy API carried on top.

// Atmosphere request parameters (spec §1.1), read from the query string
// first and then from the header of the same name.
const (
	paramTrackingID = "X-Atmosphere-tracking-id"
	paramFramework  = "X-Atmosphere-Framework"
	paramTransport  = "X-Atmosphere-Transport"
	paramProtocol   = "X-atmo-protocol"
	paramTrackSize  = "X-Atmosphere-TrackMessageSize"
	paramHeartbeat  = "X-Heartbeat-Server"
)

// Transports named by X-Atmosphere-Transport.
const (
	transportWebSocket   = "websocket"
	transportLongPolling = "long-polling"
	transportPolling     = "polling" // a message POSTed by the client
	transportClose       = "close"   // the client's disconnect notice
	transportStreaming   = "streaming"
	transportSSE         = "sse"
)

// heartbeatPadding is the heartbeat payload, announced in the handshake.
const heartbeatPadding = "X"

// maxHeartbeatMillis bounds X-Heartbeat-Server (a day), so that the value
// cannot overflow a time.Duration.
const maxHeartbeatMillis = 24 * 60 * 60 * 1000

// params are the Atmosphere parameters of one request.
type params struct {
	trackingID string // "0" or "" for a new client
	framework  string
	transport  string
	protocol   bool // X-atmo-protocol=true: the client wants the handshake
	trackSize  bool // X-Atmosphere-TrackMessageSize=true: length-prefixed framing
	// heartbeat is the client's X-Heartbeat-Server wish in seconds, or -1
	// when it sent none or an unusable value.
	heartbeat int
}

// parseParams reads the Atmosphere parameters of r: the query string first,
// then the header of the same name, as the Java server does.
func parseParams(r *http.Request) params {
	q := r.URL.Query()
	get := func(name string) string {
		if v, ok := q[name]; ok && len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return strings.TrimSpace(r.Header.Get(name))
	}
	p := params{
		trackingID: get(paramTrackingID),
		framework:  get(paramFramework),
		transport:  strings.ToLower(get(paramTransport)),
		protocol:   strings.EqualFold(get(paramProtocol), "true"),
		trackSize:  strings.EqualFold(get(paramTrackSize), "true"),
		heartbeat:  -1,
	}
	if n, err := strconv.Atoi(get(paramHeartbeat)); err == nil && n >= 0 && n <= maxHeartbeatMillis/1000 {
		p.heartbeat = n
	}
	return p
}

// newClient reports whether the request comes from a client that has no
// tracking id yet.
func (p params) newClient() bool { return p.trackingID == "" || p.trackingID == "0" }

// wantsHandshake reports whether the handshake frame must be sent (spec
// §1.2): only to a new client that asked for the protocol.
func (p params) wantsHandshake() bool { return p.newClient() && p.protocol }

// heartbeatPeriod is the server-to-client heartbeat period for this client:
// the configured one, unless the client asked for 0 (none) or for a longer
// one (the Java rule: shorter wishes are raised to the configured period).
func (p params) heartbeatPeriod(configured time.Duration) time.Duration {
	switch {
	case configured <= 0 || p.heartbeat == 0:
		return 0
	case p.heartbeat > 0 && time.Duration(p.heartbeat)*time.Second > configured:
		return time.Duration(p.heartbeat) * time.Second
	}
	return configured
}

// handshakeFrame returns the protocol handshake "<uuid>|<millis>|X|" (spec
// §1.2), unframed.
func handshakeFrame(uuid string, clientHeartbeat time.Duration) string {
	return uuid + "|" + strconv.FormatInt(clientHeartbeat.Milliseconds(), 10) + "|" + heartbeatPadding + "|"
}

// newUUID returns a random RFC 4122 version 4 UUID in its text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&0xf])
	}
	return string(out)
}

// validTrackingID reports whether id may name a long-polling session: a
// client-chosen id is kept, so it is bounded and printable.
func validTrackingID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// utf16Len returns the length of s in UTF-16 code units, which is what
// atmosphere.js (JavaScript string.length) and the Java server
// (String.length) count. Invalid UTF-8 bytes count as one unit each, the
// U+FFFD they decode to.
func utf16Len(s []byte) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		i += size
		if r >= 0x10000 {
			n += 2 // a surrogate pair
		} else {
			n++
		}
	}
	return n
}

// frame returns msg as the client wants it: "<len>|<msg>" with the length
// in UTF-16 code units when trackSize is on (spec §1.3), msg itself
// otherwise. The result may share msg's memory only when trackSize is off.
func frame(msg []byte, trackSize bool) []byte {
	if !trackSize {
		return msg
	}
	out := make([]byte, 0, len(msg)+8)
	out = strconv.AppendInt(out, int64(utf16Len(msg)), 10)
	out = append(out, '|')
	return append(out, msg...)
}

// errFraming is returned by unframe for input that is not length-prefixed
// messages.
var errFraming = errors.New("atmosphere: malformed length-prefixed data")

// unframe splits data written with trackMessageLength into its messages, as
// atmosphere.js does: each is "<len>|<message>" with len in UTF-16 code
// units. It returns the complete messages and the unconsumed rest (an
// incomplete message), or errFraming when a prefix is not a number. Tests
// and tools use it to read what the server wrote.
func unframe(data string) (msgs []string, rest string, err error) {
	for {
		bar := strings.IndexByte(data, '|')
		if bar < 0 {
			return msgs, data, nil
		}
		n, perr := strconv.Atoi(data[:bar])
		if perr != nil || n < 0 {
			return msgs, data, fmt.Errorf("%w: length %q", errFraming, data[:bar])
		}
		body := data[bar+1:]
		end, units := 0, 0
		for units < n && end < len(body) && utf8.FullRuneInString(body[end:]) {
			r, size := utf8.DecodeRuneInString(body[end:])
			end += size
			units++
			if r >= 0x10000 {
				units++
			}
		}
		if units < n {
			return msgs, data, nil
		}
		msgs = append(msgs, body[:end])
		data = body[end:]
	}
}
