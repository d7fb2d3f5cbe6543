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
