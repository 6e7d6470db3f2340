package redis

import "testing"

// TestKeySlot checks keySlot against the slots Redis gives (CLUSTER
// KEYSLOT on redis-server 7.0).
func TestKeySlot(t *testing.T) {
	for key, want := range map[string]int{
		"":                 0,
		"foo":              12182,
		"bar":              5061,
		"123456789":        12739, // CRC-16/XMODEM check value 0x31C3
		"{user1000}.a":     keySlot("user1000"),
		"foo{}{bar}":       keySlot("foo{}{bar}"), // empty first tag: the whole key
		"{switchboard:}pm": keySlot("switchboard:"),
	} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}
