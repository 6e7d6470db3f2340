package atmosphere

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/switchboard-rt/switchboard/hub"
)

// This file keeps the last state, readings and IoT values of each tracker,
// and whether it is blocked, so that a new subscriber gets current data at
// once (spec §2.3). Every node keeps its own copy, fed by the store channel
// of the hub, which every publish goes through first; memory is bounded by
// config atmosphere.max_last_states, dropping the least recently updated
// tracker first. Blocked trackers are kept apart, in a set that is never
// evicted (a tracker forgotten by the LRU must not come back as "normal"),
// bounded by max_last_states too: a block over it is refused.

// storeChannel carries every update of the last-state store to every node.
const storeChannel = "atmo:store"

// Store update kinds, the first byte of a store channel message.
const (
	updState     = 's'
	updReadings  = 'r'
	updIoT       = 'i'
	updBlock     = 'b'
	updUnblock   = 'u'
	updCorrupt   = 'c' // the tracker was removed: forget it
	maxUpdateHdr = 24
)

// storeUpdate encodes a store channel message: "<kind><tracker id>\n<payload>".
func storeUpdate(kind byte, id int64, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+maxUpdateHdr)
	b = append(b, kind)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '\n')
	return append(b, payload...)
}

var errBadUpdate = errors.New("atmosphere: malformed store update")

// parseStoreUpdate decodes a store channel message.
func parseStoreUpdate(msg []byte) (kind byte, id int64, payload []byte, err error) {
	nl := bytes.IndexByte(msg, '\n')
	if nl < 2 || nl > maxUpdateHdr {
		return 0, 0, nil, errBadUpdate
	}
	id, perr := strconv.ParseInt(string(msg[1:nl]), 10, 64)
	if perr != nil {
		return 0, 0, nil, errBadUpdate
	}
	return msg[0], id, msg[nl+1:], nil
}

// trackerData is what the store keeps of one tracker.
type trackerData struct {
	id       int64
	state    *derived // the last state event
	readings *derived
	iot      *derived
	blocked  bool // filled in by get from the blocked set
}

// of returns what t keeps for an event type's subscribers, or nil.
func (t *trackerData) of(typ evType) *derived {
	switch typ {
	case evState, evStateBatch:
		return t.state
	case evReadingsBatch:
		return t.readings
	case evIoTMonitor:
		return t.iot
	}
	return nil
}

// store is the last-state store. Its methods are safe for concurrent use.
type store struct {
	max int
	mu  sync.RWMutex
	m   map[int64]*list.Element // of *trackerData
	lru *list.List              // most recently updated first
	blk map[int64]struct{}      // blocked trackers, never evicted, at most max
}

func newStore(max int) *store {
	return &store{max: max, m: map[int64]*list.Element{}, lru: list.New(), blk: map[int64]struct{}{}}
}

// canBlockMore reports whether n more trackers may be blocked.
func (s *store) canBlockMore(n int) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blk)+n <= s.max
}

// reserveBlock blocks id at once if the blocked set has room (or id is
// blocked already), checking and adding under one lock, so that two calls
// racing for the last places cannot both pass: the one refused is told.
// The block is published afterwards; its delivery here finds id blocked.
// added reports whether id was not blocked before, for unreserveBlock.
func (s *store) reserveBlock(id int64) (ok, added bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blk[id]; ok {
		return true, false
	}
	if len(s.blk) >= s.max {
		return false, false
	}
	s.blk[id] = struct{}{}
	return true, true
}

// unreserveBlock undoes a reserveBlock that added id, when the block could
// not be published.
func (s *store) unreserveBlock(id int64) {
	s.mu.Lock()
	delete(s.blk, id)
	s.mu.Unlock()
}

// Deliver applies a store channel message. It makes the store a
// hub.Subscriber of storeChannel.
func (s *store) Deliver(m *hub.Message) error {
	kind, id, payload, err := parseStoreUpdate(m.Payload())
	if err != nil {
		return nil // not ours to fail: a bad message changes nothing
	}
	s.apply(kind, id, payload)
	return nil
}

var _ hub.Subscriber = (*store)(nil)

// apply records one update.
func (s *store) apply(kind byte, id int64, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case updCorrupt:
		if e := s.m[id]; e != nil {
			s.lru.Remove(e)
			delete(s.m, id)
		}
		delete(s.blk, id)
		return
	case updBlock, updUnblock:
		if e := s.m[id]; e != nil {
			s.lru.MoveToFront(e) // an update, as for the other kinds
		}
		if kind == updUnblock {
			delete(s.blk, id)
		} else if _, ok := s.blk[id]; ok || len(s.blk) < s.max {
			// Refused by the publishing node when the set is full; an
			// update from a node with a larger bound is dropped here.
			s.blk[id] = struct{}{}
		}
		return
	}
	t := s.touchLocked(id)
	keep := func(old *derived, k chanKind) *derived {
		if old != nil && bytes.Equal(old.src.Payload(), payload) {
			return old // the publishing node's own update, back from the bus
		}
		return newDerived(k, hub.NewMessage(bytes.Clone(payload)))
	}
	switch kind {
	case updState:
		t.state = keep(t.state, chState)
	case updReadings:
		t.readings = keep(t.readings, chReadings)
	case updIoT:
		t.iot = keep(t.iot, chIoT)
	}
}

// touchLocked returns id's entry, made the most recent, creating it and
// evicting the oldest as needed.
func (s *store) touchLocked(id int64) *trackerData {
	if e := s.m[id]; e != nil {
		s.lru.MoveToFront(e)
		return e.Value.(*trackerData)
	}
	for s.lru.Len() >= s.max {
		old := s.lru.Back()
		s.lru.Remove(old)
		delete(s.m, old.Value.(*trackerData).id)
	}
	t := &trackerData{id: id}
	s.m[id] = s.lru.PushFront(t)
	return t
}

// get returns a copy of what the store has of id: its data, if kept, and
// whether it is blocked.
func (s *store) get(id int64) (trackerData, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, blocked := s.blk[id]
	if e := s.m[id]; e != nil {
		t := *e.Value.(*trackerData)
		t.blocked = blocked
		return t, true
	}
	return trackerData{id: id, blocked: blocked}, blocked
}

// blocked reports whether id is blocked.
func (s *store) blocked(id int64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.blk[id]
	return ok
}

// sourceID returns the source_id of id's last state.
func (s *store) sourceID(id int64) (int64, bool) {
	t, ok := s.get(id)
	if !ok || t.state == nil {
		return 0, false
	}
	var v struct {
		SourceID *int64 `json:"source_id"`
	}
	if json.Unmarshal(t.state.data, &v) != nil || v.SourceID == nil {
		return 0, false
	}
	return *v.SourceID, true
}

// len returns the number of trackers kept.
func (s *store) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}
