package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// rawConn is a protocol connection without the SDK, to send what the SDK
// never sends.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, e *env, user, device string) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+e.srv.URL[len("http"):]+"/v1/connect", &websocket.DialOptions{
		Subprotocols: []string{wire.SubprotocolProto},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &rawConn{t: t, ws: ws}
	tok, err := e.tokens(user)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.write(&magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{Token: tok, DeviceId: device, Platform: "server"}}})
	if f := c.read(); f.GetLoginResult() == nil {
		t.Fatalf("login reply = %v", f)
	}
	return c
}

func (c *rawConn) write(f *magpiev1.Frame) {
	c.t.Helper()
	b, err := wire.ProtoCodec{}.Marshal(f)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) read() *magpiev1.Frame {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	f, err := wire.Decode(wire.ProtoCodec{}, b, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

func TestSameClientMsgIDPipelinedOnTheWire(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, bob)
	raw := dialRaw(t, e, "alice", "alice-raw")
	send := &magpiev1.Send{ClientMsgId: "same-id", ToUserId: "bob", Type: "text", Content: "once"}
	raw.write(&magpiev1.Frame{Id: 2, Body: &magpiev1.Frame_Send{Send: send}})
	raw.write(&magpiev1.Frame{Id: 3, Body: &magpiev1.Frame_Send{Send: send}})
	acks := map[uint64]*magpiev1.SendAck{}
	for len(acks) < 2 {
		f := raw.read()
		if f.GetError() != nil {
			t.Fatalf("reply %d: error %v", f.GetId(), f.GetError())
		}
		if a := f.GetSendAck(); a != nil {
			acks[f.GetId()] = a
		}
	}
	if acks[2].GetSeq() != acks[3].GetSeq() || acks[2].GetDuplicate() == acks[3].GetDuplicate() {
		t.Fatalf("acks %v and %v, want the same seq, exactly one a duplicate", acks[2], acks[3])
	}
	raw.write(&magpiev1.Frame{Id: 4, Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "other-id", ToUserId: "bob", Type: "text", Content: "next"}}})
	want := []line{{1, "alice", "once"}, {2, "alice", "next"}}
	if got := lines(nextMessages(t, bob, 2)); got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("bob sees %v, want %v", got, want)
	}
}
