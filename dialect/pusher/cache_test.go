package pusher

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/config"
)

// A cache channel replays its last event to each new subscriber, right
// after subscription_succeeded, or sends pusher:cache_miss when it has
// none.
func TestCacheChannels(t *testing.T) {
	e := newEnv(t)
	for _, ch := range []string{"cache-a", "private-cache-a", "presence-cache-a", "private-encrypted-cache-a"} {
		t.Run(ch, func(t *testing.T) {
			e := e.with(t)
			first := e.connect("key1")
			first.join("secret1", "key1", ch, "u1")
			first.expectOn("pusher:cache_miss", ch)

			e.trigger(map[string]any{"name": "one", "channel": ch, "data": "1"})
			e.trigger(map[string]any{"name": "two", "channel": ch, "data": `{"n":2}`})
			first.expectOn("one", ch)
			first.expectOn("two", ch)

			late := e.connect("key1")
			late.join("secret1", "key1", ch, "u2")
			ev := late.expectOn("two", ch)
			if ev.DataString() != `{"n":2}` {
				t.Errorf("replayed data %q", ev.DataString())
			}
			late.quiet()
		})
	}
}

func TestCacheChannelInfoAndTTL(t *testing.T) {
	a := testApp()
	a.CacheTTL = config.Duration(time.Hour)
	e := newEnv(t, a)
	status, body := e.rest("GET", "/apps/app1/channels/cache-x", nil, map[string][]string{"info": {"cache"}})
	if status != 200 || body != `{"occupied":false}` {
		t.Errorf("empty cache: %d %s", status, body)
	}
	e.trigger(map[string]any{"name": "ev", "channel": "cache-x", "data": "payload"})
	status, body = e.rest("GET", "/apps/app1/channels/cache-x", nil, map[string][]string{"info": {"cache"}})
	var got struct {
		Occupied bool      `json:"occupied"`
		Cache    cacheInfo `json:"cache"`
	}
	if err := json.Unmarshal([]byte(body), &got); status != 200 || err != nil {
		t.Fatalf("%d %s %v", status, body, err)
	}
	if got.Occupied || got.Cache.Event != "ev" || got.Cache.Data != "payload" || got.Cache.TTL < 3500 {
		t.Errorf("cache info %+v", got)
	}
	status, _ = e.rest("GET", "/apps/app1/channels/news", nil, map[string][]string{"info": {"cache"}})
	if status != 400 {
		t.Errorf("info=cache on a channel that is not a cache channel: %d", status)
	}

}

// An expired event is not replayed.
func TestCacheTTL(t *testing.T) {
	a := testApp()
	a.CacheTTL = config.Duration(50 * time.Millisecond)
	e := newEnv(t, a)
	e.trigger(map[string]any{"name": "ev", "channel": "cache-x", "data": "payload"})
	waitUntil(t, func() bool {
		_, ok, _ := e.d.cache.get(context.Background(), "pusher/app1/cache-x")
		return !ok
	})
	c := e.connect("key1")
	c.join("secret1", "key1", "cache-x", "")
	c.expectOn("pusher:cache_miss", "cache-x")
}

// Client events on private cache channels are cached too.
func TestCacheKeepsClientEvents(t *testing.T) {
	e := newEnv(t)
	c := e.connect("key1")
	c.join("secret1", "key1", "private-cache-room", "")
	c.expectOn("pusher:cache_miss", "private-cache-room")
	c.send(clientEvent("client-state", "private-cache-room", map[string]any{"v": 1}))
	c.quiet()
	late := e.connect("key1")
	late.join("secret1", "key1", "private-cache-room", "")
	if ev := late.expectOn("client-state", "private-cache-room"); ev.DataString() != `{"v":1}` {
		t.Errorf("replayed %s", ev.DataString())
	}
}
