package bus_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/edgetest"
)

func TestMemoryEdges(t *testing.T) {
	edgetest.Run(t, func(_ *testing.T, clock *edgetest.Clock) []bus.EdgeStore {
		return []bus.EdgeStore{bus.NewMemoryEdges(clock.Now)}
	})
}
