package gateway_test

import (
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func deliverAckFrame(conv string, seq int64) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
		Cursors: []*magpiev1.Cursor{{ConvId: conv, Seq: seq}},
	}}}
}

// TestDeliveredReceiptOnlyForOthersMessages checks that a DELIVERED receipt
// reaches the peer only when the user's cursor moved over a message the
// user did not send.
func TestDeliveredReceiptOnlyForOthersMessages(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	alice := e.login(e.a, "alice", "a1")
	bob := e.login(e.a, "bob", "b1")
	const conv = "p:alice:bob"

	// bob sends 1 and 2; his device holds them from their SendAcks and
	// acknowledges past them.
	for i, id := range []string{"b1", "b2"} {
		if ack := bob.reply(bob.request(sendFrame("alice", id, "from bob"))).GetSendAck(); ack.GetSeq() != int64(i+1) {
			t.Fatalf("bob's send %s: ack %v, want seq %d", id, ack, i+1)
		}
	}
	if f := bob.reply(bob.request(deliverAckFrame(conv, 2))); f.GetOk() == nil {
		t.Fatalf("bob's ack of 2 = %v", f)
	}
	// alice sends 3, which bob acknowledges.
	alice.request(sendFrame("bob", "a3", "from alice"))
	bob.push(func(f *magpiev1.Frame) bool { return len(f.GetDeliver().GetMessages()) > 0 })
	if f := bob.reply(bob.request(deliverAckFrame(conv, 3))); f.GetOk() == nil {
		t.Fatalf("bob's ack of 3 = %v", f)
	}
	// Any receipt for bob's first ack was queued to alice before its Ok,
	// so before everything that follows: the first DELIVERED alice sees
	// must be the one for her message.
	var sawAck bool
	for {
		f, err := alice.recv()
		if err != nil {
			t.Fatalf("alice: %v", err)
		}
		sawAck = sawAck || f.GetSendAck() != nil
		if r := f.GetReceipt(); r.GetKind() == magpiev1.Receipt_KIND_DELIVERED {
			if r.GetSeq() != 3 || r.GetUserId() != "bob" || !sawAck {
				t.Fatalf("alice's first DELIVERED receipt = %v (after her SendAck: %v), want seq 3 from bob after her SendAck", r, sawAck)
			}
			break
		}
	}

	// bob sends 4 and acknowledges past it: nothing new for alice. Her
	// SendAck of 5 comes after any receipt that ack produced.
	if ack := bob.reply(bob.request(sendFrame("alice", "b4", "more from bob"))).GetSendAck(); ack.GetSeq() != 4 {
		t.Fatalf("bob's send b4: ack %v, want seq 4", ack)
	}
	if f := bob.reply(bob.request(deliverAckFrame(conv, 4))); f.GetOk() == nil {
		t.Fatalf("bob's ack of 4 = %v", f)
	}
	alice.request(sendFrame("bob", "a5", "again from alice"))
	for {
		f, err := alice.recv()
		if err != nil {
			t.Fatalf("alice: %v", err)
		}
		if r := f.GetReceipt(); r.GetKind() == magpiev1.Receipt_KIND_DELIVERED {
			t.Fatalf("alice got %v for bob's ack over his own message 4", r)
		}
		if f.GetSendAck().GetSeq() == 5 {
			break
		}
	}
}
