package node

import (
	"context"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestWriterMergesDeliverPushes queues pushes while a writer is busy and
// checks what the client reads: consecutive Deliver pushes arrive as one
// WebSocket message that decodes as a single Deliver with all the
// messages, in order; other frames keep their place.
func TestWriterMergesDeliverPushes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)
	codec := wire.ProtoCodec{}
	deliver := func(seq int64) outFrame {
		b, _ := codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{{ConvId: "p:a:b", Seq: seq}}}}})
		return outFrame{b: b, merge: mergeDeliver}
	}
	pong, _ := codec.Marshal(&magpiev1.Frame{Id: 9, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})
	c.writing = true // scheduled with the flushers: frames pile up
	for _, f := range []outFrame{deliver(1), deliver(2), deliver(3), {b: pong}, deliver(4)} {
		if !c.queueFrame(f) {
			t.Fatal("queueFrame refused")
		}
	}
	c.tasks.Add(1) // as startWriterLocked does
	if _, _, more := c.flushBatch(nil, nil); more {
		t.Fatal("flushBatch left frames queued")
	}

	want := [][]int64{{1, 2, 3}, nil, {4}}
	for i, seqs := range want {
		_, data, err := client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.Decode(codec, data, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if seqs == nil {
			if f.GetPong() == nil || f.GetId() != 9 {
				t.Fatalf("message %d = %v, want the pong", i, f)
			}
			continue
		}
		var got []int64
		for _, m := range f.GetDeliver().GetMessages() {
			got = append(got, m.GetSeq())
		}
		if len(got) != len(seqs) || (len(got) > 0 && got[0] != seqs[0]) || got[len(got)-1] != seqs[len(seqs)-1] {
			t.Fatalf("message %d delivers seqs %v, want %v", i, got, seqs)
		}
	}
}

// TestOutQueueGoesBackAfterFlush: a connection takes an outbound queue
// when a frame is queued with none waiting and its writer gives it back
// once written, so that an idle connection holds none, and a queue taken
// again carries only the new frames.
func TestOutQueueGoesBackAfterFlush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)
	codec := wire.ProtoCodec{}
	pong := func(id uint64) []byte {
		b, _ := codec.Marshal(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})
		return b
	}
	frames := make([][]byte, 8)
	for i := range frames {
		frames[i] = pong(uint64(i + 1))
	}
	c.writing = true       // scheduled with the flushers: frames wait for flushBatch
	var out, merged []byte // a flusher's buffers
	cycle := func() {
		for _, b := range frames {
			if !c.queueFrame(outFrame{b: b}) {
				t.Fatal("queueFrame refused")
			}
		}
		c.tasks.Add(1) // as startWriterLocked does
		var more bool
		if out, merged, more = c.flushBatch(out, merged); more {
			t.Fatal("flushBatch left frames queued")
		}
		c.writing = true
		if c.out != nil {
			t.Fatalf("after the flush the connection holds a queue of %d", cap(c.out))
		}
	}
	const rounds = 50
	cycle() // the pool holds a queue from here on
	allocs := testing.AllocsPerRun(rounds, cycle)
	if allocs > 2 && !raceEnabled {
		t.Errorf("queueing and writing %d frames allocated %.1f times, want at most 2 (queue not reused?)", len(frames), allocs)
	}
	for n := range (rounds + 2) * len(frames) { // AllocsPerRun runs cycle once more first
		if want, f := uint64(n%len(frames)+1), readFrame(ctx, t, client); f.GetId() != want {
			t.Fatalf("frame %d has id %d, want %d", n, f.GetId(), want)
		}
	}
}
