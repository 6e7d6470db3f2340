package atmosphere

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// batchIDs returns the source_ids (state) or tracker_ids (readings, IoT)
// of a batch event, in order.
func batchIDs(t *testing.T, ev map[string]any, key string) []float64 {
	t.Helper()
	items, ok := ev["data"].([]any)
	if ev["event"] == "iot_monitor" {
		items, ok = get(ev, "data", "iot_last_values").([]any)
	}
	if !ok {
		t.Fatalf("not a batch: %v", ev)
	}
	var out []float64
	for _, it := range items {
		out = append(out, it.(map[string]any)[key].(float64))
	}
	return out
}

func TestStateBatchRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("state", `[`+stateBody(1, 1)+`,`+stateBody(2, 1)+`]`)
	c := e.dial("")
	resp := c.subscribe(e.login("alice", alicePassword), `[{"type":"state_batch","target":{"type":"selected","tracker_ids":[1,2,3]},"rate_limit":"5s","format":"compact"}]`)
	if get(resp, "data", "state_batch", "value", "3") != "normal" {
		t.Fatalf("response %v", resp)
	}
	// Right after subscribing: one batch with the current states.
	ev := c.nextJSON()
	if ev["event"] != "state_batch" || ev["user_time"] != "2024-05-17 10:00:00" {
		t.Fatalf("initial batch %v", ev)
	}
	if ids := batchIDs(t, ev, "source_id"); len(ids) != 2 || ids[0] != 1001 || ids[1] != 1002 {
		t.Fatalf("initial batch items %v", ids)
	}
	if _, full := ev["data"].([]any)[0].(map[string]any)["battery_level"]; full {
		t.Error("compact format kept battery_level")
	}

	// Changes within the rate limit wait; the latest value wins and only
	// changed trackers are sent.
	e.publish("state", stateBody(2, 5))
	e.tick(time.Second)
	e.publish("state", stateBody(2, 6))
	e.publish("state", stateBody(3, 7))
	e.tick(time.Second)
	e.tick(2 * time.Second) // 4 s since the initial batch
	c.quiet()
	e.tick(time.Second) // 5 s
	ev = c.nextJSON()
	if ids := batchIDs(t, ev, "source_id"); len(ids) != 2 || ids[0] != 1002 || ids[1] != 1003 {
		t.Fatalf("batch items %v", ids)
	}
	if speed := ev["data"].([]any)[0].(map[string]any)["gps"].(map[string]any)["speed"]; speed != 6.0 {
		t.Errorf("tracker 2 speed %v, want the latest, 6", speed)
	}
	if ev["user_time"] != "2024-05-17 10:00:05" {
		t.Errorf("user_time %v", ev["user_time"])
	}
	// Nothing changed: nothing sent.
	e.tick(10 * time.Second)
	c.quiet()
	// A change after a long quiet period goes out at the next tick.
	e.publish("state", stateBody(1, 9))
	e.tick(50 * time.Millisecond)
	if ids := batchIDs(t, c.nextJSON(), "source_id"); len(ids) != 1 || ids[0] != 1001 {
		t.Fatalf("batch items %v", ids)
	}
	// Unsubscribed trackers stop, pending items included.
	e.publish("state", stateBody(1, 10))
	e.publish("state", stateBody(2, 10))
	c.send(`{"action":"unsubscribe","hash":"` + testKey + `","requests":[{"type":"state_batch","target":{"type":"selected","tracker_ids":[1]}}]}`)
	if r := c.nextJSON(); get(r, "data", "state_batch", "value", "1") != "normal" {
		t.Fatalf("unsubscribe response %v", r)
	}
	e.tick(5 * time.Second)
	if ids := batchIDs(t, c.nextJSON(), "source_id"); len(ids) != 1 || ids[0] != 1002 {
		t.Fatalf("batch items %v", ids)
	}
}

func TestBatchesAndStateTogether(t *testing.T) {
	e := newEnv(t, nil)
	hash := e.login("alice", alicePassword)
	c := e.dial("")
	resp := c.subscribe(hash, `[{"type":"state","trackers":[1]},{"type":"state_batch","target":{"type":"all"},"rate_limit":"1s"}]`)
	if ev := resp["events"].([]any); len(ev) != 2 || ev[0] != "state" || ev[1] != "state_batch" {
		t.Fatalf("events %v", ev)
	}
	// The server sends the current data after the response, so a publish
	// made as soon as the response arrives may also be sent as current
	// data. A second action's response says the subscribe is complete.
	c.send(`{"action":"unsubscribe","hash":"` + hash + `","requests":[{"type":"readings_batch","target":{"type":"all"}}]}`)
	if r := c.nextJSON(); r["type"] != "response" {
		t.Fatalf("got %v, want the response to the no-op unsubscribe", r)
	}
	e.publish("state", stateBody(1, 1))
	if ev := c.nextJSON(); ev["event"] != "state" {
		t.Fatalf("got %v", ev)
	}
	e.tick(time.Second)
	if ev := c.nextJSON(); ev["event"] != "state_batch" {
		t.Fatalf("got %v", ev)
	}
	// Dropping state keeps state_batch (one hub channel serves both).
	c.send(`{"action":"unsubscribe","hash":"` + hash + `","requests":[{"type":"state","trackers":[1]}]}`)
	_ = c.nextJSON()
	e.publish("state", stateBody(1, 2))
	e.tick(time.Second)
	if ev := c.nextJSON(); ev["event"] != "state_batch" {
		t.Fatalf("got %v", ev)
	}
	c.send(`{"action":"unsubscribe","hash":"` + hash + `","requests":[{"type":"state_batch","target":{"type":"all"}}]}`)
	_ = c.nextJSON()
	if n := e.hub.SubscriberCount(channelName(chState, 1)); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	if n := e.hub.SubscriberCount(channelName(chLifecycle, 1)); n != 0 {
		t.Errorf("%d lifecycle subscribers left", n)
	}
}

