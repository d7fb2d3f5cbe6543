package node

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// readFrame reads and decodes the client's next message.
func readFrame(ctx context.Context, t *testing.T, client *websocket.Conn) *magpiev1.Frame {
	t.Helper()
	_, data, err := client.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.Decode(wire.ProtoCodec{}, data, len(data))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// setLazyDelay sets lazyDelay for the test.
func setLazyDelay(t *testing.T, d time.Duration) {
	old := lazyDelay
	lazyDelay = d
	t.Cleanup(func() { lazyDelay = old })
}

// lazyState reports the connection's writer flags and the length of the
// flushers' lazy line.
func lazyState(c *conn) (writing, armed bool, line int) {
	c.mu.Lock()
	writing, armed = c.writing, c.lazyArmed
	c.mu.Unlock()
	f := c.srv.ws.flush
	f.lazyMu.Lock()
	defer f.lazyMu.Unlock()
	return writing, armed, len(f.lazy)
}

// TestLazyFramesRideAlong: a lazy frame queued alone is not written; the
// next frame someone waits on takes it along, before itself and in the
// same socket write; and one still alone when the lazy line is flushed is
// written then.
func TestLazyFramesRideAlong(t *testing.T) {
	setLazyDelay(t, time.Hour) // the test flushes the line itself
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)

	c.replyLazy(ok(7))
	if writing, armed, line := lazyState(c); writing || !armed || line != 1 {
		t.Fatalf("after a lazy frame: writing %v, armed %v, lazy line %d; want false, true, 1", writing, armed, line)
	}
	c.replyLazy(ok(8)) // already in the line
	if _, _, line := lazyState(c); line != 1 {
		t.Fatalf("lazy line holds %d entries after a second lazy frame, want 1", line)
	}
	before := c.written.Load()
	c.reply(&magpiev1.Frame{Id: 9, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})
	for _, want := range []uint64{7, 8, 9} {
		if f := readFrame(ctx, t, client); f.GetId() != want {
			t.Fatalf("read %v, want the reply to %d", f, want)
		}
	}
	// The engine counts a write when it returns, which can be after the
	// client has read it: wait for the batch to end.
	c.tasks.Wait()
	if n := c.written.Load() - before; n != 1 {
		t.Fatalf("three frames took %d socket writes, want 1", n)
	}

	// The line's turn comes: nothing is left to write for c.
	c.srv.ws.flush.flushLazy()
	if writing, armed, line := lazyState(c); writing || armed || line != 0 {
		t.Fatalf("after the lazy flush: writing %v, armed %v, lazy line %d; want false, false, 0", writing, armed, line)
	}

	// Alone until the line's turn: written then.
	c.replyLazy(ok(10))
	if c.written.Load()-before != 1 {
		t.Fatal("a lazy frame alone was written before the lazy flush")
	}
	c.srv.ws.flush.flushLazy()
	if f := readFrame(ctx, t, client); f.GetId() != 10 || f.GetOk() == nil {
		t.Fatalf("read %v, want the Ok to 10", f)
	}
}

// TestLazyFramesWrittenWithinDelay: with no other output, a lazy frame is
// written by the flushers' timer.
func TestLazyFramesWrittenWithinDelay(t *testing.T) {
	setLazyDelay(t, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)
	for id := uint64(1); id <= 3; id++ { // the timer is armed again after each flush
		c.replyLazy(ok(id))
		if f := readFrame(ctx, t, client); f.GetId() != id {
			t.Fatalf("read %v, want the Ok to %d", f, id)
		}
	}
}

