package config

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// keyPositions returns where each key of the HJSON text data starts (line
// and byte column, 1-based), by key path as the decoder names them
// (joinKey, and "[i]" for list items). hjson-go keeps no positions, so
// Parse calls this for the unknown keys it reports. data has parsed; on
// anything this scanner does not expect it stops and returns what it found.
func keyPositions(data []byte) map[string][2]int {
	data = bytes.TrimPrefix(data, utf8BOM)
	k := &keyScanner{s: data, found: map[string]int{}}
	k.space()
	if k.peek() == '{' {
		k.i++
	}
	k.object("")

	// Offsets to lines and columns in one pass over data.
	paths := slices.SortedFunc(maps.Keys(k.found), func(a, b string) int { return k.found[a] - k.found[b] })
	out := make(map[string][2]int, len(paths))
	line, lineStart, at := 1, 0, 0
	for _, p := range paths {
		off := k.found[p]
		for ; at < off; at++ {
			if data[at] == '\n' {
				line, lineStart = line+1, at+1
			}
		}
		out[p] = [2]int{line, off - lineStart + 1}
	}
	return out
}

type keyScanner struct {
	s     []byte
	i     int
	found map[string]int // key path -> byte offset of the key
}

func (k *keyScanner) peek() byte {
	if k.i < len(k.s) {
		return k.s[k.i]
	}
	return 0
}

func (k *keyScanner) rest() []byte { return k.s[k.i:] }

// skip skips white space (every byte up to ' '), comments and, with
// commas, commas.
func (k *keyScanner) skip(commas bool) {
	for k.i < len(k.s) {
		r := k.rest()
		switch {
		case r[0] <= ' ' || commas && r[0] == ',': // hjson-go's white space: every control byte
			k.i++
		case r[0] == '#' || bytes.HasPrefix(r, []byte("//")):
			k.toLineEnd()
		case bytes.HasPrefix(r, []byte("/*")):
			if n := bytes.Index(r[2:], []byte("*/")); n >= 0 {
				k.i += n + 4
			} else {
				k.i = len(k.s)
			}
		default:
			return
		}
	}
}

func (k *keyScanner) space() { k.skip(false) }

func (k *keyScanner) toLineEnd() {
	if n := bytes.IndexByte(k.rest(), '\n'); n >= 0 {
		k.i += n
	} else {
		k.i = len(k.s)
	}
}

// object reads the members of an object up to its '}' or the end.
func (k *keyScanner) object(path string) bool {
	for {
		k.skip(true)
		switch k.peek() {
		case 0:
			return true
		case '}':
			k.i++
			return true
		}
		start := k.i
		name, ok := k.key()
		if !ok {
			return false
		}
		p := joinKey(path, name)
		if _, dup := k.found[p]; !dup {
			k.found[p] = start
		}
		k.space()
		if k.peek() != ':' {
			return false
		}
		k.i++
		if !k.value(p) {
			return false
		}
	}
}

// array reads the items of a list up to its ']'.
func (k *keyScanner) array(path string) bool {
	for n := 0; ; n++ {
		k.skip(true)
		switch k.peek() {
		case 0:
			return false
		case ']':
			k.i++
			return true
		}
		if !k.value(fmt.Sprintf("%s[%d]", path, n)) {
			return false
		}
	}
}

func (k *keyScanner) key() (string, bool) {
	if c := k.peek(); c == '"' || c == '\'' {
		return k.quoted()
	}
	start := k.i
	for k.i < len(k.s) && k.s[k.i] > ' ' && bytes.IndexByte([]byte(":,{}[]"), k.s[k.i]) < 0 {
		k.i++
	}
	return string(k.s[start:k.i]), k.i > start
}

func (k *keyScanner) value(path string) bool {
	k.space()
	switch c := k.peek(); {
	case c == 0:
		return false
	case c == '{':
		k.i++
		return k.object(path)
	case c == '[':
		k.i++
		return k.array(path)
	case bytes.HasPrefix(k.rest(), []byte("'''")):
		n := bytes.Index(k.s[k.i+3:], []byte("'''"))
		if n < 0 {
			return false
		}
		k.i += n + 6
		return true
	case c == '"' || c == '\'':
		_, ok := k.quoted()
		return ok
	}
	k.quoteless()
	return true
}

// quoteless reads a number, true, false or null, which may be followed by
// a comma or a closing bracket on the same line, or else a string, which
// runs to the end of the line.
func (k *keyScanner) quoteless() {
	end := bytes.IndexAny(k.rest(), ",]} \t\r\n#/")
	if end < 0 {
		end = len(k.rest())
	}
	word := string(k.rest()[:end])
	if _, err := strconv.ParseFloat(word, 64); err == nil || word == "true" || word == "false" || word == "null" {
		after := bytes.TrimLeft(k.rest()[end:], " \t")
		if len(after) == 0 || bytes.IndexByte([]byte(",]}\r\n#"), after[0]) >= 0 ||
			bytes.HasPrefix(after, []byte("//")) || bytes.HasPrefix(after, []byte("/*")) {
			k.i += end
			return
		}
	}
	k.toLineEnd()
}

// quoted reads a string in double or single quotes and returns its value.
func (k *keyScanner) quoted() (string, bool) {
	q := k.s[k.i]
	k.i++
	var b strings.Builder
	for k.i < len(k.s) {
		c := k.s[k.i]
		switch {
		case c == q:
			k.i++
			return b.String(), true
		case c == '\\' && k.i+1 < len(k.s):
			k.i += 2
			switch e := k.s[k.i-1]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if k.i+4 <= len(k.s) {
					if n, err := strconv.ParseUint(string(k.s[k.i:k.i+4]), 16, 16); err == nil {
						b.WriteRune(rune(n))
						k.i += 4
					}
				}
			default: // \" \' \\ \/
				b.WriteByte(e)
			}
		default:
			r, n := utf8.DecodeRune(k.s[k.i:])
			b.WriteRune(r)
			k.i += n
		}
	}
	return "", false
}
