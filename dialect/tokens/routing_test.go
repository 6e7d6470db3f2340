package tokens

import (
	"net/http"
	"slices"
	"testing"
)

// TestRouting sends messages from a client holding "sender" to a fixed set
// of clients and checks who got each, and that the others got nothing.
func TestRouting(t *testing.T) {
	b := newBroker(t, nil)
	names := []string{"abc1", "abc1", "abc2", "abc3", "group/item1", "group/item2", "group", "groupx/1", "a/b/c", "a/", "ABC1"}
	peers := make([]*peer, len(names))
	for i, n := range names {
		peers[i] = b.dial(t, n)
	}
	sender := b.dial(t, "sender")

	tests := []struct {
		name, msg, payload string
		to                 []string // tokens of the clients that must get payload once
		self               bool     // the sender gets it too
	}{
		{"one token, two holders", "abc1|Hello", "Hello", []string{"abc1"}, false},
		{"readme example", "abc1,group/,abc3|Hello", "Hello", []string{"abc1", "abc3", "group/item1", "group/item2"}, false},
		{"group and a member once", "group/,group/item1|x", "x", []string{"group/item1", "group/item2"}, false},
		{"member before group", "group/item2,group/|x", "x", []string{"group/item1", "group/item2"}, false},
		{"nested groups once", "a/,a/b/,a/b/c|deep", "deep", []string{"a/b/c", "a/"}, false},
		{"inner group", "a/b/|deep", "deep", []string{"a/b/c"}, false},
		{"group is not a token", "group|g", "g", []string{"group"}, false},
		{"unknown token", "nobody|x", "", nil, false},
		{"unknown group", "nobody/|x", "", nil, false},
		{"empty parts", " abc2 , ,,|x", "x", []string{"abc2"}, false},
		{"bar inside the text", "abc2|a|b||c", "a|b||c", []string{"abc2"}, false},
		{"empty text", "abc2|", "", []string{"abc2"}, false},
		{"escaped text", `abc3|<b>"q" & \</b>`, `<b>"q" & \</b>`, []string{"abc3"}, false},
		{"case-sensitive", "ABC1|upper", "upper", []string{"ABC1"}, false},
		{"no echo to the sender", "abc2|x", "x", []string{"abc2"}, false},
		{"sender named", "sender,abc2|both", "both", []string{"abc2"}, true},
		{"not a substring match", "abc12,xabc1|x", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender.t = t
			setT(peers, t)
			sender.send(tt.msg)
			if tt.self {
				sender.expect(tt.payload)
			}
			sender.sync() // the message was routed
			for i, p := range peers {
				if slices.Contains(tt.to, names[i]) {
					p.expect(tt.payload)
				}
				p.sync() // and nothing else (or nothing at all) was queued
			}
		})
	}
}

func setT(peers []*peer, t *testing.T) {
	for _, p := range peers {
		p.t = t
	}
}

// TestRoutingFromAPI checks that a broadcast through the HTTP API is routed
// exactly like a client frame.
func TestRoutingFromAPI(t *testing.T) {
	b := newBroker(t, nil)
	abc1, item1, item2, zzz := b.dial(t, "abc1"), b.dial(t, "group/item1"), b.dial(t, "group/item2"), b.dial(t, "zzz")
	status, body := b.post(t, form("method", "broadcast", "message", "abc1,group/|Hello"), nil)
	if status != http.StatusOK || body != "{\"ok\":true}\n" {
		t.Fatalf("broadcast: %d %q", status, body)
	}
	for _, p := range []*peer{abc1, item1, item2} {
		if got := p.read(); got != "\"Hello\"\n" {
			t.Fatalf("got %q, want the 8 bytes \"Hello\"\\n", got)
		}
	}
	zzz.sync()
}

func TestUnregisteredClient(t *testing.T) {
	b := newBroker(t, nil)
	bare := b.dial(t, "")
	empty, _, err := b.tryDial(t, "RegisterToken=", nil) // counts as absent
	if err != nil {
		t.Fatal(err)
	}
	other := b.dial(t, "abc1")
	other.send("unregistered|to the bare")
	bare.expect("to the bare")
	empty.expect("to the bare")
	other.sync()

	// A bare client registers a token and leaves "unregistered".
	bare.send("RegisterToken:abc9")
	bare.sync()
	other.send("unregistered,abc9|after")
	bare.expect("after")
	empty.expect("after")
	other.send("unregistered|again")
	empty.expect("again")
	other.sync()
	bare.sync()
}

func TestMultipleRegisterTokenParams(t *testing.T) {
	b := newBroker(t, nil)
	p, _, err := b.tryDial(t, "RegisterToken=first&RegisterToken=second", nil)
	if err != nil {
		t.Fatal(err)
	}
	sender := b.dial(t, "s")
	sender.send("first|1")
	p.expect("1")
	sender.send("second|2")
	sender.sync()
	p.sync()
	trimmed, _, err := b.tryDial(t, "RegisterToken=%20padded%20", nil)
	if err != nil {
		t.Fatal(err)
	}
	sender.send("padded|3")
	trimmed.expect("3")
}

func TestRegisterTokenFrame(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "g/a")
	sender := b.dial(t, "sender")

	p.send("RegisterToken: g/b ") // trimmed; stays in group g/
	p.sync()
	sender.send("g/a|old")
	sender.send("g/b|new")
	sender.send("g/|group")
	sender.sync()
	p.expect("new")
	p.expect("group")
	p.sync()

	p.send("RegisterToken:x/y") // leaves g/ for x/
	p.sync()
	sender.send("g/|g")
	sender.send("x/|x")
	sender.sync()
	p.expect("x")
	p.sync()

	p.send("RegisterToken:x/y") // same token: nothing changes
	p.sync()
	sender.send("x/y|still")
	p.expect("still")
}

func TestServiceMessages(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "abc1")
	tests := []struct{ send, reply string }{
		{"Echo:hello", "hello"},
		{"Echo:a:b", "a:b"},
		{"Echo:a|b", "a|b"},
		{"Echo:", ""},
		{"Echo:<&>", "<&>"},
		{"hello", errUnknownService},
		{"", errUnknownService},
		{"echo:lower", errUnknownService},
		{"RegisterToken:", "error. token required"},
		{"RegisterToken:a,b", "error. token contains ',' or '|'"},
		{"RegisterToken:a|b", "error. token contains ',' or '|'"},
	}
	for _, tt := range tests {
		p.send(tt.send)
		p.expect(tt.reply)
	}
	// After the failed RegisterToken frames, the client still holds abc1.
	p.send("abc1|kept")
	p.expect("kept")
}

func TestTooManyRecipients(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "t0")
	list := ""
	for i := range MaxRecipients + 1 {
		list += "t" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)) + ","
	}
	p.send(list + "t0|x")
	p.expect(errTooMany)
	p.send(list[:len(list)-10] + "t0|x") // 1000 distinct entries
	p.expect("x")
}

// TestNoRecipients: a routed frame that names nobody gets an error frame
// rather than silence, and the connection stays.
func TestNoRecipients(t *testing.T) {
	b := newBroker(t, nil)
	p := b.dial(t, "t0")
	other := b.dial(t, "unregistered")
	for _, frame := range []string{"|x", ",|x", " , |x"} {
		p.send(frame)
		p.expect(errNoRecipients)
	}
	other.sync() // nobody got x
	p.send("t0|still here")
	p.expect("still here")
}
