package hub

import (
	"testing"
	"unsafe"
)

// The records an idle connection on a channel of its own costs stay in
// their size classes (BENCHMARKS.md, the cost of a channel): 32 bytes for
// the channel, 32 for the subscription.
func TestChannelRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(chanState{}); n > 32 {
		t.Errorf("chanState is %d bytes, want at most 32", n)
	}
	if n := unsafe.Sizeof(subscription{}); n > 32 {
		t.Errorf("subscription is %d bytes, want at most 32", n)
	}
}
