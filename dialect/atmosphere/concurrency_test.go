package atmosphere

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/hub"
	"github.com/switchboard-rt/switchboard/ws"
)

// TestConcurrentSubscribePublish runs subscribes, unsubscribes, publishes,
// batch flushes and logouts at once (for the race detector), then checks
// that closing every client leaves no hub subscription behind.
func TestConcurrentSubscribePublish(t *testing.T) {
	e := newEnv(t, nil)
	hash := e.login("alice", alicePassword)
	var clients []*wsClient
	for range 6 {
		c := e.dial("X-Atmosphere-TrackMessageSize=true")
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // the publisher
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := int64(1 + i%3)
			payload := stateEvent("2024-05-17 10:00:00", []byte(fmt.Sprintf(`{"source_id":%d,"n":%d}`, id, i)))
			_ = e.d.publish(context.Background(), updState, id, payload, channelName(chState, id), payload)
		}
	})
	wg.Go(func() { // the ticker
		for {
			select {
			case <-stop:
				return
			default:
				e.d.batches.flush(e.clock.now())
			}
		}
	})
	for i, c := range clients {
		wg.Go(func() { // each client reads everything it gets
			for {
				if _, _, err := c.conn.Read(context.Background()); err != nil {
					return
				}
			}
		})
		req := `[{"type":"state","trackers":[1,2]},{"type":"state_batch","target":{"type":"all"},"rate_limit":"100ms"}]`
		if i%2 == 1 {
			req = `[{"type":"state_batch","target":{"type":"selected","tracker_ids":[2,3]},"format":"compact"}]`
		}
		for range 5 {
			c.send(`{"action":"subscribe","hash":"` + hash + `","requests":` + req + `}`)
			c.send(`{"action":"unsubscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[2]}]}`)
		}
	}
	e.call("GET", "/user/logout?hash="+hash, "", "")
	close(stop)
	for _, c := range clients {
		_ = c.conn.CloseNow()
	}
	wg.Wait()
	waitFor(t, "every client to close", func() bool { return e.d.Stats().Connections == 0 })
	for _, kind := range []chanKind{chState, chLifecycle} {
		for id := int64(1); id <= 22; id++ {
			if n := e.hub.SubscriberCount(channelName(kind, id)); n != 0 {
				t.Errorf("%s: %d subscribers left", channelName(kind, id), n)
			}
		}
	}
}

// nopOutlet is a transport that drops everything.
type nopOutlet struct{}

func (nopOutlet) send(*hub.Message) error        { return nil }
func (nopOutlet) sendBurst([]*hub.Message) error { return nil }
func (nopOutlet) close(ws.StatusCode, string)    {}

// TestIdleClientSize keeps the dialect's own cost of an idle connection
// small: the WebSocket layer's is measured in package ws.
func TestIdleClientSize(t *testing.T) {
	e := newEnv(t, nil)
	const n = 2000
	keep := make([]*client, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = e.d.newClient(nopOutlet{}, params{heartbeat: -1})
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes per idle client", per)
	if per > 512 {
		t.Errorf("%d bytes per idle client, want at most 512", per)
	}
	runtime.KeepAlive(keep)
}
