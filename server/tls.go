package server

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certificate is the TLS certificate the server presents, replaceable while
// it serves: a handshake reads the current one, so a reload applies to new
// connections and leaves established ones as they are.
type certificate struct {
	current atomic.Pointer[tls.Certificate]
}

// load reads a PEM certificate chain and key and makes them current. On
// error the current certificate stays.
func (c *certificate) load(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("server: tls: %w", err)
	}
	c.current.Store(&cert)
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// tlsConfig returns the server's TLS configuration around c.
func (c *certificate) tlsConfig() *tls.Config {
	// HTTP/1.1 only: a WebSocket handshake needs a connection it can take
	// over, which HTTP/2 does not give.
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// ReloadTLS reads the certificate and key again, from the given files (the
// configured ones when both are empty), for the connections accepted from
// now on; connections already open keep theirs. On error nothing changes.
// It fails on a server configured without TLS: turning TLS on or off needs
// a restart.
func (s *Server) ReloadTLS(certFile, keyFile string) error {
	if s.tls == nil {
		return fmt.Errorf("server: tls: not configured at start; turning it on needs a restart")
	}
	if certFile == "" && keyFile == "" {
		certFile, keyFile = s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile
	}
	return s.cert.load(certFile, keyFile)
}
