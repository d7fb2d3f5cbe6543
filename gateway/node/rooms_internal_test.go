package node

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestWriterMergesRoomPushesByKind queues room and Deliver pushes while a
// writer is busy: consecutive pushes of one kind merge into one WebSocket
// message, and a Deliver never merges with a RoomMessages (the two would
// overwrite each other's oneof field).
func TestWriterMergesRoomPushesByKind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, client := writerTestConn(ctx, t)
	codec := wire.ProtoCodec{}
	room := func(seq int64) outFrame {
		b, _ := codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_RoomMessages{RoomMessages: &magpiev1.RoomMessages{
			Messages: []*magpiev1.RoomMessage{{RoomId: "live", Seq: seq}}}}})
		return outFrame{b: b, merge: mergeRoom}
	}
	deliver := func(seq int64) outFrame {
		b, _ := codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{{ConvId: "p:a:b", Seq: seq}}}}})
		return outFrame{b: b, merge: mergeDeliver}
	}
	c.writing = true // scheduled with the flushers: frames pile up
	for _, f := range []outFrame{room(1), room(2), deliver(3), deliver(4), room(5)} {
		if !c.queueFrame(f) {
			t.Fatal("queueFrame refused")
		}
	}
	c.tasks.Add(1) // as startWriterLocked does
	if _, _, more := c.flushBatch(nil, nil); more {
		t.Fatal("flushBatch left frames queued")
	}
	for i, want := range []string{"room 1 2", "deliver 3 4", "room 5"} {
		_, data, err := client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.Decode(codec, data, len(data))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if ms := f.GetRoomMessages().GetMessages(); len(ms) > 0 {
			got = append(got, "room")
			for _, m := range ms {
				got = append(got, strconv.FormatInt(m.GetSeq(), 10))
			}
		}
		if ms := f.GetDeliver().GetMessages(); len(ms) > 0 {
			got = append(got, "deliver")
			for _, m := range ms {
				got = append(got, strconv.FormatInt(m.GetSeq(), 10))
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("message %d = %q, want %q", i, strings.Join(got, " "), want)
		}
	}
}
