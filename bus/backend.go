package bus

import (
	"crypto/rand"
	"encoding/hex"
)

// Backend is everything a node shares with the other nodes of its cluster:
// the bus that carries publishes, and the stores for presence members,
// counts and dialect state. A hub is built with one (hub.Options.Backend)
// and cannot tell which it has.
//
// A cluster backend provides every part from one connection (bus/redis:
// Bus.Backend). A nil part means its in-memory version, right for one node;
// a test may swap in one part of its own and leave the rest nil.
type Backend struct {
	// Bus carries publishes between nodes; nil means a new Local.
	Bus Bus
	// Presence holds the members of presence channels.
	Presence PresenceStore
	// Counts holds subscription and connection counts over all nodes.
	Counts Counts
	// Shared is the key/value store dialects share across nodes.
	Shared SharedStore
	// Edges decides once for the cluster when a held key (an occupied
	// channel, an online user) changes its reported state.
	Edges EdgeStore
	// Queues holds work queues such as pending webhooks; nil means a new
	// MemoryQueues.
	Queues QueueStore
	// NodeID names this node in bus messages (Message.Origin); "" means 16
	// random hex digits.
	NodeID string
}

// WithDefaults returns b with every nil part replaced by its in-memory
// version and an empty NodeID by a random one.
func (b Backend) WithDefaults() Backend {
	if b.Bus == nil {
		b.Bus = NewLocal()
	}
	if b.Presence == nil {
		b.Presence = NewMemoryPresence()
	}
	if b.Counts == nil {
		b.Counts = NewMemoryCounts()
	}
	if b.Shared == nil {
		b.Shared = NewMemoryShared()
	}
	if b.Edges == nil {
		b.Edges = NewMemoryEdges(nil)
	}
	if b.Queues == nil {
		b.Queues = NewMemoryQueues()
	}
	if b.NodeID == "" {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
		b.NodeID = hex.EncodeToString(rnd[:])
	}
	return b
}
