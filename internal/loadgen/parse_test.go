package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name          string
		pub, seq      uint64
		ts            int64
		size, wantLen int
	}{
		{
			name:    "padded to size",
			pub:     3,
			seq:     12345,
			ts:      987654321,
			size:    100,
			wantLen: 100,
		},
		{
			name:    "marker longer than size",
			pub:     999,
			seq:     1 << 40,
			ts:      1 << 61,
			size:    10,
			wantLen: len("sbm:999:1099511627776:2305843009213693952:"),
		},
		{
			name:    "larger than the padding slice",
			pub:     0,
			seq:     0,
			ts:      0,
			size:    10000,
			wantLen: 10000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := appendMessage([]byte("prefix"), tt.pub, tt.seq, tt.ts, tt.size)
			if got := len(msg) - len("prefix"); got != tt.wantLen {
				t.Errorf("length %d, want %d", got, tt.wantLen)
			}
			// Wrapped as each dialect wraps it.
			for _, frame := range [][]byte{
				msg,
				[]byte(`{"event":"bench","channel":"bench-0","data":"` + string(msg) + `"}`),
				[]byte(`"` + string(msg) + "\"\n"),
			} {
				pub, seq, ts, ok := parseMessage(frame)
				if !ok || pub != tt.pub || seq != tt.seq || ts != tt.ts {
					t.Errorf("parseMessage = %d %d %d %v, want %d %d %d", pub, seq, ts, ok, tt.pub, tt.seq, tt.ts)
				}
			}
		})
	}
}

func TestParseMessageRejects(t *testing.T) {
	for _, s := range []string{
		"", "hello", "sbm:", "sbm:1:2:", "sbm:1:2:3", "sbm:a:2:3:", "sbm:1::3:",
		"sbm:1:2:99999999999999999999999:", `{"event":"pusher:ping","data":{}}`,
	} {
		if _, _, _, ok := parseMessage([]byte(s)); ok {
			t.Errorf("parseMessage(%q) ok, want rejected", s)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1e6, 1e9, 1 << 40, 1<<62 + 12345} {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, histBuckets)
		}
		prev = i
		hi := bucketHigh(i)
		if hi < v || float64(hi-v) > float64(v)/64+1 {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d: want within 1/64 above", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("value %d also fits bucket %d", v, i-1)
		}
	}
}

func TestHistogramSummary(t *testing.T) {
	var h histogram
	// 1..1000 ms, one each: percentiles are known.
	for i := 1; i <= 1000; i++ {
		h.record(i, time.Duration(i)*time.Millisecond)
	}
	got := h.summary()
	check := func(name string, v, want float64) {
		if v < want || v > want*(1+1.0/64) {
			t.Errorf("%s = %.3f ms, want %.0f ms (+1.6%%)", name, v, want)
		}
	}
	check("p50", got.P50, 500)
	check("p95", got.P95, 950)
	check("p99", got.P99, 990)
	if got.Max != 1000 || got.Count != 1000 {
		t.Errorf("max %.3f count %d, want 1000 and 1000", got.Max, got.Count)
	}
	var empty histogram
	if s := empty.summary(); s != (Latency{}) {
		t.Errorf("empty summary %+v", s)
	}
}

// serverFrame returns an unmasked server frame.
func serverFrame(op ws.OpCode, fin bool, payload []byte) []byte {
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))}); err != nil {
		panic(err)
	}
	b.Write(payload)
	return b.Bytes()
}