func TestReadingsBatch(t *testing.T) {
	e := newEnv(t, nil)
	readings := `{"tracker_id":1,"data":{"inputs":[
		{"sensor_id":10,"type":"temperature","value":21.5,"composite_sensor_ids":[11]},
		{"sensor_id":11,"type":"temperature","value":20},
		{"sensor_id":12,"type":"fuel","value":5}],
		"states":[{"field":"obd_mil_status","value":1}],"counters":[{"type":"odometer","value":3}]}}`
	e.publish("readings", readings)
	hash := e.login("alice", alicePassword)
	all, temp := e.dial(""), e.dial("")
	all.subscribe(hash, `[{"type":"readings_batch","target":{"type":"all"},"rate_limit":"2s"}]`)
	temp.subscribe(hash, `[{"type":"readings_batch","target":{"type":"selected","tracker_ids":[1]},"sensor_type":"temperature","include_components":false}]`)
	ev := all.nextJSON()
	if ev["event"] != "readings_batch" {
		t.Fatalf("got %v", ev)
	}
	item := ev["data"].([]any)[0].(map[string]any)
	if item["tracker_id"] != 1.0 || len(item["inputs"].([]any)) != 3 || item["states"] == nil || item["counters"] == nil {
		t.Fatalf("unfiltered item %v", item)
	}
	item = temp.nextJSON()["data"].([]any)[0].(map[string]any)
	inputs := item["inputs"].([]any)
	if len(inputs) != 1 || inputs[0].(map[string]any)["sensor_id"] != 10.0 || item["states"] != nil || item["counters"] != nil {
		t.Fatalf("filtered item %v", item)
	}
	e.publish("readings", `{"tracker_id":2,"data":{"inputs":[]}}`)
	e.tick(time.Second)
	temp.quiet() // tracker 2 is not temp's
	all.quiet()  // 2 s rate limit
	e.tick(time.Second)
	if ids := batchIDs(t, all.nextJSON(), "tracker_id"); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("batch %v", ids)
	}
}

func TestIoTMonitor(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("iot", `{"tracker_id":1,"msg_time":"2025-02-11T15:12:52Z","srv_time":"2025-02-11T15:12:53Z","fields":{"speed":48,"lls":"262.9"}}`)
	e.publish("iot", `{"tracker_id":1,"msg_time":"2025-02-11T15:12:58Z","srv_time":"2025-02-11T15:12:58Z","fields":{"speed":43,"lls":null}}`)
	c := e.dial("")
	c.subscribe(e.login("alice", alicePassword), `[{"type":"iot_monitor","target":{"type":"selected","tracker_ids":[1,2]},"rate_limit":"5s"}]`)
	ev := c.nextJSON()
	vals := get(ev, "data", "iot_last_values").([]any)
	entry := vals[0].(map[string]any)
	if entry["tracker_id"] != 1.0 {
		t.Fatalf("entry %v", entry)
	}
	speed := get(entry, "nonnull_fields", "speed").([]any)
	if len(speed) != 2 || speed[0].(map[string]any)["value"] != 43.0 || speed[1].(map[string]any)["value"] != 48.0 {
		t.Errorf("speed, newest first: %v", speed)
	}
	if lls := get(entry, "nonnull_fields", "lls").([]any); len(lls) != 1 {
		t.Errorf("nonnull lls %v", lls)
	}
	if lls := get(entry, "all_fields", "lls").([]any); len(lls) != 2 || lls[0].(map[string]any)["value"] != nil {
		t.Errorf("all lls %v", lls)
	}
	// Queues keep 12 messages.
	for i := range 20 {
		e.publish("iot", `{"tracker_id":2,"msg_time":"2025-02-11T15:13:`+twoDigits(i)+`Z","fields":{"speed":`+strconv.Itoa(i)+`}}`)
	}
	e.tick(5 * time.Second)
	entry = get(c.nextJSON(), "data", "iot_last_values").([]any)[0].(map[string]any)
	speed = get(entry, "all_fields", "speed").([]any)
	if entry["tracker_id"] != 2.0 || len(speed) != iotDepth || speed[0].(map[string]any)["value"] != 19.0 {
		t.Errorf("tracker 2 entry %v", entry)
	}
	// The whole entry may also be published as it is.
	e.publish("iot", `{"tracker_id":1,"data":{"nonnull_fields":{},"all_fields":{"x":[]}}}`)
	e.tick(5 * time.Second)
	entry = get(c.nextJSON(), "data", "iot_last_values").([]any)[0].(map[string]any)
	if entry["tracker_id"] != 1.0 || get(entry, "all_fields", "x") == nil {
		t.Errorf("entry %v", entry)
	}
}

func twoDigits(i int) string { return fmt.Sprintf("%02d", i) }
