package server

import (
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/ws"
)

// WebSocketOptions returns the ws.Options that the websocket config section
// asks for: the binary hands them to every dialect (dialect.Deps.WebSocket),
// which builds its ws.Server from them. Dialects then set
// what is theirs: CheckOrigin, Accept, MaxPayload if they have their own
// limit, ShutdownCode.
func WebSocketOptions(c config.WebSocket) ws.Options {
	ping := c.PingInterval.Std()
	if ping == 0 {
		ping = -1 // the config's "0: never"; ws reads 0 as its default
	}
	return ws.Options{
		MaxConnections: c.MaxConnections,
		MaxPayload:     c.MaxPayload,
		PingInterval:   ping,
		PongTimeout:    c.PongTimeout.Std(),
		ReadTimeout:    c.ReadTimeout.Std(),
		WriteTimeout:   c.WriteTimeout.Std(),
		SendQueue:      c.SendQueue,
		Compression:    c.Compression,

		MaxPendingPongs: c.MaxPendingPongs,
		SendPath:        sendPath(c.SendPath),
	}
}

// sendPath reads websocket.send_path, which config has validated.
func sendPath(s string) ws.SendPath {
	p, err := ws.ParseSendPath(s)
	if err != nil {
		return ws.SendPathDefault
	}
	return p
}
