package ws

import (
	"errors"
	"fmt"
)

// StatusCode is a WebSocket close status code (RFC 6455 section 7.4).
type StatusCode int

// Close codes used by this package. Dialects define their own in the
// 3000-4999 range.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// StatusNoStatusRcvd is reported when the peer's Close carried no code; it
	// is never sent.
	StatusNoStatusRcvd StatusCode = 1005
	// StatusAbnormalClosure is reported when the TCP connection ended without
	// a Close frame; it is never sent.
	StatusAbnormalClosure     StatusCode = 1006
	StatusInvalidFramePayload StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusBadGateway          StatusCode = 1014
	StatusTLSHandshake        StatusCode = 1015
	maxCloseReason                       = 123
	maxControlPayload                    = 125
)

// Sendable reports whether code may be sent in a Close frame: 1000-1003,
// 1007-1014 and 3000-4999.
func (code StatusCode) Sendable() bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// CloseError is the error a connection ended with: the close code and reason
// the peer sent, or the ones this side sent when it failed the connection;
// the same two that OnClose gets. It is the cause of the connection's
// Context once it ends: context.Cause(c.Context()).
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket closed: %d %s", e.Code, e.Reason)
}

// CloseStatus returns the close code carried by err, or -1 when err is not a
// *CloseError: CloseStatus(context.Cause(c.Context())) is how a connection
// ended.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Errors callers may branch on.
var (
	// ErrClosed is returned by methods called after the close handshake began.
	ErrClosed = errors.New("ws: connection closed")
	// ErrMessageTooBig is reported through OnError when a message is larger
	// than Options.MaxPayload; the connection is then closed with 1009.
	ErrMessageTooBig = errors.New("ws: message larger than the maximum payload")
	// ErrControlTooLong is returned by Ping and Pong for payloads over 125 bytes.
	ErrControlTooLong = errors.New("ws: control frame payload longer than 125 bytes")
	// ErrQueueFull is returned by Send when the connection's send queue is
	// full; the connection is then closed with Options.OverflowCode.
	ErrQueueFull = errors.New("ws: send queue full")
	// ErrInvalidCloseCode is returned by Close for codes that may not be sent.
	ErrInvalidCloseCode = errors.New("ws: invalid close code")
)
