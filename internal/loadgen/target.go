package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// checkTargetSyntax checks that target is host:port with a loopback host
// or "localhost", without resolving it.
func checkTargetSyntax(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", target, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port %q is not 1 to 65535", target, port)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: %w", target, ErrNotLoopback)
	}
	return nil
}

// checkLoopbackURL checks that an http URL points at a loopback host.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: only http URLs are fetched", raw)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "80")
	}
	return checkTargetSyntax(hostport)
}

// resolveTarget turns a checked target into a TCP address, making sure that
// "localhost" resolves to loopback addresses only.
func resolveTarget(ctx context.Context, target string) (*net.TCPAddr, error) {
	if err := checkTargetSyntax(target); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(target)
	p, _ := strconv.Atoi(port)
	if ip := net.ParseIP(host); ip != nil {
		return &net.TCPAddr{IP: ip, Port: p}, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", host, err)
	}
	var pick net.IP
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return nil, fmt.Errorf("%q resolves to %s: %w", host, a.IP, ErrNotLoopback)
		}
		if pick == nil || a.IP.To4() != nil && pick.To4() == nil {
			pick = a.IP // prefer IPv4, which has many source addresses
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("%q resolves to no address", host)
	}
	return &net.TCPAddr{IP: pick, Port: p}, nil
}

// sourceAddrs returns the local addresses to spread n connections to dst
// over: 127.0.0.1..127.0.0.k for an IPv4 target, ::1 for IPv6.
func sourceAddrs(dst net.IP, n, k int) []net.IP {
	if dst.To4() == nil {
		return []net.IP{net.IPv6loopback}
	}
	if k == 0 {
		k = 1 + (n-1)/10000
	}
	out := make([]net.IP, k)
	for i := range out {
		out[i] = net.IPv4(127, 0, 0, byte(1+i))
	}
	return out
}

// publishTarget is the host:port publishers talk to: PublishTarget, or
// Target when that is empty.
func (o *Options) publishTarget() string {
	if o.PublishTarget != "" {
		return o.PublishTarget
	}
	return o.Target
}

// resolvePublishTarget resolves the publish target with the same loopback
// checks as the target. It returns dst, the resolved target, when
// publishers publish to the target, so that the two are never resolved
// apart.
func resolvePublishTarget(ctx context.Context, o *Options, dst *net.TCPAddr) (*net.TCPAddr, error) {
	if o.publishTarget() == o.Target {
		return dst, nil
	}
	pdst, err := resolveTarget(ctx, o.PublishTarget)
	if err != nil {
		return nil, fmt.Errorf("--publish-target: %w", err)
	}
	return pdst, nil
}

// wsURL is the WebSocket URL of path on the target, where the measured
// connections go.
func (o *Options) wsURL(path string) string {
	return "ws://" + o.Target + path
}

// publishWSURL is the WebSocket URL of path on the publish target.
func (o *Options) publishWSURL(path string) string {
	return "ws://" + o.publishTarget() + path
}