// TestLazyFramesOfAClosedConnection: a connection closed while its lazy
// frames wait is not scheduled again by the lazy flush.
func TestLazyFramesOfAClosedConnection(t *testing.T) {
	setLazyDelay(t, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _ := writerTestConn(ctx, t)
	c.replyLazy(ok(1))
	c.mu.Lock()
	c.closing = true // as a close does, before it drops the queue
	c.mu.Unlock()
	c.srv.ws.flush.flushLazy()
	if writing, armed, line := lazyState(c); writing || armed || line != 0 {
		t.Fatalf("after the lazy flush: writing %v, armed %v, lazy line %d; want false, false, 0", writing, armed, line)
	}
}

// TestBulkDeliveriesAreLazy: a message to a large group (Delivery.Bulk)
// waits, like a lazy frame, for other output to the connection or for the
// lazy line's turn, and merges with the Deliver pushes around it; any
// other Deliver is written at once. A relayed delivery keeps its mark.
func TestBulkDeliveriesAreLazy(t *testing.T) {
	setLazyDelay(t, time.Hour) // the test flushes the line itself
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)
	c.appID, c.userID, c.deviceID, c.session = "app", "u", "d", "ses_u"
	h := c.srv.hub
	if _, refused := h.registerLocal(c, 5, "kick_oldest"); refused != accepted {
		t.Fatalf("register refused: %v", refused)
	}
	msg := func(conv string, seq int64) *store.Message {
		return &store.Message{ConvID: conv, Seq: seq, SenderID: "s", Type: "text", Body: []byte("hi")}
	}
	seqs := func(f *magpiev1.Frame) []int64 {
		var out []int64
		for _, m := range f.GetDeliver().GetMessages() {
			out = append(out, m.GetSeq())
		}
		return out
	}
	before := c.written.Load()

	for seq := int64(1); seq <= 2; seq++ {
		if n := h.Deliver([]messaging.Delivery{{AppID: "app", UserID: "u", Msg: msg("g:big", seq), Bulk: true}}); n[0] != 1 {
			t.Fatalf("bulk delivery queued for %d connections, want 1", n[0])
		}
	}
	if writing, armed, line := lazyState(c); writing || !armed || line != 1 {
		t.Fatalf("after two bulk deliveries: writing %v, armed %v, lazy line %d; want false, true, 1", writing, armed, line)
	}
	// A one-to-one message takes them along: one WebSocket message, one write.
	h.Deliver([]messaging.Delivery{{AppID: "app", UserID: "u", Msg: msg("p:s:u", 3)}})
	if got := seqs(readFrame(ctx, t, client)); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("read a Deliver of seqs %v, want [1 2 3]", got)
	}
	c.tasks.Wait()
	if n := c.written.Load() - before; n != 1 {
		t.Fatalf("three deliveries took %d socket writes, want 1", n)
	}

	// Alone, a bulk delivery goes out at the lazy line's turn.
	h.Deliver([]messaging.Delivery{{AppID: "app", UserID: "u", Msg: msg("g:big", 4), Bulk: true}})
	if c.written.Load()-before != 1 {
		t.Fatal("a bulk delivery alone was written before the lazy flush")
	}
	c.srv.ws.flush.flushLazy()
	if got := seqs(readFrame(ctx, t, client)); !slices.Equal(got, []int64{4}) {
		t.Fatalf("read a Deliver of seqs %v, want [4]", got)
	}
	c.tasks.Wait() // the flusher is done with the connection (writing false)

	// Relayed from another node, it is still bulk.
	env, err := json.Marshal(relayEnvelope{Deliveries: []relayDelivery{{AppID: "app", Bulk: true,
		Msg: relayMessage{ConvID: "g:big", Seq: 5, SenderID: "s", Type: "text", Body: []byte("hi")}, To: []relayTo{{UserID: "u"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	h.HandleRelay(ctx, env)
	if writing, armed, line := lazyState(c); writing || !armed || line != 1 {
		t.Fatalf("after a relayed bulk delivery: writing %v, armed %v, lazy line %d; want false, true, 1", writing, armed, line)
	}
	c.srv.ws.flush.flushLazy()
	if got := seqs(readFrame(ctx, t, client)); !slices.Equal(got, []int64{5}) {
		t.Fatalf("read a Deliver of seqs %v, want [5]", got)
	}
}
