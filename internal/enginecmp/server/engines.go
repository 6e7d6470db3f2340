package main

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/ws"
)

// engines builds each engine's /echo handler and its shutdown function.
var engines = map[string]func() (http.Handler, func(context.Context)){
	"switchboard": switchboardEcho,
	"gws":         gwsEcho,
	"coder":       coderEcho,
}

// switchboardEcho is our ws package: the poller reads, Send queues.
func switchboardEcho() (http.Handler, func(context.Context)) {
	srv := ws.NewServer(ws.Options{})
	srv.OnConnection(func(c *ws.Conn) {
		c.OnMessage(func(t ws.MessageType, data []byte) {
			_ = c.Send(t, data)
		})
	})
	return srv, func(ctx context.Context) { _ = srv.Shutdown(ctx) }
}

// gwsEcho is github.com/lxzan/gws: a ReadLoop goroutine per connection.
func gwsEcho() (http.Handler, func(context.Context)) {
	up := gws.NewUpgrader(gwsHandler{}, &gws.ServerOption{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	})
	return h, func(context.Context) {}
}

type gwsHandler struct{ gws.BuiltinEventHandler }

func (gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// coderEcho is github.com/coder/websocket: the handler's goroutine reads
// and writes for as long as the connection lives.
func coderEcho() (http.Handler, func(context.Context)) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			t, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, t, b); err != nil {
				return
			}
		}
	})
	return h, func(context.Context) {}
}
