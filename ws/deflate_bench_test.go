package ws

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"testing"

	"github.com/klauspost/compress/flate"
)

// BenchmarkFlate compares the compressors permessage-deflate could use on
// one message with no context takeover (a fresh stream per message, the
// compressor reused from a pool): compress/flate at BestSpeed, and
// klauspost/compress/flate at BestSpeed (the full window) and with a 512 B
// window (server_max_window_bits=9). ratio is compressed/original.
// docs/ARCHITECTURE.md records the choice.
func BenchmarkFlate(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		p := payloadWithRepeats(size)
		for _, c := range []struct {
			name  string
			write func(dst *bytes.Buffer) (flush func())
		}{
			{"compress-flate", func() func(*bytes.Buffer) func() {
				w, _ := stdflate.NewWriter(nil, stdflate.BestSpeed)
				return func(dst *bytes.Buffer) func() { w.Reset(dst); _, _ = w.Write(p); return func() { _ = w.Flush() } }
			}()},
			{"klauspost", func() func(*bytes.Buffer) func() {
				w, _ := flate.NewWriter(nil, flate.BestSpeed)
				return func(dst *bytes.Buffer) func() { w.Reset(dst); _, _ = w.Write(p); return func() { _ = w.Flush() } }
			}()},
			{"klauspost-window9", func() func(*bytes.Buffer) func() {
				w, _ := flate.NewWriterWindow(nil, 1<<9)
				return func(dst *bytes.Buffer) func() { w.Reset(dst); _, _ = w.Write(p); return func() { _ = w.Flush() } }
			}()},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", c.name, size>>10), func(b *testing.B) {
				var buf bytes.Buffer
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					buf.Reset()
					c.write(&buf)()
				}
				b.ReportMetric(float64(buf.Len())/float64(size), "ratio")
			})
		}
	}
}

// BenchmarkFlateWriterNew measures what one compressor costs to make: the
// memory a pool holds per compressor in use at once.
func BenchmarkFlateWriterNew(b *testing.B) {
	b.Run("compress-flate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = stdflate.NewWriter(nil, stdflate.BestSpeed)
		}
	})
	b.Run("klauspost", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = flate.NewWriter(nil, flate.BestSpeed)
		}
	})
	b.Run("klauspost-window9", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = flate.NewWriterWindow(nil, 1<<9)
		}
	})
}
