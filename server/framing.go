package server

import "net/http"

// closeChunked guards every endpoint against request smuggling (RFC 9112
// §6.3). A request that carries both Content-Length and Transfer-Encoding is
// the classic way to hide a second request in a body: a proxy in front that
// frames by Content-Length forwards the hidden request as body, while a
// server that frames by Transfer-Encoding answers it as a request of its own.
//
// net/http frames such a request by Transfer-Encoding and deletes
// Content-Length before a handler runs, so the two cannot be told apart
// from a chunked request without Content-Length. closeChunked therefore
// answers every request with a chunked body and then closes its connection,
// as the RFC requires for the mixed case: whatever follows the body on that
// connection is never read. A WebSocket handshake with a body is refused
// with 400, since after the upgrade the body would be read as frames.
// Requests framed by Content-Length alone, which is what every SDK sends,
// keep their connection.
func closeChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if r.Header.Get("Upgrade") != "" {
			http.Error(w, "a WebSocket handshake must not have a body (Transfer-Encoding)", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
