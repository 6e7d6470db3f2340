package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/hjson/hjson-go/v4"
)

// minRefresh is the shortest non-zero registered_tokens_refresh, so that a
// typo ("1ms") cannot hammer the tokens URL.
const minRefresh = time.Second

// Tokens is the "tokens" section: the token-broker dialect
// (websockets_pro / saiWebSocket compatible). Most keys also have a legacy
// top-level spelling from websockets.conf, given in brackets.
type Tokens struct {
	// Enabled serves the dialect (true).
	Enabled bool `json:"enabled"`
	// Path is the WebSocket endpoint ("/ws").
	Path string `json:"path"`
	// APIPath is the form-encoded HTTP API ("/").
	APIPath string `json:"api_path"`
	// Origin is "*" to accept any WebSocket Origin, or a comma-separated list
	// of exact Origin values such as "https://example.com" ("*") [Origin].
	Origin string `json:"origin"`
	// ResponseHeaders is the Access-Control-Allow-Origin value on API
	// responses ("*"; "" sends none) [Responseheaders].
	ResponseHeaders string `json:"response_headers"`
	// AllowUnregisteredClients accepts WebSocket clients whatever their token
	// (true; false in a legacy file without the key, see Admission)
	// [AllowUnregisteredClients].
	AllowUnregisteredClients bool `json:"allow_unregistered_clients"`
	// AllowUnregisteredHTTPClients accepts HTTP pushes whatever their token
	// (false) [AllowUnregisteredHttpClients].
	AllowUnregisteredHTTPClients bool `json:"allow_unregistered_http_clients"`
	// RegisteredTokensURL returns a JSON object token -> bool to register
	// ("": none) [RegisteredTokensUrl].
	RegisteredTokensURL string `json:"registered_tokens_url"`
	// RegisteredTokensRefresh is how often that URL is fetched again (0: once at start).
	RegisteredTokensRefresh Duration `json:"registered_tokens_refresh"`
	// RegisteredTokens are registered without a URL (none).
	RegisteredTokens TokenList `json:"registered_tokens"`
	// APIKey, when set, is required on HTTP API calls; when empty the API
	// answers loopback clients only ("") [ApiKey]. It is a secret: never log it.
	APIKey string `json:"api_key"`
}

// Origins returns the allowed Origin values, or nil when any origin is allowed.
func (t Tokens) Origins() []string {
	if strings.TrimSpace(t.Origin) == "*" {
		return nil
	}
	var out []string
	for o := range strings.SplitSeq(t.Origin, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func (t *Tokens) validate(ck *checker, path string) {
	ck.urlPath(path+".path", t.Path, t.Enabled)
	ck.urlPath(path+".api_path", t.APIPath, t.Enabled)
	t.validateOrigin(ck, path+".origin")
	if strings.ContainsAny(t.ResponseHeaders, "\r\n") {
		ck.errorf(path+".response_headers", "contains a line break; give one Access-Control-Allow-Origin value such as \"*\"")
	}
	if u := t.RegisteredTokensURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			ck.errorf(path+".registered_tokens_url", "%q is not an http or https URL; use e.g. \"https://example.com/tokens.php\", or \"\" for none%s", u, commaHint(u))
		}
	}
	if r := t.RegisteredTokensRefresh; r < 0 || (r > 0 && r.Std() < minRefresh) {
		ck.errorf(path+".registered_tokens_refresh", "%s is not allowed; use 0 to fetch once at start, or at least %s", r, minRefresh)
	}
	for i, tok := range t.RegisteredTokens {
		if strings.TrimSpace(tok) == "" {
			ck.errorf(path+".registered_tokens", "entry %d is empty; remove it", i+1)
		}
	}
}

func (t *Tokens) validateOrigin(ck *checker, key string) {
	if strings.TrimSpace(t.Origin) == "*" {
		return
	}
	list := t.Origins()
	if len(list) == 0 {
		ck.errorf(key, "is empty; use \"*\" to allow any origin, or list them, e.g. \"https://example.com, http://localhost:3000\"")
	}
	for _, o := range list {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			ck.errorf(key, "%q is not an origin; write scheme://host[:port], e.g. \"https://example.com\", or \"*\" for any", o)
		}
	}
}

// TokenList is a list of tokens. In a file it is a list of strings, or an
// object token -> bool (the format RegisteredTokensUrl returns) where only
// the tokens set to true count.
type TokenList []string

func (l *TokenList) setHJSON(d *decoder, path string, v any) {
	var out TokenList
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			s, ok := scalarString(e)
			if !ok {
				d.failf(path, "entry %d: want a token string, got %s", i+1, describe(e))
				continue
			}
			out = append(out, s)
		}
	case *hjson.OrderedMap:
		for _, k := range v.Keys {
			b, ok := v.Map[k].(bool)
			if !ok {
				d.failf(joinKey(path, k), "want true or false, got %s", describe(v.Map[k]))
				continue
			}
			if b {
				out = append(out, k)
			}
		}
	default:
		d.failf(path, "want a list of tokens [\"a\", \"b\"] or an object {a: true}, got %s", describe(v))
		return
	}
	*l = out
}
