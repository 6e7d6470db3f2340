package tokens

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Service commands a client may send instead of a routed message.
const (
	cmdRegisterToken = "RegisterToken:"
	cmdEcho          = "Echo:"
)

// Limits on what one token or one message may ask of the server.
const (
	// MaxTokenLength is the longest token accepted, in bytes.
	MaxTokenLength = 1024
	// MaxTokenDepth is the most '/' a token may contain: each one makes the
	// connection a member of one more group.
	MaxTokenDepth = 16
	// MaxRecipients is the most distinct recipients (tokens and groups) one
	// message may name.
	MaxRecipients = 1000
)

// Kind says what a client frame asks for.
type Kind int

// The kinds of client frames.
const (
	// KindRoute is "recipients|payload": deliver payload to the recipients.
	KindRoute Kind = iota
	// KindRegisterToken is "RegisterToken:token": change this connection's token.
	KindRegisterToken
	// KindEcho is "Echo:text": send text back to the sender only.
	KindEcho
	// KindUnknown is any other text: an unknown service message.
	KindUnknown
)

// Message is a parsed client frame or broadcast request.
type Message struct {
	// Kind says which of the fields below are set.
	Kind Kind
	// Recipients is the text before the first '|' (KindRoute only).
	Recipients string
	// Payload is the text after the first '|' (KindRoute), the token
	// (KindRegisterToken, trimmed) or the text to echo (KindEcho).
	Payload string
}

// ParseMessage parses the text of a client frame. The service commands
// RegisterToken: and Echo: are recognised first, as the original broker
// did, so "Echo:a|b" echoes "a|b". Otherwise a text with a '|' is a routed
// message, split at the first '|', and a text without one is KindUnknown.
func ParseMessage(text string) Message {
	switch {
	case strings.HasPrefix(text, cmdRegisterToken):
		return Message{Kind: KindRegisterToken, Payload: strings.TrimSpace(text[len(cmdRegisterToken):])}
	case strings.HasPrefix(text, cmdEcho):
		return Message{Kind: KindEcho, Payload: text[len(cmdEcho):]}
	}
	if rcpt, payload, ok := strings.Cut(text, "|"); ok {
		return Message{Kind: KindRoute, Recipients: rcpt, Payload: payload}
	}
	return Message{Kind: KindUnknown}
}

// Recipients is a recipient list reduced so that no connection is named
// twice: no token lies under a listed group, and no group under another.
type Recipients struct {
	Tokens []string // exact tokens, in first-seen order
	Groups []string // group prefixes, each ending in '/', in first-seen order
}

// Len returns the number of recipients.
func (r Recipients) Len() int { return len(r.Tokens) + len(r.Groups) }

// ParseRecipients splits a recipient list on ',', trims each entry, drops
// empty entries and duplicates, and reduces the rest (see Recipients): an
// entry ending in '/' is a group prefix, any other an exact token.
func ParseRecipients(list string) Recipients {
	var r Recipients
	if !strings.Contains(list, ",") {
		// One entry, the usual case: nothing to deduplicate or reduce, so
		// no map for it.
		switch e := strings.TrimSpace(list); {
		case e == "":
		case strings.HasSuffix(e, "/"):
			r.Groups = []string{e}
		default:
			r.Tokens = []string{e}
		}
		return r
	}
	seen := make(map[string]struct{})
	for e := range strings.SplitSeq(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if _, dup := seen[e]; dup {
			continue
		}
		seen[e] = struct{}{}
		if strings.HasSuffix(e, "/") {
			r.Groups = append(r.Groups, e)
		} else {
			r.Tokens = append(r.Tokens, e)
		}
	}
	if len(r.Groups) == 0 {
		return r
	}
	// A group is covered by a listed group that is a prefix of it ("a/"
	// covers "a/b/"); a token by any listed group it starts with. Every
	// '/'-ending prefix of a name is looked up in seen, so this costs the
	// length of the names, not groups × names.
	covered := func(name string, self bool) bool {
		for i := 0; i < len(name); i++ {
			if name[i] != '/' || (self && i == len(name)-1) {
				continue
			}
			if _, ok := seen[name[:i+1]]; ok {
				return true
			}
		}
		return false
	}
	groups := r.Groups[:0]
	for _, g := range r.Groups {
		if !covered(g, true) {
			groups = append(groups, g)
		}
	}
	tokens := r.Tokens[:0]
	for _, t := range r.Tokens {
		if !covered(t, false) {
			tokens = append(tokens, t)
		}
	}
	r.Groups, r.Tokens = groups, tokens
	return r
}

// groupsOf returns the group prefixes a token belongs to: every prefix of
// it that ends in '/', shortest first ("a/b/c" is in "a/" and "a/b/").
func groupsOf(token string) []string {
	var out []string
	for i := 0; i < len(token); i++ {
		if token[i] == '/' {
			out = append(out, token[:i+1])
		}
	}
	return out
}

// tokenProblem returns why token cannot be held, or "" if it can. A token
// is the trimmed text a client gave; it must not be empty, must fit the
// limits, and must not contain ',' or '|', which would make it impossible
// to address.
func tokenProblem(token string) string {
	switch {
	case token == "":
		return "token required"
	case len(token) > MaxTokenLength:
		return "token longer than 1024 bytes"
	case strings.Count(token, "/") > MaxTokenDepth:
		return "token with more than 16 '/'"
	case strings.ContainsAny(token, ",|"):
		return "token contains ',' or '|'"
	}
	return ""
}

// Encode returns the bytes the original broker sent for payload: payload as
// a JSON string (with Go's default escaping of <, > and &) followed by a
// newline. Invalid UTF-8 becomes U+FFFD, as it did there.
func Encode(payload string) []byte {
	var b bytes.Buffer
	b.Grow(len(payload) + 3)
	_ = json.NewEncoder(&b).Encode(payload) // a string always encodes
	return b.Bytes()
}
