package ws

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// compressThreshold is the smallest payload worth compressing; smaller
// messages are sent as they are even on a deflate connection (RFC 7692 lets
// each message choose).
const compressThreshold = 128

// deflateTail is the empty stored block that RFC 7692 section 7.2.1 strips
// from every compressed message and section 7.2.2 appends before inflating.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate compresses p as one permessage-deflate message with no context
// takeover.
func deflate(p []byte) []byte {
	var buf bytes.Buffer
	w := flateWriters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(p) // writes to a bytes.Buffer cannot fail
	_ = w.Flush()
	flateWriters.Put(w)
	return bytes.TrimSuffix(buf.Bytes(), deflateTail)
}

// inflate decompresses one permessage-deflate message, refusing output over
// limit bytes (limit < 0: no limit).
func inflate(p []byte, limit int64) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	defer r.Close()
	var src io.Reader = r
	if limit >= 0 {
		src = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(src)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if limit >= 0 && int64(len(out)) > limit {
		return nil, ErrMessageTooBig
	}
	return out, nil
}
