package loadgen

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/gobwas/ws"
)

// headerOf returns the encoded header h.
func headerOf(h ws.Header) []byte {
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestParseHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name string
		h    ws.Header
	}{
		{"short text", ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}},
		{"16-bit length", ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 300}},
		{"64-bit length", ws.Header{Fin: false, OpCode: ws.OpText, Length: 1 << 20}},
		{"masked ping", ws.Header{Fin: true, OpCode: ws.OpPing, Length: 3, Masked: true, Mask: mask}},
		{"masked 64-bit", ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 70000, Masked: true, Mask: mask}},
		{"rsv bits", ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Length: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append(headerOf(tt.h), "after"...)
			size := len(b) - len("after")
			for cut := range size {
				if _, n, err := parseHeader(b[:cut]); n != 0 || err != nil {
					t.Fatalf("first %d of %d bytes: length %d, %v; want 0, nil", cut, size, n, err)
				}
			}
			h, n, err := parseHeader(b)
			if err != nil || n != size || h != tt.h {
				t.Fatalf("parseHeader = %+v, %d, %v; want %+v, %d, nil", h, n, err, tt.h, size)
			}
		})
	}
	msb := []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}
	if _, _, err := parseHeader(msb); !errors.Is(err, ws.ErrHeaderLengthMSB) {
		t.Errorf("length with the top bit set: %v, want ErrHeaderLengthMSB", err)
	}
}

// FuzzParseHeader checks parseHeader against gobwas/ws's reader on the
// same bytes: the same header and length, "incomplete" where the reader
// runs out, the same error otherwise.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 5})
	f.Add([]byte{0x82, 126, 1, 44})
	f.Add([]byte{0x01, 127, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0x89, 0x83, 1, 2, 3, 4})
	f.Add([]byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		r := bytes.NewReader(b)
		wh, werr := ws.ReadHeader(r)
		switch {
		case errors.Is(werr, io.EOF) || errors.Is(werr, io.ErrUnexpectedEOF):
			if n != 0 || err != nil {
				t.Fatalf("%x: parseHeader = %d, %v; the reader ran out of bytes", b, n, err)
			}
		case werr != nil:
			if !errors.Is(err, werr) {
				t.Fatalf("%x: parseHeader error %v, reader %v", b, err, werr)
			}
		default:
			if err != nil || h != wh || n != len(b)-r.Len() {
				t.Fatalf("%x: parseHeader = %+v, %d, %v; reader %+v, %d bytes", b, h, n, err, wh, len(b)-r.Len())
			}
		}
	})
}

func TestConsumeKeepsPartialFrames(t *testing.T) {
	var stream []byte
	stream = append(stream, serverFrame(ws.OpText, true, []byte("not a bench message"))...)
	stream = append(stream, serverFrame(ws.OpText, false, []byte("fr"))...)
	stream = append(stream, serverFrame(ws.OpPong, true, nil)...)
	stream = append(stream, serverFrame(ws.OpContinuation, true, []byte("agment"))...)
	stream = append(stream, serverFrame(ws.OpBinary, true, bytes.Repeat([]byte("x"), 300))...)
	r := &runner{o: Options{Protocol: ProtocolTokens}}
	for cut := range len(stream) + 1 {
		s := &subscriber{c: &conn{}, next: make([]uint64, 1)}
		used, err := s.consume(r, stream[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		rest := append([]byte(nil), stream[used:cut]...)
		used2, err := s.consume(r, append(rest, stream[cut:]...))
		if err != nil || used2 != len(rest)+len(stream)-cut {
			t.Fatalf("cut at %d: the rest used %d of %d bytes, %v", cut, used2, len(rest)+len(stream)-cut, err)
		}
		// Three messages without a marker: the first, the fragmented one
		// and the binary one.
		if s.malformed != 3 || s.c.fragmented {
			t.Fatalf("cut at %d: %d messages counted, fragmented %v; want 3, false", cut, s.malformed, s.c.fragmented)
		}
	}
}

func TestConsumeRejects(t *testing.T) {
	r := &runner{o: Options{Protocol: ProtocolTokens}}
	tests := map[string][]byte{
		"oversized":    headerOf(ws.Header{Fin: true, OpCode: ws.OpText, Length: maxMessage + 1}),
		"length MSB":   {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
		"server close": serverFrame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			s := &subscriber{c: &conn{nc: discardConn{}}, next: make([]uint64, 1)}
			if _, err := s.consume(r, in); err == nil {
				t.Fatal("consume accepted it")
			}
		})
	}
}

// discardConn takes writes (the reply to a close) and does nothing else.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
