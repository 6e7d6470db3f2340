package ws

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzConsume feeds arbitrary bytes, cut at an arbitrary point, to the raw
// frame parser. It must never panic, never keep more than one partial frame
// (bounded by MaxPayload), and deliver only valid UTF-8 as text.
func FuzzConsume(f *testing.F) {
	frame := func(fr ws.Frame) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.MaskFrame(fr))
		return b.Bytes()
	}
	f.Add(frame(ws.NewTextFrame([]byte("hello"))), 3)
	f.Add(append(frame(ws.NewFrame(ws.OpText, false, []byte("fr"))), frame(ws.NewFrame(ws.OpContinuation, true, []byte("ag")))...), 9)
	f.Add(frame(ws.NewPingFrame([]byte("p"))), 1)
	f.Add(frame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "bye"))), 0)
	f.Add(frame(ws.NewBinaryFrame(bytes.Repeat([]byte{1}, 70000))), 40000)
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 2) // 64-bit length with the top bit set
	// A fragment, then a continuation claiming 2^63-1 bytes: the length
	// check must not wrap.
	f.Add(append(frame(ws.NewFrame(ws.OpText, false, []byte("a"))),
		0x80, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), 7)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		srv := NewServer(Options{MaxPayload: 1 << 16})
		c := &Conn{srv: srv}
		c.onMessage = func(typ MessageType, msg []byte) {
			if typ == Text && !bytesValidUTF8(msg) {
				t.Fatalf("invalid UTF-8 delivered as text: %q", msg)
			}
		}
		r := getReader()
		defer putReader(r)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(data) + 1
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			if err := c.consume(r, bytes.Clone(part)); err != nil {
				return // a protocol error ends the connection: fine
			}
		}
		if int64(len(c.pending)) > srv.opts.MaxPayload+ws.MaxHeaderSize {
			t.Fatalf("kept %d pending bytes, more than one frame under MaxPayload", len(c.pending))
		}
	})
}
