package redis

import (
	"encoding/binary"
	"errors"

	"github.com/switchboard-rt/switchboard/bus"
)

// A message on a Redis channel is an envelope around the payload:
//
//	version byte (1)
//	uvarint length, sender: the Bus's node id, to skip its own messages
//	uvarint length, origin: bus.Message.Origin
//	uvarint except: bus.Message.Except
//	payload, to the end
//
// The channel is the Redis channel's name after the "m:" prefix.
const envelopeVersion = 1

var errBadEnvelope = errors.New("redis: malformed message envelope")

// encodeEnvelope returns msg's envelope from sender.
func encodeEnvelope(sender string, msg bus.Message) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(sender)+len(msg.Origin)+len(msg.Payload))
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, uint64(len(sender)))
	b = append(b, sender...)
	b = binary.AppendUvarint(b, uint64(len(msg.Origin)))
	b = append(b, msg.Origin...)
	b = binary.AppendUvarint(b, msg.Except)
	return append(b, msg.Payload...)
}

// decodeEnvelope parses an envelope. The payload is a new slice; sender
// and origin are substrings of s.
func decodeEnvelope(s string) (sender string, msg bus.Message, err error) {
	if len(s) < 1 || s[0] != envelopeVersion {
		return "", msg, errBadEnvelope
	}
	rest := s[1:]
	str := func() (string, bool) {
		n, k := uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return "", false
		}
		v := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return v, true
	}
	var ok1, ok2 bool
	sender, ok1 = str()
	msg.Origin, ok2 = str()
	except, k := uvarint(rest)
	if !ok1 || !ok2 || k <= 0 {
		return "", msg, errBadEnvelope
	}
	msg.Except = except
	msg.Payload = []byte(rest[k:])
	return sender, msg, nil
}

// uvarint is binary.Uvarint on a string, without a copy.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
