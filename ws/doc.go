// Package ws is Switchboard's embeddable RFC 6455 WebSocket server.
//
// A [Server] accepts WebSocket handshakes, either on its own listener
// ([Server.ListenAndServe]) or mounted on any [net/http] mux ([Server.ServeHTTP]),
// and hands each accepted connection to the function registered with
// [Server.OnConnection]. A [Conn] reports what happens on it through event
// hooks (OnMessage, OnPing, OnPong, OnClose, OnError), in the style of Node's
// ws module, and is written to with [Conn.Send], [Conn.Ping], [Conn.Pong] and
// [Conn.Close]. The examples are the best way to learn the API.
//
// Frame encoding, decoding and the handshake come from github.com/gobwas/ws.
// This package adds what a server of many mostly idle connections needs:
//
//   - No goroutine and no buffer per idle connection. On Linux, a plain TCP
//     connection's descriptor is taken out of the Go runtime after the
//     handshake and watched by two epoll instances; a goroutine with a
//     pooled read buffer exists only while a connection has bytes to read,
//     and a fixed set of long-lived writer goroutines (max(2, GOMAXPROCS))
//     write whichever connections have frames queued. TLS connections, and
//     every connection on other systems, use one reader goroutine each.
//   - A bounded send queue per connection. Everything queued is written with
//     one system call (writev, or send for a lone frame), so a burst of
//     frames costs one system call. With [Options.SendPath] set to
//     [SendPathUring], a writer submits the writes of all the connections
//     it has ready with one io_uring_enter instead.
//   - OnConnection runs before the 101 response is written, so that what it
//     sets up is in place before the client can act on the connection.
//   - [PreparedMessage]: a message framed once and shared by every connection
//     it is sent to, which is what fan-out to many subscribers needs.
//   - Keep-alive pings and pong timeouts from one sweeper, not a timer per
//     connection; the sweeper also runs each connection's [Conn.OnTick]
//     hook, for a protocol's own keep-alive rules.
//   - The pollers, the writers and the sweeper make an [Engine]. A Server
//     has one of its own unless [Options.Engine] gives it one to share with
//     other Servers: several endpoints with options of their own (a
//     process's protocols, say) then cost one set of them. The sweeper
//     sweeps each Server at that Server's own interval.
//
// # The shape of the API
//
// Close codes have one type, [StatusCode], in [Conn.Close] and in the
// OnClose hook alike. A call takes a context only where it can wait:
// [Server.ListenAndServe], [Server.Serve] and [Server.Shutdown]. Send,
// SendText, Ping and Pong only queue a frame and never wait (a full queue
// is ErrQueueFull, not a wait), so, unlike the first draft of the spec
// (shared/specs/ws-server-api.md, which gave them a ctx), they take none:
// a context that can never be waited on only suggests a blocking that does
// not happen. How a connection ended is also an error value: the cause of
// its [Conn.Context] is a [*CloseError], which [CloseStatus] reads.
//
// A server never masks the frames it sends (RFC 6455 section 5.1), so no
// method takes a mask argument. Frames from clients must be masked; an
// unmasked frame fails the connection with close code 1002.
//
// Protocol violations close the connection with the code RFC 6455 names:
// 1002 for framing errors, 1007 for invalid UTF-8 in a text message or a
// close reason, 1009 for a message over [Options.MaxPayload]. The server
// then sends its Close and drops the connection without waiting for the
// peer's. A plain TCP connection on Linux first lingers, discarding what
// the peer still sends for up to two seconds, so that a client in the
// middle of a large write reads the Close instead of meeting a reset; TLS
// connections, and connections on other systems, are closed at once.
package ws
