module github.com/switchboard-rt/switchboard

go 1.26.8

// Direct dependencies, each with why it was chosen; the test-only ones say so.
require (
	github.com/coder/websocket v1.8.15 // tests: an independent Go WebSocket client; engine candidate
	github.com/gobwas/httphead v0.1.0 // permessage-deflate offer parsing, by the gobwas/ws authors
	github.com/gobwas/ws v1.5.0 // WebSocket framing and handshake: small, allocation-conscious, leaves I/O to our poller
	github.com/hjson/hjson-go/v4 v4.6.0 // HJSON, the syntax of the legacy websockets.conf
	github.com/jackc/pgx/v5 v5.13.0 // appstore/pgstore: the PostgreSQL app store; pure Go, LISTEN/NOTIFY, the most used Go driver
	github.com/klauspost/compress v1.20.1 // flate for permessage-deflate: windows of 256 B to 32 KiB (server_max_window_bits) and faster than compress/flate (docs/ARCHITECTURE.md)
	github.com/lxzan/gws v1.8.9 // measurement only: engine candidate in internal/enginecmp
	github.com/prometheus/client_golang v1.25.0 // /metrics in the format operators scrape
	github.com/prometheus/client_model v0.6.3 // the console reads the same registry /metrics serves, as client_golang's own types
	github.com/redis/go-redis/v9 v9.23.0 // bus/redis: the cluster bus and shared state
	go.uber.org/goleak v1.3.0 // tests: goroutine leak checks in TestMain
	golang.org/x/crypto v0.58.0 // bcrypt for Atmosphere user passwords
	golang.org/x/sys v0.49.0 // epoll, io_uring (internal/uring: no Go binding is served by the module proxy here) and raw socket calls for ws
	golang.org/x/time v0.16.0 // rate: the token buckets of the per-client limits (server/limits.go)
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
