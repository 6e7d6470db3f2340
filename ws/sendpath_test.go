package ws

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gobwas/ws"
)

func TestParseSendPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SendPath
		err  bool
	}{
		{"", SendPathDefault, false},
		{"syscall", SendPathSyscall, false},
		{"uring", SendPathUring, false},
		{"auto", SendPathAuto, false},
		{"default", 0, true},
		{"io_uring", 0, true},
		{"URING", 0, true},
	} {
		got, err := ParseSendPath(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSendPath(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

// requireUring skips where the kernel refuses io_uring (disabled, filtered
// or missing), saying so; anywhere else its failure is a test failure.
func requireUring(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("io_uring exists on Linux only")
	}
	if _, err := ProbeSendPath(SendPathUring); err != nil {
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
			t.Skipf("io_uring refused on this machine: %v", err)
		}
		t.Fatal(err)
	}
}

// Both paths deliver a fan-out to many connections, every frame in order,
// with a slow reader among them whose socket fills (EAGAIN, partial
// writes, the write poller) and a peer that resets its connection (a
// failed send closes it).
func TestSendPathsDeliverTheSame(t *testing.T) {
	for _, path := range []SendPath{SendPathSyscall, SendPathUring} {
		t.Run(path.String(), func(t *testing.T) {
			if path == SendPathUring {
				requireUring(t)
			}
			ts := newTestServer(t, Options{SendPath: path, SendQueue: 1000}, false)
			const conns, messages = 30, 300
			clients := make([]*rawClient, conns)
			server := make([]*Conn, conns)
			for i := range clients {
				clients[i] = dialRaw(t, ts.url, nil)
				server[i] = <-ts.conns
			}
			reset := dialRaw(t, ts.url, nil)
			resetConn := <-ts.conns
			if err := reset.nc.(*net.TCPConn).SetLinger(0); err != nil {
				t.Fatal(err)
			}
			reset.nc.Close() // a reset, not a FIN

			big := bytes.Repeat([]byte("z"), 32<<10) // fills the slow reader's socket
			for m := range messages {
				pm := NewPreparedMessage(Text, fmt.Appendf(nil, "message %d", m))
				for i, c := range server {
					if err := c.SendPrepared(pm); err != nil {
						t.Fatalf("conn %d, message %d: %v", i, m, err)
					}
				}
				if m%10 == 0 {
					_ = server[0].Send(Binary, big)
					_ = resetConn.Send(Binary, big) // fails once the reset is seen
				}
			}
			if e := ts.next(t, "close"); e.code != int(StatusAbnormalClosure) {
				t.Fatalf("reset connection closed with %d, want 1006", e.code)
			}

			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- readMessages(c, i == 0, messages, len(big))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			rounds := ts.metrics.ringRounds.Load()
			if path == SendPathUring && rounds == 0 {
				t.Error("no io_uring submission: the ring path did not run")
			}
			if path == SendPathSyscall && rounds != 0 {
				t.Errorf("%d io_uring submissions on the system call path", rounds)
			}
		})
	}
}

// readMessages reads n numbered text messages, in order; with big, a
// binary message of bigLen bytes after every tenth.
func readMessages(c *rawClient, big bool, n, bigLen int) error {
	for m := range n {
		f, err := readFrame(c.br)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("message %d", m); string(f.Payload) != want {
			return fmt.Errorf("got %q, want %q", f.Payload, want)
		}
		if big && m%10 == 0 {
			f, err := readFrame(c.br)
			if err != nil {
				return err
			}
			if f.Header.OpCode != ws.OpBinary || len(f.Payload) != bigLen {
				return fmt.Errorf("after message %d: %v of %d bytes, want the big binary one", m, f.Header.OpCode, len(f.Payload))
			}
		}
	}
	return nil
}

// When io_uring cannot be set up, the writers make system calls: with
// SendPathUring the failure is reported once, with SendPathAuto not at all.
// The failure is a real one: the kernel refuses a submission queue larger
// than it allows (EINVAL), as it refuses io_uring_setup when disabled.
func TestUringSetupFailureFallsBack(t *testing.T) {
	requireUring(t)
	for _, tc := range []struct {
		path    SendPath
		reports int
	}{{SendPathUring, 1}, {SendPathAuto, 0}} {
		t.Run(tc.path.String(), func(t *testing.T) {
			srv := NewServer(Options{SendPath: tc.path})
			srv.ringEntries = 1 << 20
			var mu sync.Mutex
			var reported []error
			srv.OnError(func(err error) {
				mu.Lock()
				reported = append(reported, err)
				mu.Unlock()
			})
			srv.OnConnection(func(c *Conn) {
				c.OnMessage(func(typ MessageType, data []byte) { _ = c.Send(typ, data) })
			})
			hs := serveOn(t, srv, httptest.NewServer(srv))
			c := dialRaw(t, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			for i := range 20 {
				msg := fmt.Appendf(nil, "echo %d", i)
				c.send(ws.NewTextFrame(msg))
				if f := c.read(); !bytes.Equal(f.Payload, msg) {
					t.Fatalf("echo %d: got %q", i, f.Payload)
				}
			}
			if n := srv.metrics.ringRounds.Load(); n != 0 {
				t.Fatalf("%d io_uring submissions after a failed setup", n)
			}
			// At least one writer has tried its ring (each echo went
			// through one), and a failure is reported once per server.
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != tc.reports {
				t.Fatalf("%d errors reported, want %d: %v", len(reported), tc.reports, reported)
			}
			for _, err := range reported {
				if !errors.Is(err, syscall.EINVAL) {
					t.Errorf("reported %v, want the setup's EINVAL", err)
				}
			}
		})
	}
}

// A queue longer than one request carries (maxIOV frames, and the round's
// iovec pool) goes out whole and in order: the request takes what fits and
// the rest is written with writev after its completion.
func TestLongQueueOnBothPaths(t *testing.T) {
	for _, path := range []SendPath{SendPathSyscall, SendPathUring} {
		t.Run(path.String(), func(t *testing.T) {
			if path == SendPathUring {
				requireUring(t)
			}
			const n = 3000 // queued before the writer starts: one batch
			srv := NewServer(Options{SendPath: path, SendQueue: n})
			srv.OnConnection(func(c *Conn) {
				for i := range n {
					if err := c.SendText(fmt.Sprintf("frame %d", i)); err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
				}
			})
			hs := serveOn(t, srv, httptest.NewServer(srv))
			c := dialRaw(t, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
			for i := range n {
				if f := c.read(); string(f.Payload) != fmt.Sprintf("frame %d", i) {
					t.Fatalf("frame %d: got %q", i, f.Payload)
				}
			}
			if st := srv.Stats(); st.FramesSent != n {
				t.Errorf("Stats.FramesSent = %d, want %d", st.FramesSent, n)
			}
			if rounds := srv.metrics.ringRounds.Load(); (path == SendPathUring) != (rounds > 0) {
				t.Errorf("%d io_uring submissions on path %v", rounds, path)
			}
		})
	}
}
