package ws

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// payloadWithRepeats is n bytes of JSON-like text whose repeats lie far
// apart, so that a compressor with a large window finds matches a small
// one may not use.
func payloadWithRepeats(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"lat":%.5f,"lng":%.5f,"name":"tracker %d"},`, rng.IntN(1000), rng.Float64()*90, rng.Float64()*180, rng.IntN(50))
	}
	return b.Bytes()[:n]
}

func TestDeflateRoundTripEveryWindow(t *testing.T) {
	p := payloadWithRepeats(20000)
	for mode := minWindow; mode <= deflateFull; mode++ {
		t.Run(fmt.Sprintf("%d bits", mode), func(t *testing.T) {
			c := deflate(p, mode)
			if len(c) >= len(p) {
				t.Fatalf("%d bytes compressed to %d", len(p), len(c))
			}
			got, err := inflate(c, -1)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("inflate: %v (%d bytes back)", err, len(got))
			}
			// The standard library inflates it too: the stream is plain
			// DEFLATE (RFC 1951).
			r := stdflate.NewReader(io.MultiReader(bytes.NewReader(c), bytes.NewReader(deflateTail)))
			std, err := io.ReadAll(r)
			if err != nil && err != io.ErrUnexpectedEOF || !bytes.Equal(std, p) {
				t.Fatalf("compress/flate: %v", err)
			}
		})
	}
}

func TestInflateLimit(t *testing.T) {
	c := deflate([]byte(strings.Repeat("a", 10000)), deflateFull)
	if _, err := inflate(c, 9999); err != ErrMessageTooBig {
		t.Fatalf("inflate over the limit = %v, want ErrMessageTooBig", err)
	}
	if got, err := inflate(c, 10000); err != nil || len(got) != 10000 {
		t.Fatalf("inflate at the limit = %d bytes, %v", len(got), err)
	}
}

// TestDeflateHonoursTheWindow compresses a message whose only redundancy
// is a repeat 9,000 bytes back: with a window of 2^13 bytes or less the repeat is
// out of reach and the message compresses no better than its random half
// alone; with 2^14 or more it compresses to about half that. So a
// compressor that ignored server_max_window_bits would fail here. The same
// holds for a PreparedMessage, which keeps one compressed frame per window.
func TestDeflateHonoursTheWindow(t *testing.T) {
	block := make([]byte, 9000) // random hex: no repeat within
	for i := range block {
		block[i] = "0123456789abcdef"[rand.IntN(16)]
	}
	msg := append(slices.Clone(block), block...) // the same again, 9,000 bytes back
	full := len(deflate(msg, deflateFull))
	for mode := minWindow; mode <= deflateFull; mode++ {
		n := len(deflate(msg, mode))
		reach := 1<<mode > len(block)
		if reach && n > full*11/10 || !reach && n < full*3/2 {
			t.Errorf("window 2^%d: %d bytes compressed to %d (full window: %d); the repeat is %s reach", mode, len(msg), n, full, map[bool]string{true: "within", false: "out of"}[reach])
		}
	}
	m := NewPreparedMessage(Text, msg)
	small, large := m.frameFor(9), m.frameFor(deflateFull)
	if len(small) < len(large)*3/2 {
		t.Fatalf("prepared frames: %d bytes at 2^9, %d at 2^15; want one per window", len(small), len(large))
	}
	if again := m.frameFor(9); &again[0] != &small[0] {
		t.Fatal("the 2^9 frame was compressed twice")
	}
}
