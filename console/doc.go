// Package console is Switchboard's operator console: a live dashboard and
// a debug console in the browser, served from the server's own port under
// one path (config key console.path, "/console" by default).
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no
// build step, nothing fetched from elsewhere). Behind it are a few JSON
// endpoints under <path>/api/ and two Server-Sent Events streams: the
// overview, sampled once a second from the server's Prometheus registry
// only while a page is open, and a watched channel, which is an ordinary
// hub subscriber for as long as the page watches it. Every route, streams
// included, goes through an adminauth.Guard: loopback clients only unless
// an admin token is configured.
//
// The console knows the server through narrow interfaces (Hub, Apps,
// Cluster) that the binary fills in; it knows no wire format.
package console
