package config

import (
	"reflect"
	"strings"
)

// legacyKey is a top-level key of the legacy token-broker websockets.conf
// that has a modern name. Host and Port need no entry: they are the modern
// host and port, as top-level keys ignore case.
type legacyKey struct {
	name   string                               // the documented spelling
	modern string                               // the key path it stands for; "" if unsupported
	set    func(d *decoder, path string, v any) // decodes v into c
}

// legacyKeys returns the legacy keys by lower-case name, bound to c.
func (c *Config) legacyKeys() map[string]legacyKey {
	str := func(dst *string) func(*decoder, string, any) {
		return func(d *decoder, path string, v any) { d.value(path, v, reflect.ValueOf(dst).Elem()) }
	}
	flag := func(dst *bool) func(*decoder, string, any) {
		return func(d *decoder, path string, v any) {
			if v == nil { // null keeps the default, as for every key
				return
			}
			if b, ok := legacyBool(v); ok {
				*dst = b
			} else {
				d.failf(path, "want \"yes\" or \"no\", got %s", describe(v))
			}
		}
	}
	t := &c.Tokens
	return map[string]legacyKey{
		"origin":                       {"Origin", "tokens.origin", str(&t.Origin)},
		"responseheaders":              {"Responseheaders", "tokens.response_headers", str(&t.ResponseHeaders)},
		"allowunregisteredclients":     {"AllowUnregisteredClients", "tokens.allow_unregistered_clients", flag(&t.AllowUnregisteredClients)},
		"allowunregisteredhttpclients": {"AllowUnregisteredHttpClients", "tokens.allow_unregistered_http_clients", flag(&t.AllowUnregisteredHTTPClients)},
		"registeredtokensurl":          {"RegisteredTokensUrl", "tokens.registered_tokens_url", str(&t.RegisteredTokensURL)},
		"apikey":                       {"ApiKey", "tokens.api_key", str(&t.APIKey)},
		"crtfile":                      {"Crtfile", "tls.cert_file", str(&c.TLS.CertFile)},
		"keyfile":                      {"Keyfile", "tls.key_file", str(&c.TLS.KeyFile)},
		"autotls":                      {"AutoTLS", "", nil},
	}
}

func legacyNames(m map[string]legacyKey) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k].name)
	}
	return out
}

// decodeLegacy applies the legacy key k, as spelled in the file.
func (c *Config) decodeLegacy(d *decoder, k string, v any, l legacyKey) {
	v = d.trimComma(k, v)
	if l.modern == "" { // AutoTLS
		if on, _ := legacyBool(v); on {
			d.warnf(k, "self-signed certificates are not supported, so this is ignored; set tls.cert_file and tls.key_file to serve TLS")
		} else {
			d.warnf(k, "not supported and ignored; remove it")
		}
		return
	}
	if d.seen[l.modern] {
		d.errs = append(d.errs, &Error{Key: k, Msg: l.modern + " is also set and means the same; keep only one (" + l.modern + " is the current name)"})
		return
	}
	d.keys[l.modern] = k
	d.seen[l.modern] = true
	l.set(d, l.modern, v)
}

// legacyBool reads a legacy boolean: yes, true or 1 (quoted or not, any
// case) is true and any other value false; only a list or an object is not ok.
func legacyBool(v any) (value, ok bool) {
	if b, isBool := v.(bool); isBool {
		return b, true
	}
	s, ok := scalarString(v)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "1":
		return true, true
	}
	return false, true
}

// trimComma removes a trailing comma from an unquoted legacy value, which
// the legacy (YAML) loader dropped but HJSON keeps ("yes," would be false).
// The warning does not repeat the value: it may be a secret.
func (d *decoder) trimComma(k string, v any) any {
	s, ok := v.(string)
	if t := strings.TrimSpace(s); ok && strings.HasSuffix(t, ",") {
		d.warnf(k, "the value ends with a comma, which HJSON would keep; read without it (quote the value or remove the comma)")
		return strings.TrimSpace(strings.TrimSuffix(t, ","))
	}
	return v
}
