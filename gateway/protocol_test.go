package gateway_test

import (
	"testing"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// These tests hold the gateway to what docs/protocol.md promises a client
// written from the docs alone.

// expectError reads the reply to request id and checks its error code.
func (c *wsClient) expectError(id uint64, code string) *magpiev1.Error {
	c.t.Helper()
	f := c.reply(id)
	if f.GetError().GetCode() != code {
		c.t.Fatalf("reply to %d = %v, want Error %s", id, f, code)
	}
	return f.GetError()
}

func TestCursorSeqBelowOneIsInvalidArgument(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	c := e.login(e.a, "alice", "d1")
	if ack := c.reply(c.request(sendFrame("bob", "m1", "hi"))).GetSendAck(); ack == nil {
		t.Fatal("send failed")
	}
	for _, seq := range []int64{-1, 0} {
		c.expectError(c.request(deliverAckFrame("p:alice:bob", seq)), wire.CodeInvalidArgument)
		c.expectError(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Read{Read: &magpiev1.Read{ConvId: "p:alice:bob", Seq: seq}}}), wire.CodeInvalidArgument)
	}
	// Not being a member is still forbidden.
	c.expectError(c.request(deliverAckFrame("p:bob:carol", 1)), wire.CodeForbidden)
}
