package pusher

import (
	"fmt"

	"github.com/switchboard-rt/switchboard/ws"
)

// Code is an error code of the Pusher protocol, sent in pusher:error and,
// for the codes that end a connection, as the WebSocket close code. Its
// range tells pusher-js what to do: 4000-4099 do not reconnect, 4100-4199
// reconnect with back-off, 4200-4299 reconnect at once, 4300-4399 other
// errors.
type Code int

// The codes of the protocol.
const (
	CodeSSLOnly              Code = 4000 // the app accepts TLS connections only
	CodeAppNotFound          Code = 4001 // no app has the key
	CodeAppDisabled          Code = 4003 // the app is disabled
	CodeOverQuota            Code = 4004 // over the app's connection quota
	CodePathNotFound         Code = 4005 // not /app/{key}
	CodeInvalidVersion       Code = 4006 // protocol is not a number
	CodeUnsupportedProtocol  Code = 4007 // protocol is not 5, 6 or 7
	CodeNoProtocol           Code = 4008 // no protocol parameter
	CodeUnauthorized         Code = 4009 // bad sign-in, sign-in timeout, terminated
	CodeOverCapacity         Code = 4100 // the server is over capacity (a full send queue)
	CodeReconnect            Code = 4200 // generic: reconnect at once (shutdown)
	CodePongTimeout          Code = 4201 // no pong in time
	CodeInactive             Code = 4202 // closed after inactivity
	CodeClientEventRejected  Code = 4301 // client event over the rate limit
	minProtocol, maxProtocol      = 5, 7
)

// Error is a protocol error that ends the connection: what pusher:error
// carries before the close with Code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("pusher: %d %s", e.Code, e.Message) }

// closeErr returns an Error that ends the connection.
func closeErr(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StatusCode returns c as a WebSocket close code.
func (c Code) StatusCode() ws.StatusCode { return ws.StatusCode(c) }
