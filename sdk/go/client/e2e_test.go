package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// line is a message as the tests compare it across devices.
type line struct {
	seq     int64
	sender  string
	content string
}

func lines(msgs []client.Message) []line {
	out := make([]line, len(msgs))
	for i, m := range msgs {
		out[i] = line{m.Seq, m.SenderID, m.Content}
	}
	return out
}

func TestChatBothWaysInOrder(t *testing.T) {
	for name, enc := range map[string]client.Encoding{"proto": client.EncodingProto, "json": client.EncodingJSON} {
		t.Run(name, func(t *testing.T) { testChat(t, enc) })
	}
}

func testChat(t *testing.T, enc client.Encoding) {
	e := startEnv(t, "alice", "bob")
	tweak := func(c *client.Config) { c.Encoding = enc }
	alice := e.newClient("alice", "alice-phone", "", tweak)
	bob := e.newClient("bob", "bob-phone", "", tweak)
	run(t, alice)
	run(t, bob)
	next[client.Connected](t, alice)
	next[client.Connected](t, bob)

	// Both send at once, without waiting for their acks.
	var outs []*client.Outgoing
	for i := range 5 {
		for from, to := range map[*client.Client]string{alice: "bob", bob: "alice"} {
			o, err := from.SendAsync(to, "text", fmt.Sprintf("to %s #%d", to, i))
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
	}
	for _, o := range outs {
		if _, err := o.Wait(context.Background()); err != nil {
			t.Fatalf("send %s: %v", o.ClientMsgID(), err)
		}
	}
	fromAlice, fromBob := nextMessages(t, alice, 10), nextMessages(t, bob, 10)
	if !slices.Equal(lines(fromAlice), lines(fromBob)) {
		t.Fatalf("the two sides disagree:\nalice %v\nbob   %v", lines(fromAlice), lines(fromBob))
	}
	sent := map[string][]string{}
	for i, m := range fromAlice {
		if m.Seq != int64(i+1) || m.ConvID != "p:alice:bob" || m.Own != (m.SenderID == "alice") {
			t.Errorf("alice's message %d: %+v", i, m)
		}
		sent[m.SenderID] = append(sent[m.SenderID], m.Content)
	}
	for from, to := range map[string]string{"alice": "bob", "bob": "alice"} {
		for i, text := range sent[from] {
			if want := fmt.Sprintf("to %s #%d", to, i); text != want {
				t.Fatalf("%s's sends arrived as %q, want in the order sent", from, sent[from])
			}
		}
	}
}

func TestOfflineRecipientGetsEverythingOnce(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	ctx := context.Background()
	const n = 30
	for i := range n {
		if _, err := alice.Send(ctx, "bob", "text", fmt.Sprint(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	receiptFrom(t, alice, client.ReceiptStored, "bob", 1)

	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, bob)
	for i, m := range nextMessages(t, bob, n) {
		if m.Seq != int64(i+1) || m.Content != fmt.Sprint(i+1) || m.Own {
			t.Fatalf("message %d = %+v", i+1, m)
		}
	}
	// A message sent now is the next one bob sees: nothing came twice.
	if _, err := alice.Send(ctx, "bob", "text", "last"); err != nil {
		t.Fatal(err)
	}
	if m := next[client.Message](t, bob); m.Seq != n+1 || m.Content != "last" {
		t.Fatalf("message after the backlog = %+v, want seq %d \"last\"", m, n+1)
	}
	receiptFrom(t, alice, client.ReceiptDelivered, "bob", n+1)
}

func TestResendWithSameClientMsgIDStoresOnce(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	alice := e.newClient("alice", "alice-phone", "", nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, alice)
	run(t, bob)
	ctx := context.Background()

	first, err := alice.Send(ctx, "bob", "text", "once", client.WithClientMsgID("fixed-id-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := alice.Send(ctx, "bob", "text", "once", client.WithClientMsgID("fixed-id-1"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !again.Duplicate || again.Seq != first.Seq || again.ConvID != first.ConvID {
		t.Fatalf("sends = %+v then %+v, want the same seq, the second a duplicate", first, again)
	}
	if _, err := alice.Send(ctx, "bob", "text", "next"); err != nil {
		t.Fatal(err)
	}
	want := []line{{1, "alice", "once"}, {2, "alice", "next"}}
	for name, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		if got := lines(nextMessages(t, c, 2)); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", name, got, want)
		}
	}
}

func TestConnectionSeveredMidSend(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	p := newProxy(t, e.addr)
	alice := e.newClient("alice", "alice-phone", p.URL(), nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, alice)
	run(t, bob)
	next[client.Connected](t, alice)
	next[client.Connected](t, bob)

	// The server stores the first messages (all five are in flight at
	// once) but their SendAcks never reach alice; then the connection
	// breaks.
	p.setBlackhole(true)
	var outs []*client.Outgoing
	for i := range 5 {
		o, err := alice.SendAsync("bob", "text", fmt.Sprint(i+1))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	if m := next[client.Message](t, bob); m.Content != "1" {
		t.Fatalf("bob's first message = %+v", m)
	}
	p.setBlackhole(false)
	p.sever()

	for i, o := range outs {
		res, err := o.Wait(context.Background())
		if err != nil || res.Seq != int64(i+1) || i == 0 && !res.Duplicate {
			t.Errorf("send %d = %+v, %v; want seq %d, the first a duplicate", i+1, res, err, i+1)
		}
	}
	if _, err := alice.Send(context.Background(), "bob", "text", "end"); err != nil {
		t.Fatal(err)
	}
	got := lines(nextMessages(t, bob, 5))
	want := []line{{2, "alice", "2"}, {3, "alice", "3"}, {4, "alice", "4"}, {5, "alice", "5"}, {6, "alice", "end"}}
	if !slices.Equal(got, want) {
		t.Fatalf("bob sees %v, want %v", got, want)
	}
	if got := lines(nextMessages(t, alice, 6)); got[0] != (line{1, "alice", "1"}) || got[5] != (line{6, "alice", "end"}) {
		t.Fatalf("alice's own timeline %v", got)
	}
}

func TestServerRestartBetweenSendAndDelivery(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	p := newProxy(t, e.addr)
	alice := e.newClient("alice", "alice-phone", "", nil)
	bob := e.newClient("bob", "bob-phone", p.URL(), nil)
	run(t, alice)
	run(t, bob)
	next[client.Connected](t, alice)
	next[client.Connected](t, bob)
	ctx := context.Background()

	p.setDown(true) // bob is cut off, and keeps trying to reconnect
	next[client.Disconnected](t, bob)
	// Durable once acknowledged. (No STORED receipt to wait for: the
	// server may not have noticed yet that bob's socket is gone.)
	if _, err := alice.Send(ctx, "bob", "text", "before"); err != nil {
		t.Fatal(err)
	}
	var during *client.Outgoing
	e.restart(func() {
		var err error
		if during, err = alice.SendAsync("bob", "text", "during"); err != nil {
			t.Fatal(err)
		}
	})
	if d := next[client.Disconnected](t, alice); !d.WillRetry || !isClose(d.Err, int(wire.CloseServerShutdown)) {
		t.Errorf("alice: Disconnected = %+v, want server_shutdown and a retry", d)
	}
	if res, err := during.Wait(ctx); err != nil || res.Seq != 2 {
		t.Fatalf("send during the restart = %+v, %v; want seq 2", res, err)
	}
	p.setDown(false)
	want := []line{{1, "alice", "before"}, {2, "alice", "during"}}
	if got := lines(nextMessages(t, bob, 2)); !slices.Equal(got, want) {
		t.Fatalf("bob sees %v, want %v", got, want)
	}
	receiptFrom(t, alice, client.ReceiptDelivered, "bob", 2)
}

func TestTwoDevicesOfOneUser(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	phone := e.newClient("alice", "alice-phone", "", nil)
	laptop := e.newClient("alice", "alice-laptop", "", nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	for _, c := range []*client.Client{phone, laptop, bob} {
		run(t, c)
		next[client.Connected](t, c)
	}
	ctx := context.Background()
	steps := []struct {
		from *client.Client
		to   string
		text string
	}{{phone, "bob", "x1"}, {bob, "alice", "y1"}, {laptop, "bob", "x2"}, {phone, "bob", "x3"}}
	for _, s := range steps {
		if _, err := s.from.Send(ctx, s.to, "text", s.text); err != nil {
			t.Fatal(err)
		}
	}
	want := []line{{1, "alice", "x1"}, {2, "bob", "y1"}, {3, "alice", "x2"}, {4, "alice", "x3"}}
	for name, c := range map[string]*client.Client{"phone": phone, "laptop": laptop, "bob": bob} {
		msgs := nextMessages(t, c, len(want))
		if got := lines(msgs); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", name, got, want)
		}
		me := "alice"
		if name == "bob" {
			me = "bob"
		}
		for _, m := range msgs {
			if m.Own != (m.SenderID == me) {
				t.Errorf("%s: message %d from %s: Own = %v", name, m.Seq, m.SenderID, m.Own)
			}
			// Messages carry no members on the wire: the client learns
			// them from the conversation's state, fetched when a message
			// of a conversation it had not seen arrived (for the laptop,
			// the phone's first message to bob).
			if want := []string{"alice", "bob"}; !slices.Equal(m.Members, want) || m.Peer() != others(me) {
				t.Errorf("%s: message %d: Members %v, Peer %q; want %v, %q", name, m.Seq, m.Members, m.Peer(), want, others(me))
			}
		}
	}
}

// others returns the other user of the alice-bob conversation.
func others(me string) string {
	if me == "alice" {
		return "bob"
	}
	return "alice"
}

func TestReadReceiptsReachPeerAndOwnDevices(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	alice := e.newClient("alice", "alice-phone", "", nil)
	bobPhone := e.newClient("bob", "bob-phone", "", nil)
	bobLaptop := e.newClient("bob", "bob-laptop", "", nil)
	for _, c := range []*client.Client{alice, bobPhone, bobLaptop} {
		run(t, c)
		next[client.Connected](t, c)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := alice.Send(ctx, "bob", "text", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := nextMessages(t, bobPhone, 3)
	receiptFrom(t, alice, client.ReceiptDelivered, "bob", 3)

	if err := bobPhone.MarkRead(ctx, msgs[2].ConvID, msgs[2].Seq); err != nil {
		t.Fatal(err)
	}
	if r := receiptFrom(t, alice, client.ReceiptRead, "bob", 3); r.ConvID != "p:alice:bob" || r.At.IsZero() {
		t.Errorf("alice's read receipt = %+v", r)
	}
	receiptFrom(t, bobLaptop, client.ReceiptRead, "bob", 3)

	convs, err := alice.Conversations(ctx)
	if err != nil || len(convs) != 1 || convs[0].PeerReadSeq != 3 || convs[0].MaxSeq != 3 {
		t.Fatalf("alice's conversations = %+v, %v; want peer read up to 3", convs, err)
	}
}

func TestRevokedTokenEndsRunUntilFreshToken(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	bob := e.newClient("bob", "bob-phone", "", nil)
	defer bob.Close()
	ctx := context.Background()

	done := make(chan error, 1)
	go func() { done <- bob.Run(ctx) }()
	next[client.Connected](t, bob)
	if _, err := e.api.RevokeTokens(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !isClose(err, int(wire.CloseTokenRevoked)) {
			t.Fatalf("Run = %v, want token_revoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the revocation")
	}
	if d := next[client.Disconnected](t, bob); d.WillRetry {
		t.Errorf("Disconnected = %+v, want no retry", d)
	}

	// Sent while bob is out; the TokenProvider issues a token dated after
	// the revocation, so a new Run connects and catches up.
	if _, err := alice.Send(ctx, "bob", "text", "welcome back"); err != nil {
		t.Fatal(err)
	}
	go func() { done <- bob.Run(ctx) }()
	next[client.Connected](t, bob)
	if m := next[client.Message](t, bob); m.Content != "welcome back" {
		t.Fatalf("message after reconnecting = %+v", m)
	}
	bob.Close()
	if err := <-done; err != nil {
		t.Errorf("second Run = %v, want nil after Close", err)
	}
}

func TestHistoryReadsBackwards(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	ctx := context.Background()
	var conv string
	for i := range 7 {
		res, err := alice.Send(ctx, "bob", "text", fmt.Sprint(i+1))
		if err != nil {
			t.Fatal(err)
		}
		conv = res.ConvID
	}
	msgs, more, err := alice.History(ctx, conv, 6, 3)
	if err != nil || !more || len(msgs) != 3 || msgs[0].Seq != 3 || msgs[2].Seq != 5 {
		t.Fatalf("History(before 6, 3) = %v, %v, %v; want seqs 3..5 and more", lines(msgs), more, err)
	}
	msgs, more, err = alice.History(ctx, conv, 0, 0)
	if err != nil || more || len(msgs) != 7 || msgs[6].Content != "7" {
		t.Fatalf("History(newest) = %v, %v, %v; want all 7", lines(msgs), more, err)
	}
}
