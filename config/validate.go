package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"reflect"
	"strings"
)

// Validate checks every key and returns nil, or one *Error per problem,
// joined with errors.Join. Each names the key (as the file spelled it) and
// says the fix. It also checks that the TLS files exist, and that no two
// enabled endpoints share a path.
func (c *Config) Validate() error {
	return joinErrors(c.problems(), "")
}

// validator is implemented by each section; Validate finds it by itself.
type validator interface {
	validate(ck *checker, path string)
}

func (c *Config) problems() []*Error {
	ck := &checker{keys: c.keys, routes: map[string]string{}}
	if msg := hostProblem(c.Host); msg != "" {
		ck.errorf("host", "%s", msg)
	}
	if c.Port < 1 || c.Port > 65535 {
		ck.errorf("port", "%d is out of range 1-65535", c.Port)
	}
	ck.positiveDuration("shutdown_timeout", c.ShutdownTimeout)

	rv := reflect.ValueOf(c).Elem()
	for _, f := range taggedFields(rv.Type()) {
		if v, ok := rv.Field(f.index).Addr().Interface().(validator); ok {
			v.validate(ck, f.name)
		}
	}
	return ck.errs
}

// hostProblem says what is wrong with a listen host, or "".
func hostProblem(h string) string {
	if _, err := netip.ParseAddr(h); err == nil || h == "" {
		return ""
	}
	ok := !strings.ContainsFunc(h, func(r rune) bool {
		return !(r == '-' || r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	if ok {
		return ""
	}
	return fmt.Sprintf("%q is not a host name or IP address; use e.g. \"localhost\", \"0.0.0.0\" or \"::1\" (no port, no brackets)%s", h, commaHint(h))
}

// checker collects validation problems.
type checker struct {
	keys   map[string]string // key path -> the spelling the file used
	errs   []*Error
	routes map[string]string // URL path (no trailing slash) -> key that claimed it
}

// name returns a key path as the file spelled it, for messages.
func (ck *checker) name(path string) string { return displayKey(ck.keys, path) }

func (ck *checker) errorf(path, format string, args ...any) {
	ck.errs = append(ck.errs, &Error{Key: ck.name(path), Msg: fmt.Sprintf(format, args...)})
}

func (ck *checker) positive(path string, n int64, unit string) {
	if n <= 0 {
		ck.errorf(path, "%d is not allowed; use a positive number of %s", n, unit)
	}
}

func (ck *checker) positiveDuration(path string, d Duration) {
	if d <= 0 {
		ck.errorf(path, "%s is not allowed; use a positive duration such as \"10s\"", d)
	}
}

// file checks that name, if set, is a regular file. It does not open it, so
// a named pipe cannot block validation.
func (ck *checker) file(path, name string) {
	if name == "" {
		return
	}
	fi, err := os.Stat(name)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case err != nil:
		ck.errorf(path, "%q: %v; give the path of a PEM file", name, err)
	case !fi.Mode().IsRegular():
		ck.errorf(path, "%q is not a regular file; give the path of a PEM file", name)
	}
}

// urlPath checks an endpoint path and, if the endpoint is enabled, claims it.
func (ck *checker) urlPath(path, p string, enabled bool) {
	if !strings.HasPrefix(p, "/") || strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("?#{}", r)
	}) {
		ck.errorf(path, "%q is not a URL path: start it with \"/\" and leave out spaces, '?', '#', '{' and '}'%s", p, commaHint(p))
		return
	}
	if enabled {
		ck.route(path, p)
	}
}

// route claims the URL path p for the key path, reporting a clash.
func (ck *checker) route(path, p string) {
	n := strings.TrimSuffix(p, "/")
	if n == "" {
		n = "/"
	}
	if other, taken := ck.routes[n]; taken {
		ck.errorf(path, "%q is already used by %s; give each endpoint its own path", p, ck.name(other))
		return
	}
	ck.routes[n] = path
}

type taggedField struct {
	name  string
	index int
}

// taggedFields lists t's exported fields that have a json tag, in order.
func taggedFields(t reflect.Type) []taggedField {
	var out []taggedField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			out = append(out, taggedField{name, i})
		}
	}
	return out
}
