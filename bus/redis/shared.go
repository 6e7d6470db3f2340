package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-rt/switchboard/bus"
)

// Shared is the bus.SharedStore of a cluster: one Redis hash per space,
// with the deadlines of expiring values in a sorted set beside it (so a
// value can expire without a Redis key of its own, and All is one HGETALL).
// Expired values are removed when read. While Redis is down every method
// fails with an error wrapping bus.ErrSharedUnavailable; Shared keeps no
// copy, so a dialect keeps what it needs on its hot path.
type Shared struct {
	b *Bus
}

// check returns the error for a call while Redis is down.
func (s *Shared) check() error {
	if s.b.closed.Load() {
		return fmt.Errorf("%w: bus closed", bus.ErrSharedUnavailable)
	}
	if !s.b.linkUp.Load() {
		return fmt.Errorf("%w: redis unreachable", bus.ErrSharedUnavailable)
	}
	return nil
}

// wrap marks a Redis error as unavailability, keeping ctx's errors.
func wrap(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redis: shared %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("redis: shared %s: %w: %w", op, bus.ErrSharedUnavailable, err)
}

// Set stores value under key in space, expiring after ttl (0: never).
func (s *Shared) Set(ctx context.Context, space, key string, value []byte, ttl time.Duration) error {
	if err := s.check(); err != nil {
		return err
	}
	ms := int64(0)
	if ttl > 0 {
		ms = max(1, ttl.Milliseconds())
	}
	if err := scriptKVSet.Run(ctx, s.b.client, s.b.keys, s.b.p, space, key, value, ms).Err(); err != nil {
		return wrap(ctx, "set", err)
	}
	return nil
}

// Get returns key's value in space, if it is there and not expired.
func (s *Shared) Get(ctx context.Context, space, key string) ([]byte, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	v, err := scriptKVGet.Run(ctx, s.b.client, s.b.keys, s.b.p, space, key).Text()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, wrap(ctx, "get", err)
	}
	return []byte(v), true, nil
}

// Delete removes key from space.
func (s *Shared) Delete(ctx context.Context, space, key string) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := scriptKVDelete.Run(ctx, s.b.client, s.b.keys, s.b.p, space, key).Err(); err != nil {
		return wrap(ctx, "delete", err)
	}
	return nil
}

// All returns every unexpired key of space with its value.
func (s *Shared) All(ctx context.Context, space string) (map[string][]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	flat, err := scriptKVAll.Run(ctx, s.b.client, s.b.keys, s.b.p, space).StringSlice()
	if err != nil {
		return nil, wrap(ctx, "all", err)
	}
	out := make(map[string][]byte, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		out[flat[i]] = []byte(flat[i+1])
	}
	return out, nil
}
