package tokens

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in   string
		want Message
	}{
		{"abc1|Hello", Message{Kind: KindRoute, Recipients: "abc1", Payload: "Hello"}},
		{"abc1,group/,abc3|Hello", Message{Kind: KindRoute, Recipients: "abc1,group/,abc3", Payload: "Hello"}},
		{"abc1|a|b||c", Message{Kind: KindRoute, Recipients: "abc1", Payload: "a|b||c"}},
		{"|Hello", Message{Kind: KindRoute, Recipients: "", Payload: "Hello"}},
		{"abc1|", Message{Kind: KindRoute, Recipients: "abc1", Payload: ""}},
		{"|", Message{Kind: KindRoute}},
		{"RegisterToken:abc1", Message{Kind: KindRegisterToken, Payload: "abc1"}},
		{"RegisterToken: abc1 ", Message{Kind: KindRegisterToken, Payload: "abc1"}},
		{"RegisterToken:a:b", Message{Kind: KindRegisterToken, Payload: "a:b"}},
		{"RegisterToken:", Message{Kind: KindRegisterToken, Payload: ""}},
		{"RegisterToken:a|b", Message{Kind: KindRegisterToken, Payload: "a|b"}},
		{"Echo:hello", Message{Kind: KindEcho, Payload: "hello"}},
		{"Echo:a:b", Message{Kind: KindEcho, Payload: "a:b"}},
		{"Echo:a|b", Message{Kind: KindEcho, Payload: "a|b"}},
		{"Echo:", Message{Kind: KindEcho, Payload: ""}},
		{"Echo: spaced ", Message{Kind: KindEcho, Payload: " spaced "}},
		{"echo:hello", Message{Kind: KindUnknown}},
		{"RegisterToken", Message{Kind: KindUnknown}},
		{"hello", Message{Kind: KindUnknown}},
		{"", Message{Kind: KindUnknown}},
	}
	for _, tt := range tests {
		if got := ParseMessage(tt.in); got != tt.want {
			t.Errorf("ParseMessage(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRecipients(t *testing.T) {
	tests := []struct {
		in             string
		tokens, groups []string
	}{
		{"abc1", []string{"abc1"}, nil},
		{"abc1,group/,abc3", []string{"abc1", "abc3"}, []string{"group/"}},
		{" abc1 , ,abc3,", []string{"abc1", "abc3"}, nil},
		{"", nil, nil},
		{",,, ,", nil, nil},
		{"abc1,abc1", []string{"abc1"}, nil},
		{"group/,group/item1", nil, []string{"group/"}},         // the token is in the group
		{"group/item1,group/", nil, []string{"group/"}},         // whatever the order
		{"a/,a/b/,a/b/c", nil, []string{"a/"}},                  // nested groups
		{"a/b/,a/,x", []string{"x"}, []string{"a/"}},            // the shorter group covers
		{"a/b/,a/c/", nil, []string{"a/b/", "a/c/"}},            // disjoint groups stay
		{"group,group/", []string{"group"}, []string{"group/"}}, // "group" is not in "group/"
		{"groupx/1,group/", []string{"groupx/1"}, []string{"group/"}},
		{"/,a", []string{"a"}, []string{"/"}},
		{"/,/a", nil, []string{"/"}},
		{"ABC,abc", []string{"ABC", "abc"}, nil}, // case-sensitive
	}
	for _, tt := range tests {
		got := ParseRecipients(tt.in)
		if !slices.Equal(got.Tokens, tt.tokens) || !slices.Equal(got.Groups, tt.groups) {
			t.Errorf("ParseRecipients(%q) = %q %q, want %q %q", tt.in, got.Tokens, got.Groups, tt.tokens, tt.groups)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hello", "\"Hello\"\n"},
		{"", "\"\"\n"},
		{`say "hi" \ now`, `"say \"hi\" \\ now"` + "\n"},
		{"<b>&</b>", `"\u003cb\u003e\u0026\u003c/b\u003e"` + "\n"},
		{"line\nbreak\ttab", `"line\nbreak\ttab"` + "\n"},
		{"\u2028", `"\u2028"` + "\n"},
		{"é ✓", "\"é ✓\"\n"},
		{"bad\xff", `"bad\ufffd"` + "\n"},
	}
	for _, tt := range tests {
		if got := string(Encode(tt.in)); got != tt.want {
			t.Errorf("Encode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGroupsOf(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"abc1", nil},
		{"group/item1", []string{"group/"}},
		{"a/b/c", []string{"a/", "a/b/"}},
		{"a/b/", []string{"a/", "a/b/"}},
		{"/x", []string{"/"}},
	}
	for _, tt := range tests {
		if got := groupsOf(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("groupsOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTokenProblem(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"abc1", true},
		{"group/item1", true},
		{strings.Repeat("x", MaxTokenLength), true},
		{strings.Repeat("a/", MaxTokenDepth), true},
		{"", false},
		{strings.Repeat("x", MaxTokenLength+1), false},
		{strings.Repeat("a/", MaxTokenDepth+1), false},
		{"a,b", false},
		{"a|b", false},
	}
	for _, tt := range tests {
		if p := tokenProblem(tt.in); (p == "") != tt.ok {
			t.Errorf("tokenProblem(%.20q) = %q, want ok=%v", tt.in, p, tt.ok)
		}
	}
}

// FuzzParseMessage checks the parsers' invariants on any input: the split
// is at the first '|', recipients are trimmed, non-empty, unique and
// reduced, and Encode always yields a JSON string and a newline.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"abc1,group/,abc3|Hello", "RegisterToken:abc1", "Echo:a:b", "|", "a/,a/b/,a/b/c|x|y", "hello", " , |\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m := ParseMessage(in)
		switch m.Kind {
		case KindRoute:
			if m.Recipients+"|"+m.Payload != in || strings.Contains(m.Recipients, "|") {
				t.Fatalf("route split of %q: %q | %q", in, m.Recipients, m.Payload)
			}
			r := ParseRecipients(m.Recipients)
			checkRecipients(t, r)
		case KindRegisterToken:
			if !strings.HasPrefix(in, cmdRegisterToken) || m.Payload != strings.TrimSpace(m.Payload) {
				t.Fatalf("register of %q: %q", in, m.Payload)
			}
		case KindEcho:
			if cmdEcho+m.Payload != in {
				t.Fatalf("echo of %q: %q", in, m.Payload)
			}
		case KindUnknown:
			if strings.Contains(in, "|") || strings.HasPrefix(in, cmdEcho) || strings.HasPrefix(in, cmdRegisterToken) {
				t.Fatalf("%q parsed as unknown", in)
			}
		}
		enc := Encode(in)
		var back string
		if enc[len(enc)-1] != '\n' || json.Unmarshal(enc, &back) != nil {
			t.Fatalf("Encode(%q) = %q", in, enc)
		}
		if utf8.ValidString(in) && back != in {
			t.Fatalf("Encode(%q) decodes to %q", in, back)
		}
	})
}

func checkRecipients(t *testing.T, r Recipients) {
	t.Helper()
	all := append(slices.Clone(r.Tokens), r.Groups...)
	seen := map[string]bool{}
	for _, e := range all {
		if e == "" || e != strings.TrimSpace(e) || strings.Contains(e, ",") || seen[e] {
			t.Fatalf("bad recipient %q in %q", e, all)
		}
		seen[e] = true
	}
	for _, tok := range r.Tokens {
		if strings.HasSuffix(tok, "/") {
			t.Fatalf("token %q ends in '/'", tok)
		}
	}
	for _, g := range r.Groups {
		if !strings.HasSuffix(g, "/") {
			t.Fatalf("group %q does not end in '/'", g)
		}
		for _, e := range all {
			if e != g && strings.HasPrefix(e, g) {
				t.Fatalf("%q is under group %q: would be delivered twice", e, g)
			}
		}
	}
}
