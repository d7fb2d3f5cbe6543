package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestWriterMergesDeliverPushes queues pushes while a writer is busy and
// checks what the client reads: consecutive Deliver pushes arrive as one
// WebSocket message that decodes as a single Deliver with all the
// messages, in order; other frames keep their place.
func TestWriterMergesDeliverPushes(t *testing.T) {
	accepted := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		accepted <- ws
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	ws := <-accepted
	defer ws.CloseNow()

	codec := wire.ProtoCodec{}
	c := &conn{srv: &Server{cfg: Config{MaxOutboundBytes: 1 << 20}}, ws: ws, codec: codec, msgType: websocket.MessageBinary,
		quit: make(chan struct{}), closed: make(chan struct{}), flushed: make(chan struct{})}
	deliver := func(seq int64) outFrame {
		b, _ := codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{{ConvId: "p:a:b", Seq: seq}}}}})
		return outFrame{b: b, merge: mergeDeliver}
	}
	pong, _ := codec.Marshal(&magpiev1.Frame{Id: 9, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})
	c.writing = true // a writer is busy: frames pile up
	for _, f := range []outFrame{deliver(1), deliver(2), deliver(3), {b: pong}, deliver(4)} {
		if !c.queueFrame(f) {
			t.Fatal("queueFrame refused")
		}
	}
	c.writeLoop()

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
