package bus

import (
	"context"
	"errors"
	"sync"
	"time"
)

// SharedStore is a small key/value store that all nodes see alike, for the
// few pieces of dialect state that must agree across a cluster: the token
// broker's registered tokens, Atmosphere's auth session hashes. It is not a
// database: keep values small, and keep a local copy of what is read on a
// hot path (see docs/clustering.md for the pattern).
//
// Keys live in spaces (one per dialect and kind, such as "tokens/registered"),
// so that All lists one space. A value may expire: Get and All then no
// longer return it. MemoryShared serves one node; bus/redis shares one
// across nodes. Values are opaque bytes: store nothing secret in clear that
// the operator would not put in Redis (hash session secrets first). All
// methods are safe for concurrent use.
type SharedStore interface {
	// Set stores value under key in space, replacing any value, expiring
	// after ttl (0: never). It fails with ErrSharedUnavailable when the
	// store cannot be reached.
	Set(ctx context.Context, space, key string, value []byte, ttl time.Duration) error
	// Get returns the value of key in space; ok is false when there is
	// none or it expired.
	Get(ctx context.Context, space, key string) (value []byte, ok bool, err error)
	// Delete removes key from space; removing a missing key is not an error.
	Delete(ctx context.Context, space, key string) error
	// All returns every unexpired key of space with its value.
	All(ctx context.Context, space string) (map[string][]byte, error)
}

// ErrSharedUnavailable is wrapped by a SharedStore's errors when the store
// cannot be reached (Redis is down); callers may keep using what they have.
var ErrSharedUnavailable = errors.New("bus: shared store unavailable")

// MemoryShared is the in-memory SharedStore of a single node. Its methods
// never fail. Expired values are dropped when read.
type MemoryShared struct {
	mu     sync.Mutex
	spaces map[string]map[string]sharedValue
	now    func() time.Time
}

var _ SharedStore = (*MemoryShared)(nil)

type sharedValue struct {
	v       []byte
	expires time.Time // zero: never
}

// NewMemoryShared returns an empty in-memory store.
func NewMemoryShared() *MemoryShared {
	return &MemoryShared{spaces: make(map[string]map[string]sharedValue), now: time.Now}
}

// Set stores a copy of value; see SharedStore.
func (s *MemoryShared) Set(_ context.Context, space, key string, value []byte, ttl time.Duration) error {
	sv := sharedValue{v: append([]byte(nil), value...)}
	if ttl > 0 {
		sv.expires = s.now().Add(ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.spaces[space]
	if m == nil {
		m = make(map[string]sharedValue)
		s.spaces[space] = m
	}
	m[key] = sv
	return nil
}

// Get returns a copy of key's value; see SharedStore.
func (s *MemoryShared) Get(_ context.Context, space, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, ok := s.spaces[space][key]
	if !ok {
		return nil, false, nil
	}
	if !sv.expires.IsZero() && !s.now().Before(sv.expires) {
		delete(s.spaces[space], key)
		return nil, false, nil
	}
	return append([]byte(nil), sv.v...), true, nil
}

// Delete removes key; see SharedStore.
func (s *MemoryShared) Delete(_ context.Context, space, key string) error {
	s.mu.Lock()
	delete(s.spaces[space], key)
	s.mu.Unlock()
	return nil
}

// All returns copies of space's unexpired values; see SharedStore.
func (s *MemoryShared) All(_ context.Context, space string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make(map[string][]byte, len(s.spaces[space]))
	for k, sv := range s.spaces[space] {
		if !sv.expires.IsZero() && !now.Before(sv.expires) {
			delete(s.spaces[space], k)
			continue
		}
		out[k] = append([]byte(nil), sv.v...)
	}
	return out, nil
}
