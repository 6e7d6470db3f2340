package ws

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// TestEveryPingGetsItsPong sends a burst of pings in one write, then a
// text message, and reads what comes back before the echo: a pong per
// ping, with its payload, in order, up to MaxPendingPongs waiting; past
// that the newest waiting pong carries the latest ping's payload.
func TestEveryPingGetsItsPong(t *testing.T) {
	for _, tt := range []struct {
		pings, max int
	}{
		{1, 0},
		{5, 0},
		{16, 0}, // the default bound, exactly
		{40, 0},
		{10, 4},
		{3, 1},
	} {
		t.Run(fmt.Sprintf("%d pings, max %d", tt.pings, tt.max), func(t *testing.T) {
			ts := newTestServer(t, Options{MaxPendingPongs: tt.max, PingInterval: -1}, true)
			c := dialRaw(t, ts.url, nil)
			var burst bytes.Buffer
			for i := range tt.pings {
				if err := ws.WriteFrame(&burst, ws.MaskFrame(ws.NewPingFrame([]byte("p"+strconv.Itoa(i))))); err != nil {
					t.Fatal(err)
				}
			}
			if err := ws.WriteFrame(&burst, ws.MaskFrame(ws.NewTextFrame([]byte("end")))); err != nil {
				t.Fatal(err)
			}
			if _, err := c.nc.Write(burst.Bytes()); err != nil {
				t.Fatal(err)
			}
			var got []int
			for {
				f := c.read()
				if f.Header.OpCode == ws.OpText {
					break
				}
				if f.Header.OpCode != ws.OpPong {
					t.Fatalf("got a %v frame", f.Header.OpCode)
				}
				n, err := strconv.Atoi(strings.TrimPrefix(string(f.Payload), "p"))
				if err != nil {
					t.Fatalf("pong payload %q", f.Payload)
				}
				got = append(got, n)
			}
			bound := tt.max
			if bound == 0 {
				bound = DefaultPendingPongs
			}
			want := min(tt.pings, bound) // at least: the writer may take pongs mid-burst
			if len(got) < want || len(got) > tt.pings {
				t.Fatalf("%d pongs %v for %d pings, want %d to %d", len(got), got, tt.pings, want, tt.pings)
			}
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("pongs out of order: %v", got)
				}
			}
			if tt.pings <= bound {
				for i, n := range got {
					if n != i {
						t.Fatalf("pongs %v, want one per ping in order", got)
					}
				}
			}
			if last := got[len(got)-1]; last != tt.pings-1 {
				t.Fatalf("the last pong answers ping %d, want the latest, %d", last, tt.pings-1)
			}
		})
	}
}
