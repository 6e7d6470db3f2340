package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/hjson/hjson-go/v4"
)

// decoder overlays parsed HJSON values (string, json.Number, bool, nil,
// []any, *hjson.OrderedMap) on Go values, driven by their json tags, and
// collects every problem instead of stopping at the first.
type decoder struct {
	keys  map[string]string // key path -> the spelling the file used
	seen  map[string]bool   // key paths present in the file
	errs  []*Error
	warns []Warning

	unknown []unknownKey // Parse adds their positions in the file
}

// unknownKey is an unknown key's error and its key path (see keyPositions).
type unknownKey struct {
	err  *Error
	path string
}

// unknownKeyf reports the key at path, named display, as unknown.
func (d *decoder) unknownKeyf(path, display, format string, args ...any) {
	e := &Error{Key: display, Msg: fmt.Sprintf(format, args...)}
	d.errs = append(d.errs, e)
	d.unknown = append(d.unknown, unknownKey{e, path})
}

func newDecoder() *decoder {
	return &decoder{keys: map[string]string{}, seen: map[string]bool{}}
}

func (d *decoder) failf(path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Key: displayKey(d.keys, path), Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(key, format string, args ...any) {
	d.warns = append(d.warns, Warning{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// setter is implemented by types with their own file form (Duration, TokenList).
type setter interface {
	setHJSON(d *decoder, path string, v any)
}

// value sets dst (addressable) from v. null leaves dst at its default.
func (d *decoder) value(path string, v any, dst reflect.Value) {
	if v == nil {
		return
	}
	if s, ok := dst.Addr().Interface().(setter); ok {
		s.setHJSON(d, path, v)
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		m, ok := v.(*hjson.OrderedMap)
		if !ok {
			d.failf(path, "want an object { key: value }, got %s", describe(v))
			return
		}
		d.object(path, m, dst)
	case reflect.String:
		s, ok := scalarString(v)
		if !ok {
			d.failf(path, "want a string, got %s", describe(v))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if s, isStr := v.(string); isStr {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true", "yes", "on":
				b, ok = true, true
			case "false", "no", "off":
				b, ok = false, true
			}
		}
		if !ok {
			d.failf(path, "want true or false, got %s%s", describe(v), commaHint(fmt.Sprint(v)))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := scalarString(v)
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, dst.Type().Bits())
		if !ok || err != nil {
			d.failf(path, "want a whole number, got %s%s", describe(v), commaHint(s))
			return
		}
		dst.SetInt(n)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			d.failf(path, "want a list [ ... ], got %s", describe(v))
			return
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, e := range list {
			d.value(fmt.Sprintf("%s[%d]", path, i), e, out.Index(i))
		}
		dst.Set(out)
	case reflect.Map:
		m, ok := v.(*hjson.OrderedMap)
		if !ok || dst.Type().Key().Kind() != reflect.String {
			d.failf(path, "want an object { key: value }, got %s", describe(v))
			return
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m.Keys))
		for _, k := range m.Keys {
			e := reflect.New(dst.Type().Elem()).Elem()
			d.value(joinKey(path, k), m.Map[k], e)
			out.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), e)
		}
		dst.Set(out)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", dst.Type(), path))
	}
}

// object overlays m on the struct dst; keys match json tags exactly.
func (d *decoder) object(path string, m *hjson.OrderedMap, dst reflect.Value) {
	fields := fieldsOf(dst.Type())
	for _, k := range m.Keys {
		p := joinKey(path, k)
		i, ok := fields[k]
		if !ok {
			d.unknownKeyf(p, displayKey(d.keys, p), "unknown key%s", suggest(k, sortedKeys(fields)))
			continue
		}
		d.seen[p] = true
		d.value(p, m.Map[k], dst.Field(i))
	}
}

// fieldsOf maps the json tag names of t's exported fields to their index.
func fieldsOf(t reflect.Type) map[string]int {
	out := map[string]int{}
	for _, f := range taggedFields(t) {
		out[f.name] = f.index
	}
	return out
}

// scalarString returns a string or number as text.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}

// describe shows a value in an error message, briefly.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 60 {
			v = v[:60] + "..."
		}
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case *hjson.OrderedMap:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// commaHint explains a trailing comma kept in an unquoted HJSON string.
func commaHint(s string) string {
	if strings.HasSuffix(strings.TrimSpace(s), ",") {
		return " (HJSON keeps a trailing comma as part of an unquoted value: remove the comma or quote the value)"
	}
	return ""
}

// clip shortens a key from a file for a message.
func clip(k string) string {
	if len(k) > 64 {
		return strings.ToValidUTF8(k[:60], "") + "..."
	}
	return k
}

// joinKey appends k to path, quoting k if it is not a plain word.
func joinKey(path, k string) string {
	plain := k != "" && !strings.ContainsFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	if k = clip(k); !plain {
		k = strconv.Quote(k)
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// displayKey names a key path as the file spelled it ("Port"), adding the
// modern path when a legacy key stands for it ("Crtfile (tls.cert_file)").
func displayKey(keys map[string]string, path string) string {
	s, ok := keys[path]
	switch {
	case !ok:
		return path
	case strings.EqualFold(s, path):
		return s
	}
	return s + " (" + path + ")"
}
