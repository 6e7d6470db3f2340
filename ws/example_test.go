package ws_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/switchboard-rt/switchboard/ws"
)

// An echo server on its own listener, the shape of Node's
// `new WebSocket.Server({port, maxPayload, clientTracking})`.
func ExampleServer_ListenAndServe() {
	srv := ws.NewServer(ws.Options{
		Addr:           "127.0.0.1:0",
		MaxConnections: 10000,   // "backlog": more handshakes get 503
		ClientTracking: true,    // srv.Clients() lists open connections
		MaxPayload:     1 << 20, // larger messages close with 1009
	})
	srv.OnConnection(func(c *ws.Conn) {
		c.OnMessage(func(t ws.MessageType, data []byte) {
			_ = c.Send(t, data) // never blocks; ErrQueueFull closes the connection
		})
		c.OnClose(func(code ws.StatusCode, reason string) {
			log.Printf("closed: %d %s", code, reason)
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := srv.ListenAndServe(ctx); err != nil {
		log.Print(err)
	}
	// Output:
}

// Mounting on an existing mux, with a sub-protocol chosen from the client's
// offer.
func ExampleServer_ServeHTTP() {
	chat := ws.NewServer(ws.Options{
		Accept: func(r *http.Request, offered []string) (string, bool) {
			for _, p := range offered {
				if p == "chat.v1" {
					return p, true
				}
			}
			return "", false // refused with 403
		},
	})
	chat.OnConnection(func(c *ws.Conn) {
		_ = c.SendText("welcome, speaker of " + c.Subprotocol())
	})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", chat)
	_ = &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	// Output:
}

// Two endpoints with options of their own on one Engine: one set of
// pollers, writers and keep-alive sweeper for both. The Engine is closed
// once both servers have shut down.
func ExampleEngine() {
	engine := ws.NewEngine()
	defer engine.Close()
	chat := ws.NewServer(ws.Options{Engine: engine, MaxPayload: 64 << 10})
	feed := ws.NewServer(ws.Options{Engine: engine, SendQueue: 1024})
	mux := http.NewServeMux()
	mux.Handle("GET /chat", chat)
	mux.Handle("GET /feed", feed)
	_ = &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = chat.Shutdown(ctx)
	_ = feed.Shutdown(ctx)
	// Output:
}
