package loadgen

import (
	"testing"
	"time"
)

// The acknowledgements follow the SDK's defaults: ackDelay after the first
// delivery, and no sooner than ackInterval after the last one.
func TestAckDueAt(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		name string
		last time.Time // zero: never acknowledged
		want time.Time
	}{
		{"first", time.Time{}, now.Add(ackDelay)},
		{"long ago", now.Add(-time.Second), now.Add(ackDelay)},
		{"just now", now.Add(-10 * time.Millisecond), now.Add(ackInterval - 10*time.Millisecond)},
		{"interval ago, less the delay", now.Add(ackDelay - ackInterval), now.Add(ackDelay)},
	}
	for _, c := range cases {
		var last int64
		if !c.last.IsZero() {
			last = c.last.UnixNano()
		}
		if got := ackDueAt(now, last); !got.Equal(c.want) {
			t.Errorf("%s: due %v after now, want %v", c.name, got.Sub(now), c.want.Sub(now))
		}
	}
}
