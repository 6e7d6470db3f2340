package ws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gobwas/ws"
)

// BenchmarkPrepareMessage frames a message once, as a publish does before
// its fan-out: uncompressed, and compressed for connections that
// negotiated permessage-deflate (made once per message, on first use).
func BenchmarkPrepareMessage(b *testing.B) {
	for _, size := range []int{100, 1024, 16 << 10} {
		payload := bytes.Repeat([]byte(`{"price":42.5,"symbol":"ABC"}`), size/29+1)[:size]
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if m := NewPreparedMessage(Text, payload); len(m.frameFor(deflateOff)) < size {
					b.Fatal("short frame")
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/deflate", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if m := NewPreparedMessage(Text, payload); len(m.frameFor(deflateFull)) == 0 {
					b.Fatal("empty frame")
				}
			}
		})
	}
}

// BenchmarkSendPrepared is the per-delivery path of a fan-out on real
// sockets, one publish at a time: one prepared message queued to each of
// conns loopback connections, written by the server's writers and read by
// a goroutine per client, before the next. ns/delivery includes the system
// calls on both sides and the hand-off to the writers; allocs/op stays 0
// (connections go idle between messages, as a quiet channel's do). Each
// runs on both send paths (Options.SendPath).
func BenchmarkSendPrepared(b *testing.B) {
	for _, conns := range []int{1, 100, 1000} {
		for _, path := range []SendPath{SendPathSyscall, SendPathUring} {
			b.Run(fmt.Sprintf("conns=%d/path=%s", conns, path), func(b *testing.B) {
				benchmarkSendPrepared(b, conns, path)
			})
		}
	}
}

func benchmarkSendPrepared(b *testing.B, conns int, path SendPath) {
	// No server pings: they would interleave with the counted frames.
	srv := NewServer(Options{SendQueue: 1 << 16, PingInterval: time.Hour, SendPath: path})
	accepted := make(chan *Conn, conns)
	srv.OnConnection(func(c *Conn) { accepted <- c })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	m := NewPreparedMessage(Text, bytes.Repeat([]byte("x"), 100))
	frameLen := int64(len(m.frameFor(deflateOff)))
	servers := make([]*Conn, conns)
	var round sync.WaitGroup // the frames of this round not yet read
	var readers sync.WaitGroup
	var clients []net.Conn
	defer func() {
		for _, nc := range clients {
			nc.Close()
		}
		readers.Wait()
	}()
	for i := range servers {
		nc, br, _, err := gws.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"))
		if err != nil {
			b.Fatal(err)
		}
		if br != nil {
			b.Fatal("bytes before the first message")
		}
		clients = append(clients, nc)
		servers[i] = <-accepted
		readers.Go(func() {
			buf := make([]byte, 64<<10)
			var got int64
			for {
				n, err := nc.Read(buf)
				for f := got / frameLen; f < (got+int64(n))/frameLen; f++ {
					round.Done()
				}
				got += int64(n)
				if err != nil {
					return
				}
			}
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		round.Add(conns)
		for _, c := range servers {
			if err := c.SendPrepared(m); err != nil {
				b.Fatal(err)
			}
		}
		round.Wait()
	}
	elapsed := b.Elapsed()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/float64(conns), "ns/delivery")
}
