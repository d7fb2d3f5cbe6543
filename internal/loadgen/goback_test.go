package loadgen

import (
	"testing"
	"time"
)

func TestSendIDRoundTrip(t *testing.T) {
	for _, c := range [][3]int{{0, 0, 0}, {3, 7, 41}, {0x3fff, 0xffff, 1<<32 - 2}} {
		id := sendID(c[0], c[1], c[2])
		if id >= ackIDBase {
			t.Fatalf("sendID%v = %#x, in the ack range", c, id)
		}
		if s, e, i := parseSendID(id); s != c[0] || e != c[1] || i != c[2] {
			t.Fatalf("parseSendID(sendID%v) = %d, %d, %d", c, s, e, i)
		}
	}
}

// TestGoBack: the first overload refusal of an epoch sends the sender back;
// the refusals behind it, and those of earlier epochs, do not.
func TestGoBack(t *testing.T) {
	g := newGoBack()
	if _, _, ok := g.take(); ok {
		t.Fatal("take before any refusal")
	}
	if !g.refused(0, 5, 20*time.Millisecond) {
		t.Fatal("first refusal ignored")
	}
	if g.refused(0, 6, time.Millisecond) {
		t.Fatal("a refusal behind the first one sent the sender back")
	}
	idx, after, ok := g.take()
	if !ok || idx != 5 || after != 20*time.Millisecond || g.current() != 1 {
		t.Fatalf("take = %d, %v, %v (epoch %d), want 5, 20ms in epoch 1", idx, after, ok, g.current())
	}
	if g.refused(0, 7, time.Millisecond) {
		t.Fatal("a refusal from before the go-back counted")
	}
	if !g.refused(1, 5, time.Millisecond) {
		t.Fatal("the resent message refused again was ignored")
	}
	if idx, _, _ := g.take(); idx != 5 || g.current() != 2 {
		t.Fatalf("second go-back to %d in epoch %d", idx, g.current())
	}
}
