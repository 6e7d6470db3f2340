package pusher

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
)

// cacheSpace is the hub SharedStore space of cache channels' last events.
const cacheSpace = "pusher/cache"

// cacheStore keeps the last event of each cache channel (cache-,
// private-cache-, presence-cache-, private-encrypted-cache-), encoded as it
// was sent, in the hub's SharedStore, so that every node replays the same
// event. A value is the expiry time (8 bytes, unix nanoseconds, big-endian)
// followed by the encoded event; the store expires it by itself.
type cacheStore struct {
	shared bus.SharedStore
}

// cacheEntry is one cache channel's last event.
type cacheEntry struct {
	payload []byte
	expires time.Time
}

// put keeps payload as the channel's last event for ttl.
func (s cacheStore) put(ctx context.Context, channel string, payload []byte, ttl time.Duration) error {
	v := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint64(v, uint64(time.Now().Add(ttl).UnixNano()))
	return s.shared.Set(ctx, cacheSpace, channel, append(v, payload...), ttl)
}

// get returns the channel's last event, if it has one that has not expired.
func (s cacheStore) get(ctx context.Context, channel string) (cacheEntry, bool, error) {
	v, ok, err := s.shared.Get(ctx, cacheSpace, channel)
	if err != nil || !ok || len(v) < 8 {
		return cacheEntry{}, false, err
	}
	return cacheEntry{payload: v[8:], expires: time.Unix(0, int64(binary.BigEndian.Uint64(v)))}, true, nil
}
