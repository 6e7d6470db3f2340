package pusher

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// signedQueryRef is the QUERY part of a REST signature computed the
// straightforward way, from url.ParseQuery: the reference the allocation-free
// parseParams and appendSigned must agree with.
func signedQueryRef(q url.Values) string {
	var pairs [][2]string
	for k, vs := range q {
		if k == "auth_signature" {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, [2]string{strings.ToLower(k), v})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, "&")
}

func TestParseParamsMatchesParseQuery(t *testing.T) {
	queries := []string{
		"",
		"auth_key=k&auth_timestamp=1&auth_version=1.0&body_md5=abc&auth_signature=ff",
		"b=2&a=1&a=0&A=3&&x&=v&auth_signature=s",
		"Auth_Key=K&auth_key=k2&auth_key=k1",
		"name=a%20b&info=user_count%2Csubscription_count",
		"a=1+2&b=%zz",
		"a=1;b=2&c=3",
		"k=v=w&k=",
		strings.Repeat("p=1&", 20) + "q=2", // more than the in-place buffer holds
	}
	for _, query := range queries {
		want, wantErr := url.ParseQuery(query)
		var buf [16]param
		got, err := parseParams(buf[:0], query)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, url.ParseQuery's %v", query, err, wantErr)
			continue
		}
		if err != nil {
			if err.Error() != wantErr.Error() {
				t.Errorf("%q: error %q, want %q", query, err, wantErr)
			}
			continue
		}
		for k := range want {
			if g, w := got.get(k), want.Get(k); g != w {
				t.Errorf("%q: get(%q) = %q, want %q", query, k, g, w)
			}
		}
		if g := got.get("missing"); g != "" {
			t.Errorf("%q: get(missing) = %q", query, g)
		}
		if g, w := string(got.appendSigned(nil)), signedQueryRef(want); g != w {
			t.Errorf("%q: signed query %q, want %q", query, g, w)
		}
	}
}

func TestHexEqualFold(t *testing.T) {
	sum := md5.Sum([]byte(`{"name":"e"}`))
	h := hex.EncodeToString(sum[:])
	for _, s := range []string{h, strings.ToUpper(h), h[:31], h + "0", "", strings.Repeat("g", 32), h[:30] + "\u212a"} {
		if got, want := hexEqualFold(s, sum[:]), strings.EqualFold(s, h); got != want {
			t.Errorf("hexEqualFold(%q) = %v, strings.EqualFold says %v", s, got, want)
		}
	}
}

func TestDataStringMatchesUnmarshal(t *testing.T) {
	for _, data := range []string{`""`, `"plain text: 1,2 {x}"`, `"a\"b"`, `"tab\there"`, `"caf\u00e9"`, `"café"`, "\"\xff\"", `{"a":1}`, `"x"`} {
		var want string
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			want = data
		}
		if got := (Event{Data: json.RawMessage(data)}).DataString(); got != want {
			t.Errorf("DataString(%s) = %q, want %q", data, got, want)
		}
	}
}
