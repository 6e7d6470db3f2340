package pusher

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/hub"
)

// Name limits. Hosted Pusher allows 164 characters in a channel name; the
// official server SDKs and Soketi allow 200, and so does Switchboard.
const (
	MaxChannelNameLength = 200
	MaxEventNameLength   = 200
)

// Channel name prefixes.
const (
	prefixPrivate   = "private-"
	prefixPresence  = "presence-"
	prefixEncrypted = "private-encrypted-"
	prefixUser      = "#server-to-user-" // sendToUser; never subscribed to by clients
	clientPrefix    = "client-"
)

// channelKind is what a channel's prefix makes of it.
type channelKind uint8

const (
	kindPublic channelKind = iota
	kindPrivate
	kindPresence
	kindEncrypted
)

// channelType describes a channel by its name.
type channelType struct {
	kind  channelKind
	cache bool // cache-, private-cache-, presence-cache-, private-encrypted-cache-
}

// needsAuth reports whether subscribing needs a signature.
func (t channelType) needsAuth() bool { return t.kind != kindPublic }

// typeOf returns the type of a channel name.
func typeOf(name string) channelType {
	switch {
	case strings.HasPrefix(name, prefixEncrypted):
		return channelType{kindEncrypted, strings.HasPrefix(name[len(prefixEncrypted):], "cache-")}
	case strings.HasPrefix(name, prefixPrivate):
		return channelType{kindPrivate, strings.HasPrefix(name[len(prefixPrivate):], "cache-")}
	case strings.HasPrefix(name, prefixPresence):
		return channelType{kindPresence, strings.HasPrefix(name[len(prefixPresence):], "cache-")}
	}
	return channelType{kindPublic, strings.HasPrefix(name, "cache-")}
}

// channelNameProblem says what is wrong with a channel name a client may
// subscribe to or publish on, or "". Allowed: 1-200 of A-Z a-z 0-9 _ - = @ , . ;
func channelNameProblem(name string) string {
	switch {
	case name == "":
		return "channel name is empty"
	case len(name) > MaxChannelNameLength:
		return fmt.Sprintf("channel name is longer than %d characters", MaxChannelNameLength)
	}
	for i := 0; i < len(name); i++ {
		if !channelChar(name[i]) {
			return fmt.Sprintf("invalid channel name %q: use only A-Z, a-z, 0-9 and _ - = @ , . ;", truncate(name, 60))
		}
	}
	return ""
}

// restChannelProblem is channelNameProblem that also allows the
// #server-to-user-{user id} channels of sendToUser, which only the REST API
// may publish on. A user id is any non-empty string without control
// characters.
func restChannelProblem(name string) string {
	if rest, ok := strings.CutPrefix(name, prefixUser); ok {
		if rest == "" || len(rest) > MaxChannelNameLength || strings.ContainsFunc(rest, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Sprintf("invalid user channel %q", truncate(name, 60))
		}
		return ""
	}
	return channelNameProblem(name)
}

func channelChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_-=@,.;", c) >= 0
}

// eventNameProblem says what is wrong with an event name, or "".
func eventNameProblem(name string) string {
	switch {
	case name == "":
		return "event name is empty"
	case len(name) > MaxEventNameLength:
		return fmt.Sprintf("event name is longer than %d characters", MaxEventNameLength)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// socketID formats a hub subscriber id as a Pusher socket id, "hi.lo": two
// decimal numbers, as the SDKs require (^\d+\.\d+$).
func socketID(id hub.SubscriberID) string {
	b := strconv.AppendUint(make([]byte, 0, 21), uint64(id)>>32, 10)
	b = append(b, '.')
	return string(strconv.AppendUint(b, uint64(id)&0xffffffff, 10))
}

// parseSocketID is the inverse of socketID.
func parseSocketID(s string) (hub.SubscriberID, bool) {
	hi, lo, ok := strings.Cut(s, ".")
	if !ok || !digits(hi) || !digits(lo) {
		return hub.NoID, false
	}
	h, err1 := strconv.ParseUint(hi, 10, 32)
	l, err2 := strconv.ParseUint(lo, 10, 32)
	if err1 != nil || err2 != nil {
		return hub.NoID, false
	}
	return hub.SubscriberID(h<<32 | l), true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
