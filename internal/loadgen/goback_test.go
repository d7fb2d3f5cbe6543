package loadgen

import (
	"context"
	"testing"
	"time"
)

func TestSendIDRoundTrip(t *testing.T) {
	for _, c := range [][3]int{{0, 0, 0}, {3, 7, 41}, {0x3fff, 0xffff, 1<<32 - 2}} {
		id := SendID(c[0], c[1], c[2])
		if id >= ackIDBase {
			t.Fatalf("sendID%v = %#x, in the ack range", c, id)
		}
		if s, e, i := ParseSendID(id); s != c[0] || e != c[1] || i != c[2] {
			t.Fatalf("ParseSendID(sendID%v) = %d, %d, %d", c, s, e, i)
		}
	}
}

// TestGoBack: the first overload refusal of an epoch sends the sender back;
// the refusals behind it, and those of earlier epochs, do not.
func TestGoBack(t *testing.T) {
	g := NewGoBack()
	if _, _, ok := g.Take(); ok {
		t.Fatal("take before any refusal")
	}
	if !g.Refused(0, 5, 20*time.Millisecond) {
		t.Fatal("first refusal ignored")
	}
	if g.Refused(0, 6, time.Millisecond) {
		t.Fatal("a refusal behind the first one sent the sender back")
	}
	idx, after, ok := g.Take()
	if !ok || idx != 5 || after != 20*time.Millisecond || g.Epoch() != 1 {
		t.Fatalf("take = %d, %v, %v (epoch %d), want 5, 20ms in epoch 1", idx, after, ok, g.Epoch())
	}
	if g.Refused(0, 7, time.Millisecond) {
		t.Fatal("a refusal from before the go-back counted")
	}
	if !g.Refused(1, 5, time.Millisecond) {
		t.Fatal("the resent message refused again was ignored")
	}
	if idx, _, _ := g.Take(); idx != 5 || g.Epoch() != 2 {
		t.Fatalf("second go-back to %d in epoch %d", idx, g.Epoch())
	}
}

// TestGoBackDrained: a sender that wrote everything waits for the replies;
// a refusal among them sends it back, and once every send is answered
// without one it is done.
func TestGoBackDrained(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g := NewGoBack()
	g.Wrote()
	g.Wrote()
	g.Replied() // the first acknowledged
	go func() {
		g.Refused(0, 1, time.Millisecond) // the last one refused
		g.Replied()
	}()
	if g.Drained(ctx) {
		t.Fatal("drained with the last send refused")
	}
	if idx, _, ok := g.Take(); !ok || idx != 1 {
		t.Fatalf("take = %d, %v; want 1, true", idx, ok)
	}
	g.Wrote()
	go g.Replied() // acknowledged this time
	for !g.Drained(ctx) {
		if ctx.Err() != nil {
			t.Fatal("not drained with every send answered")
		}
	}
}
