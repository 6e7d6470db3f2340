// Package loadgen is the load generator behind `switchboard bench`: it
// opens many WebSocket connections to a server on this machine, publishes
// to them, and measures what comes back.
//
// Four scenarios, each bounded in count and time and stopping by itself:
//
//   - hold: N idle connections, each subscribed (Pusher) or registered with a
//     token (token broker); time to connect all, the server's RSS per
//     connection and its CPU while idle.
//   - fanout: S subscribers on one channel and publishers at a given rate;
//     deliveries per second, publish-to-receive latency and messages lost.
//   - channels: S subscribers over C channels, publishes to random channels;
//     the same figures.
//   - echo: round trips per second and latency on /echo.
//
// Every message carries a marker "sbm:<publisher>:<seq>:<nanoseconds>:" in
// its payload. Receivers find it in the raw frame (whatever the dialect
// wrapped it in), so the receive path parses no JSON and allocates nothing;
// per-publisher sequence numbers give the loss count, the timestamp the
// latency. Publishing goes through each protocol's own API: Pusher's signed
// REST API, the token broker's form API or its WebSocket `recipients|text`
// frames.
//
// fanout and channels "as fast as accepted" are closed loop by default
// (Options.Window, flow.go): publishing stays at most a window of messages
// ahead of each channel's slowest subscriber, so that the figures are what
// the subscribers sustain rather than the server's slow-consumer policy.
// Latency still runs from the moment a message is published.
//
// The generator speaks to loopback addresses only (127.0.0.0/8, ::1,
// localhost) and refuses any other target. It knows nothing of the server's
// internals: it sees only what any client of the protocols sees, plus the
// server's /proc entries when given its PID.
//
// Run a scenario with [Run]; [Options] says what every knob does.
package loadgen
