package atmosphere

import (
	"encoding/json"
	"testing"

	"github.com/switchboard-rt/switchboard/hub"
)

func TestCompactState(t *testing.T) {
	full := `{"source_id":10284,"gps":{"updated":"2018-10-17 12:51:43","speed":0},"connection_status":"active",
		"movement_status":"parked","movement_status_update":"2018-10-04 22:47:07","ignition":false,
		"ignition_update":"2018-10-04 22:47:07","gsm":null,"last_update":"2018-10-17 12:51:46","battery_level":null,
		"inputs":[false],"outputs":[false],"actual_track_update":"2018-10-04 22:47:07"}`
	got := string(compactState([]byte(full)))
	want := `{"source_id":10284,"gps":{"updated":"2018-10-17 12:51:43","speed":0},"connection_status":"active","movement_status":"parked","movement_status_update":"2018-10-04 22:47:07","ignition":false,"ignition_update":"2018-10-04 22:47:07","last_update":"2018-10-17 12:51:46"}`
	var g, w any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil || toJSON(g) != toJSON(w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBatchEvent(t *testing.T) {
	items := [][]byte{[]byte(`{"a":1}`), nil, []byte(`{"b":2}`)}
	if got := string(batchEvent(evStateBatch, "2024-01-02 03:04:05", items)); got != `{"type":"event","event":"state_batch","user_time":"2024-01-02 03:04:05","data":[{"a":1},{"b":2}]}` {
		t.Errorf("state_batch %s", got)
	}
	if got := string(batchEvent(evIoTMonitor, "x", items[:1])); got != `{"type":"event","event":"iot_monitor","data":{"iot_last_values":[{"a":1}]}}` {
		t.Errorf("iot_monitor %s", got)
	}
	if got := string(lifecycleEvent(123456, "block")); got != `{"type":"event","event":"lifecycle","data":{"source_id":123456,"lifecycle_event":"block"}}` {
		t.Errorf("lifecycle %s", got)
	}
}

// TestDeriveOnce checks that every subscriber of a published message gets
// the same prepared variants: computed once per node, not per subscriber.
func TestDeriveOnce(t *testing.T) {
	m := hub.NewMessage(stateEvent("2024-01-02 03:04:05", []byte(`{"source_id":1,"gsm":null}`)))
	d1, d2 := derivedOf(chState, m), derivedOf(chState, m)
	if d1 != d2 {
		t.Fatal("derived twice")
	}
	if d1.message(false, false) != m {
		t.Error("the plain full variant is not the hub's message")
	}
	if a, b := d1.message(true, true), d2.message(true, true); a != b {
		t.Error("the compact framed variant was built twice")
	}
	if got := string(d1.message(true, true).Payload()); got != `89|{"type":"event","event":"state","user_time":"2024-01-02 03:04:05","data":{"source_id":1}}` {
		t.Errorf("compact framed %s", got)
	}
}

func TestStoreBound(t *testing.T) {
	s := newStore(3)
	for id := int64(1); id <= 4; id++ {
		s.apply(updState, id, stateEvent("t", []byte(`{"source_id":9}`)))
	}
	if _, ok := s.get(1); ok || s.len() != 3 {
		t.Fatalf("the oldest was kept: len %d", s.len())
	}
	s.apply(updBlock, 2, nil) // an update makes 2 the newest
	s.apply(updState, 5, stateEvent("t", []byte(`{}`)))
	if _, ok := s.get(3); ok {
		t.Error("3 should have gone before 2")
	}
	if !s.blocked(2) {
		t.Error("2 not blocked")
	}
	if src, ok := s.sourceID(2); !ok || src != 9 {
		t.Errorf("sourceID %d %v", src, ok)
	}
	s.apply(updCorrupt, 2, nil)
	if _, ok := s.get(2); ok {
		t.Error("corrupt did not forget 2")
	}
	for _, bad := range []string{"", "s", "s\n", "sx\n{}", "s" + "99999999999999999999999\n{}"} {
		if _, _, _, err := parseStoreUpdate([]byte(bad)); err == nil {
			t.Errorf("parseStoreUpdate(%q) accepted", bad)
		}
	}
}
