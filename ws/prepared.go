package ws

import (
	"sync/atomic"

	"github.com/gobwas/ws"
)

// MessageType is the type of a data message.
type MessageType int

// Message types, with the values of their RFC 6455 opcodes.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

func (t MessageType) opcode() ws.OpCode {
	if t == Binary {
		return ws.OpBinary
	}
	return ws.OpText
}

// PreparedMessage is a data message framed once and sent to any number of
// connections with [Conn.SendPrepared]: fan-out to N connections encodes the
// frame once, not N times. Connections that negotiated permessage-deflate
// share one compressed copy per window size, made on first use. A PreparedMessage is
// immutable and safe for concurrent use.
type PreparedMessage struct {
	typ     MessageType
	payload []byte
	frame   []byte // header and payload, uncompressed

	// deflated holds the compressed frames, made on first use, one per
	// window size (index: bits - 8) that connections negotiated.
	deflated [deflateFull - minWindow + 1]atomic.Pointer[[]byte]
}

// NewPreparedMessage frames data as one message of type t. It keeps data;
// the caller must not change it afterwards.
func NewPreparedMessage(t MessageType, data []byte) *PreparedMessage {
	return &PreparedMessage{typ: t, payload: data, frame: encodeFrame(t.opcode(), data, false)}
}

// Type returns the message type.
func (m *PreparedMessage) Type() MessageType { return m.typ }

// Payload returns the message payload. It must not be modified.
func (m *PreparedMessage) Payload() []byte { return m.payload }

// frameFor returns the bytes to write to a connection, compressed when the
// connection negotiated permessage-deflate and compression pays off.
func (m *PreparedMessage) frameFor(mode deflateMode) []byte {
	if !mode.on() || len(m.payload) < compressThreshold {
		return m.frame
	}
	slot := &m.deflated[max(mode, minWindow)-minWindow]
	if f := slot.Load(); f != nil {
		return *f
	}
	f := encodeFrameMode(m.typ.opcode(), m.payload, mode)
	if !slot.CompareAndSwap(nil, &f) { // another connection made it first
		return *slot.Load()
	}
	return f
}
