// Package atmosphere is the Navixy-style event subscription dialect: web
// monitoring pages written with atmosphere.js subscribe to tracker events
// (state, state_batch, readings_batch, iot_monitor, lifecycle, logout) that
// the platform's backend publishes.
//
// It serves, under a configurable prefix (config.Atmosphere):
//
//	<prefix>/event/subscription[/]  the Atmosphere transport: WebSocket, and long-polling as the fallback
//	<prefix>/user/auth               a login and password for a session hash (also user/logout)
//	<prefix>/publisher/...           the backend's API: publish events, manage users and API keys
//
// The code keeps the two protocol layers apart: framing.go and the
// transports (transport.go, longpoll.go) are the Atmosphere protocol
// (handshake frame, trackMessageLength framing in UTF-16 code units, "X"
// heartbeats, the close notice); request.go, subscribe.go, batch.go and
// events.go are the Navixy API carried on top. docs/atmosphere.md describes
// both, and every decision the wire spec left open.
//
// Published events go through the hub, one channel per tracker and kind
// ("atmo:state:<id>", "atmo:readings:<id>", "atmo:iot:<id>",
// "atmo:lifecycle:<id>"), so they reach subscribers on every node. The hub
// frames each event once; the variants clients need (compact, or
// length-prefixed) are derived once per event and node (deriveCache), and
// batches are built per client at most once per its rate limit by the
// dialect's one ticker goroutine, never by a timer per connection. The
// last state of each tracker is kept, bounded, on every node (store.go)
// from the "atmo:store" channel, so new subscribers get it at once.
//
// Users and API keys live in this node's memory (auth.go). Sessions are
// valid on every node: they are kept in the hub's SharedStore, each node
// keeping a copy of those used on it, and their ends are announced on the
// "atmo:auth" channel (cluster.go).
//
// The package must not know other dialects, and the hub must not know this
// package's channel names or formats.
package atmosphere
