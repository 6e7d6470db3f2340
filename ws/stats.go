package ws

import "sync/atomic"

// Stats is a snapshot of a server's counters.
type Stats struct {
	Connections      int64  // open now
	Accepted         uint64 // handshakes completed
	MessagesReceived uint64
	BytesReceived    uint64
	FramesSent       uint64
	BytesSent        uint64
	Writes           uint64 // socket writes; FramesSent/Writes is the coalescing factor
	Overflows        uint64 // connections closed for a full send queue
	RefusedPerAddr   uint64 // handshakes refused by Options.AddrLimit
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats { return s.metrics.snapshot() }

type counters struct {
	conns                       atomic.Int64
	accepted, msgsIn, bytesIn   atomic.Uint64
	framesOut, bytesOut, writes atomic.Uint64
	overflows, refusedPerAddr   atomic.Uint64
	ringRounds                  atomic.Uint64 // io_uring submissions (tests check the path ran)
}

func (m *counters) received(n int) { m.msgsIn.Add(1); m.bytesIn.Add(uint64(n)) }
func (m *counters) overflow()      { m.overflows.Add(1) }
func (m *counters) wrote(frames, bytes int) {
	m.writes.Add(1)
	m.framesOut.Add(uint64(frames))
	m.bytesOut.Add(uint64(bytes))
}

func (m *counters) snapshot() Stats {
	return Stats{
		Connections:      m.conns.Load(),
		Accepted:         m.accepted.Load(),
		MessagesReceived: m.msgsIn.Load(),
		BytesReceived:    m.bytesIn.Load(),
		FramesSent:       m.framesOut.Load(),
		BytesSent:        m.bytesOut.Load(),
		Writes:           m.writes.Load(),
		Overflows:        m.overflows.Load(),
		RefusedPerAddr:   m.refusedPerAddr.Load(),
	}
}
