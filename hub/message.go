package hub

import (
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/ws"
)

// Message is one published message as the hub hands it to every subscriber
// of its channel on this node: the payload, plus what subscribers derive
// from it, each built once on first use and shared by all of them.
//
//   - Payload is the message as published. Subscribers that do not write it
//     to a WebSocket (a store, a long-polling queue, an HTTP push client)
//     use only this.
//   - Frame is the WebSocket frame, built by the first socket subscriber
//     that asks, so a message to 10,000 sockets is framed once and a message
//     only non-socket subscribers see is never framed.
//   - Memo keeps a dialect's own variants of the message (a projected
//     object, a re-framed copy), built once per publish however many of the
//     dialect's subscribers want them.
//
// A Message is immutable once built and safe for concurrent use; neither
// the hub nor a subscriber may modify its payload.
type Message struct {
	payload []byte

	frameOnce sync.Once
	frame     *ws.PreparedMessage

	memoMu sync.Mutex                  // serialises builds
	memo   atomic.Pointer[[]memoEntry] // copy-on-write; few: one per variant asked for
}

// memoEntry is one value of a Message's memo.
type memoEntry struct {
	key   any
	value any
}

// NewMessage returns a Message for payload, as the hub builds one per
// publish; dialects build their own for what they send outside a publish.
// It keeps payload: the caller must not modify it afterwards.
func NewMessage(payload []byte) *Message { return &Message{payload: payload} }

// Payload returns the message as published. It must not be modified.
func (m *Message) Payload() []byte { return m.payload }

// Frame returns the message framed as one WebSocket text message, built on
// the first call and the same value for every later one.
func (m *Message) Frame() *ws.PreparedMessage {
	m.frameOnce.Do(func() { m.frame = ws.NewPreparedMessage(ws.Text, m.payload) })
	return m.frame
}

// Memo returns the value kept under key for this message, calling build to
// make it on the first call for key. Calls for one key that overlap wait
// for one build; once built, a value is read without a lock. key must be
// comparable; use an unexported type of the dialect's own so that dialects
// never share a key. build must not call Memo on the same Message.
func (m *Message) Memo(key any, build func(m *Message) any) any {
	if v, ok := m.memoized(key); ok {
		return v
	}
	m.memoMu.Lock()
	defer m.memoMu.Unlock()
	if v, ok := m.memoized(key); ok {
		return v
	}
	v := build(m)
	var memo []memoEntry
	if old := m.memo.Load(); old != nil {
		memo = append(memo, *old...)
	}
	memo = append(memo, memoEntry{key: key, value: v})
	m.memo.Store(&memo)
	return v
}

// memoized returns the value kept under key, if any.
func (m *Message) memoized(key any) (any, bool) {
	if memo := m.memo.Load(); memo != nil {
		for _, e := range *memo {
			if e.key == key {
				return e.value, true
			}
		}
	}
	return nil, false
}