func TestReadMessage(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 3*readBufferSize)
	var in bytes.Buffer
	in.Write(serverFrame(ws.OpText, true, []byte("one")))
	in.Write(serverFrame(ws.OpPong, true, nil))
	in.Write(serverFrame(ws.OpText, false, []byte("fr")))
	in.Write(serverFrame(ws.OpContinuation, false, []byte("ag")))
	in.Write(serverFrame(ws.OpContinuation, true, []byte("ments")))
	in.Write(serverFrame(ws.OpBinary, true, big))
	in.Write(serverFrame(ws.OpText, false, big[:readBufferSize+1]))
	in.Write(serverFrame(ws.OpContinuation, true, []byte("tail")))
	in.Write(serverFrame(ws.OpText, true, []byte("last")))
	c := &conn{br: bufio.NewReaderSize(&in, readBufferSize)}
	want := []string{"one", "fragments", string(big), string(big[:readBufferSize+1]) + "tail", "last"}
	for _, w := range want {
		_, p, err := c.readMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(p) != w {
			t.Fatalf("got %d bytes %.20q, want %d bytes %.20q", len(p), p, len(w), w)
		}
	}
	if _, _, err := c.readMessage(); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestAppendFrameIsMasked(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte("z"), n)
		r := bytes.NewReader(appendFrame(nil, ws.OpText, payload))
		h, err := ws.ReadHeader(r)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !h.Masked || !h.Fin || h.OpCode != ws.OpText || h.Length != int64(n) || r.Len() != n {
			t.Fatalf("%d bytes: header %+v, %d bytes after it", n, h, r.Len())
		}
		got := make([]byte, n)
		_, _ = r.Read(got)
		ws.Cipher(got, h.Mask, 0)
		if !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: payload differs", n)
		}
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 751234.4: "751,234", -12345: "-12,345"} {
		if got := Thousands(in); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	srv := 120.7
	in := `{"scenario":"fanout","protocol":"pusher","connections":1000,"channels":1,"deliveries_per_s":750000,"latency":{"count":5,"p50_ms":1,"p95_ms":2,"p99_ms":3,"max_ms":4},"cpu":{"gen_pct":90,"server_pct":120.7}}
readable lines are skipped
{"scenario":"hold","protocol":"echo","connections":19000,"server_rss_per_conn_bytes":1900,"cpu":{"gen_pct":0}}
`
	results, err := ReadResults(strings.NewReader(in))
	if err != nil || len(results) != 2 || *results[0].CPU.Server != srv {
		t.Fatalf("ReadResults = %+v, %v", results, err)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"750,000 deliv/s", "19,000 held", "1,900", "121%"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// loopReader returns the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// BenchmarkReceive is the subscriber's hot path: read a Pusher event frame
// from the buffer, find the marker, record the latency.
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(byteSize(size), func(b *testing.B) {
			msg := appendMessage(nil, 1, 42, 1e9, size)
			frame := serverFrame(ws.OpText, true, []byte(`{"event":"bench","channel":"bench-0","data":"`+string(msg)+`"}`))
			var stream []byte
			for len(stream) < 1<<16 {
				stream = append(stream, frame...)
			}
			c := &conn{br: bufio.NewReaderSize(&loopReader{data: stream}, readBufferSize)}
			s := &subscriber{next: make([]uint64, 2)}
			var h histogram
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				_, p, err := c.readMessage()
				if err != nil {
					b.Fatal(err)
				}
				pub, seq, ts, ok := parseMessage(p)
				if !ok {
					b.Fatal("no marker")
				}
				h.record(0, time.Duration(2e9-ts))
				s.track(pub, seq)
			}
		})
	}
}

func BenchmarkParseMessage(b *testing.B) {
	frame := []byte(`{"event":"bench","channel":"bench-0","data":"` + string(appendMessage(nil, 1, 42, 1e9, 100)) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := parseMessage(frame); !ok {
			b.Fatal("no marker")
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := rand.IntN(histShards)
		v := time.Duration(rand.IntN(1e7))
		for pb.Next() {
			h.record(s, v)
			v += 997
		}
	})
}

func BenchmarkAppendFrame(b *testing.B) {
	msg := appendMessage(nil, 1, 42, 1e9, 100)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendFrame(buf[:0], ws.OpText, msg)
	}
}

func byteSize(n int) string { return strconv.Itoa(n) + "B" }
