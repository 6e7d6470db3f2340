package ws

import (
	"github.com/gobwas/ws"
)

// encodeFrame returns one final, unmasked frame holding payload,
// uncompressed (compress false) or compressed with the full window.
func encodeFrame(op ws.OpCode, payload []byte, compress bool) []byte {
	mode := deflateOff
	if compress {
		mode = deflateFull
	}
	return encodeFrameMode(op, payload, mode)
}

// encodeFrameMode returns one final, unmasked frame holding payload,
// compressed with permessage-deflate as mode says.
func encodeFrameMode(op ws.OpCode, payload []byte, mode deflateMode) []byte {
	h := ws.Header{Fin: true, OpCode: op}
	if mode.on() {
		payload = deflate(payload, mode)
		h.Rsv = ws.Rsv(true, false, false)
	}
	h.Length = int64(len(payload))
	n := ws.HeaderSize(h)
	buf := make([]byte, n+len(payload))
	putHeader(buf[:n], h)
	copy(buf[n:], payload)
	return buf
}

// putHeader writes the unmasked header h into dst, which is exactly
// ws.HeaderSize(h) bytes long.
func putHeader(dst []byte, h ws.Header) {
	b0 := byte(h.OpCode) | h.Rsv<<4
	if h.Fin {
		b0 |= 0x80
	}
	dst[0] = b0
	switch n := h.Length; {
	case n < 126:
		dst[1] = byte(n)
	case n <= 0xffff:
		dst[1] = 126
		dst[2], dst[3] = byte(n>>8), byte(n)
	default:
		dst[1] = 127
		for i := 0; i < 8; i++ {
			dst[9-i] = byte(n >> (8 * i))
		}
	}
}

// closePayload is the body of a Close frame: the code in network order and
// the reason. A code of 0 means a Close without a body.
func closePayload(code StatusCode, reason string) []byte {
	if code == 0 {
		return nil
	}
	return ws.NewCloseFrameBody(ws.StatusCode(code), reason)
}
