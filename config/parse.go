package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hjson/hjson-go/v4"
)

// Load reads the file at path and returns Parse's result. A missing file is
// an error that matches fs.ErrNotExist; with no file, use Default.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse starts from Default, overlays the HJSON text data (read from the
// file called name, used in messages and to recognise a legacy
// websockets.conf, see Admission), and validates the result.
// On error the Config is nil and the error joins one *Error per problem:
// syntax errors, then unknown keys with their line and column, bad values
// and invalid settings. Warnings are on the returned Config.
func Parse(data []byte, name string) (*Config, error) {
	root, perr := parseHJSON(data)
	if perr != nil {
		perr.File = name
		return nil, perr
	}
	c := Default()
	d := newDecoder()
	c.decode(d, root)
	c.admission = decideAdmission(d, root, name, c.Tokens.AllowUnregisteredClients)
	c.Tokens.AllowUnregisteredClients = c.admission.Open
	if len(d.unknown) > 0 {
		pos := keyPositions(data)
		for _, u := range d.unknown {
			if p, ok := pos[u.path]; ok {
				u.err.Line, u.err.Column = p[0], p[1]
			}
		}
	}
	c.warnings = d.warns
	if len(d.keys) > 0 {
		c.keys = d.keys
	}
	if errs := append(d.errs, c.problems()...); len(errs) > 0 {
		return nil, joinErrors(errs, name)
	}
	return c, nil
}

// decode overlays the top level of a file on c. Top-level keys ignore case,
// so the legacy Host and Port are host and port; legacy keys are decoded
// after the modern ones so that a key given both ways is reported.
func (c *Config) decode(d *decoder, root *hjson.OrderedMap) {
	rv := reflect.ValueOf(c).Elem()
	fields := fieldsOf(rv.Type())
	legacy := c.legacyKeys()
	first := map[string]string{} // lower-case key -> spelling first seen
	var legacyFound []string
	for _, k := range root.Keys {
		lk := strings.ToLower(k)
		if prev, dup := first[lk]; dup {
			d.errs = append(d.errs, &Error{Key: clip(k), Msg: "same key as " + clip(prev) + " (keys at the top level ignore case); keep one"})
			continue
		}
		first[lk] = k
		v := root.Map[k]
		i, modern := fields[lk]
		switch _, old := legacy[lk]; {
		case modern:
			if k != lk {
				d.keys[lk] = k
			}
			if lk == "host" || lk == "port" { // also legacy keys
				v = d.trimComma(k, v)
			}
			d.seen[lk] = true
			d.value(lk, v, rv.Field(i))
		case old:
			legacyFound = append(legacyFound, k)
		default:
			d.unknownKeyf(joinKey("", k), clip(k), "unknown key%s", suggest(k, append(sortedKeys(fields), legacyNames(legacy)...)))
		}
	}
	for _, k := range legacyFound {
		c.decodeLegacy(d, k, root.Map[k], legacy[strings.ToLower(k)])
	}
}

var utf8BOM = []byte("\xef\xbb\xbf")

// parseHJSON parses data, which must hold an object (braces optional).
func parseHJSON(data []byte) (*hjson.OrderedMap, *Error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		line, col := position(data, i)
		return nil, &Error{Line: line, Column: col, Msg: "not valid UTF-8; save the file as UTF-8"}
	}
	// hjson-go counts lines one short when the text starts with a line break,
	// and columns one short on the first line; a leading line break makes
	// both right (tested).
	text, lineFix := append([]byte("\n"), data...), 0
	first, open := firstToken(data)
	switch {
	case open:
		line, col := position(data, first)
		return nil, &Error{Line: line, Column: col, Msg: "this /* comment is never closed with */"}
	case first == len(data): // nothing but white space and comments
		return &hjson.OrderedMap{}, nil
	case data[first] == '{':
	case data[first] == '[' || !bytes.ContainsRune(data, ':'):
		return nil, &Error{Msg: notObject}
	default:
		// Braces are optional at the top level, but on a syntax error hjson-go
		// then reads the whole text as one string and loses the real error.
		// Adding the braces keeps it; "{" puts each line one further down.
		text, lineFix = append(append([]byte("{\n"), data...), "\n}"...), -1
	}
	var root hjson.OrderedMap
	err := hjson.UnmarshalWithOptions(text, &root, hjson.DecoderOptions{UseJSONNumber: true, DisallowDuplicateKeys: true})
	if err != nil {
		return nil, syntaxError(err.Error(), data, lineFix)
	}
	return &root, nil
}

const notObject = "the file must hold an object of keys and values, such as { port: 8000 }"

// firstToken returns the index of the first byte of data that is not white
// space or in a comment (len(data) if none), and whether a "/*" comment
// starting there is left open.
func firstToken(data []byte) (i int, open bool) {
	for i < len(data) {
		rest := data[i:]
		switch {
		case rest[0] <= ' ':
			i++
		case rest[0] == '#' || bytes.HasPrefix(rest, []byte("//")):
			if n := bytes.IndexByte(rest, '\n'); n >= 0 {
				i += n + 1
			} else {
				i = len(data)
			}
		case bytes.HasPrefix(rest, []byte("/*")):
			n := bytes.Index(rest[2:], []byte("*/"))
			if n < 0 {
				return i, true
			}
			i += n + 4
		default:
			return i, false
		}
	}
	return i, false
}

// position returns the 1-based line and byte column of data[i].
func position(data []byte, i int) (line, col int) {
	return bytes.Count(data[:i], []byte("\n")) + 1, i - (bytes.LastIndexByte(data[:i], '\n') + 1) + 1
}

// syntaxError turns hjson-go's "message at line L,C >>> sample" into an
// Error positioned in data. lineFix corrects for text added before data.
func syntaxError(msg string, data []byte, lineFix int) *Error {
	e := &Error{Msg: msg}
	if head, tail, ok := strings.Cut(msg, " at line "); ok {
		pos, _, _ := strings.Cut(tail, " >>> ")
		l, c, _ := strings.Cut(pos, ",")
		line, err1 := strconv.Atoi(l)
		col, err2 := strconv.Atoi(c)
		if err1 == nil && err2 == nil && line > 0 {
			e.Msg, e.Line, e.Column = head, line+lineFix, col
		}
	}
	switch {
	case strings.HasPrefix(e.Msg, "Found duplicate values"):
		// The original quotes both values, which may be secrets.
		key := e.Msg[strings.LastIndex(e.Msg, " for key '")+len(" for key '"):]
		e.Msg = fmt.Sprintf("key %q is set twice (the second time just before here); keep one", strings.TrimSuffix(key, "'"))
	case strings.HasPrefix(e.Msg, "Cannot unmarshal into"):
		return &Error{Msg: notObject}
	}

	lines := bytes.Split(data, []byte("\n"))
	width := func(line int) int { return len(bytes.TrimSuffix(lines[line-1], []byte("\r"))) + 1 }
	if e.Line > 1 && e.Column == 0 { // at a line break: the end of the line before
		e.Line--
		e.Column = width(e.Line)
	}
	if e.Line > len(lines) { // in the closing brace parseHJSON added
		e.Msg = "End of input inside a list or object (did you forget a closing ']' or '}'?)"
	}
	if e.Line < 1 || e.Line > len(lines) { // hjson-go gives no position at the end
		e.Line = len(lines)
		e.Column = width(e.Line)
	}
	return e
}

// joinErrors sets file on each problem and joins them; nil when there are none.
func joinErrors(errs []*Error, file string) error {
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		e.File = file
		out[i] = e
	}
	return errors.Join(out...)
}
