package loadgen

import (
	"encoding/binary"
	"fmt"

	"github.com/gobwas/ws"
)

// Frames from bytes already read. The event-loop receiver (rx_linux.go)
// reads whatever a socket holds and then takes out the complete frames; a
// frame cut off at the end of the read waits, as bytes, for the next one.

// parseHeader parses the frame header at the start of b. It returns the
// header and its length in bytes, or a length of 0 when b holds only the
// beginning of a header. It accepts what ws.ReadHeader accepts.
func parseHeader(b []byte) (ws.Header, int, error) {
	if len(b) < 2 {
		return ws.Header{}, 0, nil
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	masked := b[1]&0x80 != 0
	if masked {
		n += 4
	}
	if len(b) < n {
		return ws.Header{}, 0, nil
	}
	h := ws.Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] & 0x70) >> 4,
		OpCode: ws.OpCode(b[0] & 0x0f),
		Masked: masked,
		Length: int64(b[1] & 0x7f),
	}
	switch h.Length {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if b[2]&0x80 != 0 {
			return ws.Header{}, 0, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(b[2:]))
	}
	if masked {
		copy(h.Mask[:], b[n-4:])
	}
	return h, n, nil
}

// consume handles every complete frame at the start of b and returns how
// many bytes they took; the rest is the beginning of a frame. Payloads are
// unmasked in place. It fails on a frame over maxMessage, a malformed
// header or a close from the server.
func (s *subscriber) consume(r *runner, b []byte) (int, error) {
	used := 0
	for {
		h, n, err := parseHeader(b[used:])
		if err != nil {
			return used, err
		}
		if n == 0 {
			return used, nil
		}
		if h.Length > maxMessage || s.c.fragmented && int64(len(s.c.msg))+h.Length > maxMessage {
			return used, fmt.Errorf("message over %d bytes", maxMessage)
		}
		if int64(len(b)-used-n) < h.Length {
			return used, nil
		}
		p := b[used+n : used+n+int(h.Length)]
		used += n + int(h.Length)
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		if err := s.frame(r, h, p); err != nil {
			return used, err
		}
	}
}

// frame handles one frame: control frames at once, a whole message by
// handle, fragments gathered in s.c.msg until the last.
func (s *subscriber) frame(r *runner, h ws.Header, p []byte) error {
	c := s.c
	switch {
	case h.OpCode.IsControl():
		return c.control(h.OpCode, p)
	case !c.fragmented && h.Fin:
		s.handle(r, p)
		return nil
	case !c.fragmented:
		c.fragmented = true
		c.msg = append(c.msg[:0], p...)
		return nil
	default:
		c.msg = append(c.msg, p...)
		if !h.Fin {
			return nil
		}
		c.fragmented = false
		s.handle(r, c.msg)
		return nil
	}
}
