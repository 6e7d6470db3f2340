package pusher

import (
	"testing"
	"unsafe"
)

// An idle connection's dialect state stays in its size class
// (BENCHMARKS.md, the cost of a channel): the socket id is made when
// needed, not kept.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 112 {
		t.Errorf("conn is %d bytes, want at most 112", n)
	}
}
