package bus

import (
	"regexp"
	"testing"
)

// WithDefaults fills what is missing with the in-memory parts and keeps
// what was given.
func TestBackendWithDefaults(t *testing.T) {
	shared := NewMemoryShared()
	b := Backend{Shared: shared}.WithDefaults()
	if b.Shared != shared {
		t.Error("the given Shared was replaced")
	}
	if _, ok := b.Bus.(*Local); !ok {
		t.Errorf("Bus = %T, want *Local", b.Bus)
	}
	if _, ok := b.Presence.(*MemoryPresence); !ok {
		t.Errorf("Presence = %T, want *MemoryPresence", b.Presence)
	}
	if _, ok := b.Counts.(*MemoryCounts); !ok {
		t.Errorf("Counts = %T, want *MemoryCounts", b.Counts)
	}
	if _, ok := b.Queues.(*MemoryQueues); !ok {
		t.Errorf("Queues = %T, want *MemoryQueues", b.Queues)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(b.NodeID) {
		t.Errorf("NodeID = %q, want 16 hex digits", b.NodeID)
	}
	if other := (Backend{}).WithDefaults(); other.NodeID == b.NodeID {
		t.Error("two nodes drew the same id")
	}
	if id := (Backend{NodeID: "n1"}).WithDefaults().NodeID; id != "n1" {
		t.Errorf("NodeID = %q, want the given n1", id)
	}
}
