// Package pusher serves the Pusher Channels protocol (version 7) and its
// "broadcastt:" variant, so that the official clients (pusher-js, Laravel
// Echo) and server SDKs work against Switchboard by changing only the host.
//
// A [Dialect] mounts, for every configured app:
//
//	GET  /app/{key}                                   WebSocket: the client protocol
//	POST /apps/{id}/events                            publish one event to up to 100 channels
//	POST /apps/{id}/batch_events                      publish up to 10 events
//	GET  /apps/{id}/channels                          occupied channels
//	GET  /apps/{id}/channels/{name}                   one channel's state
//	GET  /apps/{id}/channels/{name}/users             a presence channel's users
//	POST /apps/{id}/users/{user_id}/terminate_connections
//	     /apps/...                                    anything else: JSON 404, or 405 with Allow
//
// Public, private-, presence-, private-encrypted- and cache- channels,
// client events, user sign-in, watchlists and webhooks are supported; see
// docs/pusher.md for the differences from hosted Pusher.
//
// The dialect knows the wire format and the auth rules and nothing else:
// channels, subscriptions, presence members and fan-out are the hub's
// (package hub), which runs them across nodes. Every app's channels live in
// the hub under "pusher/{app id}/{channel}". The dialect encodes each
// published event once and hands the bytes to the hub; it keeps only
// per-connection state (its channels, at most max_channels_per_connection,
// and its signed-in user) and the senders of webhooks: a bounded queue per
// webhook URL in the hub's QueueStore (memory, or Redis, where it outlives
// the node), each URL with its own sender goroutine on one node while it
// has work, so that one slow URL delays only itself.
// Cache channels' last events live in the hub's SharedStore, and counts
// (subscriptions, connections per app) come from the hub, so that every
// node answers alike.
//
// An idle connection costs no goroutine and no timer: the ws server's one
// sweeper runs each connection's keep-alive hook, which sends pusher:ping
// after the app's activity_timeout and closes with 4201 when no pong
// follows. Shutdown closes every connection with 4200 (pusher-js reconnects
// at once) and stops the webhook senders.
package pusher
