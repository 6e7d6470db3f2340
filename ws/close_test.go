package ws

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// The connection's Context ends with the way the connection ended: a
// *CloseError with the code and reason OnClose got.
func TestContextCauseIsCloseError(t *testing.T) {
	ts := newTestServer(t, Options{}, false)
	c := dialRaw(t, ts.url, nil)
	conn := <-ts.conns
	ctx := conn.Context()
	c.send(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	e := ts.next(t, "close")
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end")
	}
	var ce *CloseError
	if !errors.As(context.Cause(ctx), &ce) || int(ce.Code) != e.code || ce.Reason != e.reason {
		t.Fatalf("cause %v, OnClose got %d %q", context.Cause(ctx), e.code, e.reason)
	}
	if got := CloseStatus(context.Cause(ctx)); got != StatusNormalClosure {
		t.Errorf("CloseStatus = %d, want 1000", got)
	}
	if got := CloseStatus(context.Cause(conn.Context())); got != StatusNormalClosure {
		t.Errorf("a Context asked for after the close: CloseStatus = %d", got)
	}
}
