package ws

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// AddrLimit caps the open connections of one client address. One AddrLimit
// may be shared by several Servers (set the same pointer in each one's
// Options.AddrLimit), so that the cap holds across all their endpoints
// together. The address is the TCP peer's: proxy headers are not trusted,
// since a client can write any address in them.
//
// An idle address costs nothing: its entry goes when its last connection
// ends.
type AddrLimit struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

// NewAddrLimit returns an AddrLimit that lets each address hold at most max
// connections, or nil (no limit) when max <= 0.
func NewAddrLimit(max int) *AddrLimit {
	if max <= 0 {
		return nil
	}
	return &AddrLimit{max: max, open: map[netip.Addr]int{}}
}

// acquire counts a connection of r's address in and returns that address,
// or false when the address already holds the maximum. A request whose
// address cannot be read is let in uncounted (the zero Addr).
func (l *AddrLimit) acquire(r *http.Request) (netip.Addr, bool) {
	a := remoteAddr(r)
	if !a.IsValid() {
		return a, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[a] >= l.max {
		return netip.Addr{}, false
	}
	l.open[a]++
	return a, true
}

// release counts a connection of a out; the zero Addr is ignored.
func (l *AddrLimit) release(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[a] <= 1 {
		delete(l.open, a)
		return
	}
	l.open[a]--
}

// Open returns how many connections a holds now.
func (l *AddrLimit) Open(a netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[canonical(a)]
}

// remoteAddr is r's TCP peer address in canonical form, or the zero Addr.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return canonical(a)
}

// canonical is the key an address is counted under: IPv4-mapped IPv6
// unmapped, no zone, so that one client is one key however it is written.
func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
