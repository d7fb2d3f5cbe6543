package client

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func TestResyncSkipsSeqsThatDoNotExist(t *testing.T) {
	s := newFakeServer(t)
	s.put("alice", "bob", 1, 2, 3, 5, 6) // 4 is a failed send
	s.put("carol", "bob", 2)             // 1 is a failed send
	bob := s.client(t, "bob", nil)

	got := map[string][]int64{}
	for _, m := range messages(t, bob, 6) {
		got[m.ConvID] = append(got[m.ConvID], m.Seq)
		if m.Own || m.Peer() == "bob" {
			t.Errorf("message %s/%d: Own = %v, Peer = %q; want a message from the peer", m.ConvID, m.Seq, m.Own, m.Peer())
		}
	}
	want := map[string][]int64{"p:alice:bob": {1, 2, 3, 5, 6}, "p:bob:carol": {2}}
	for conv, seqs := range want {
		if !slices.Equal(got[conv], seqs) {
			t.Errorf("conversation %s: seqs %v, want %v", conv, got[conv], seqs)
		}
	}
	eventually(t, "acks up to the last seqs", func() bool {
		return s.ackedUpTo("p:alice:bob") == 6 && s.ackedUpTo("p:bob:carol") == 2
	})
}

func TestPushAheadOfGapIsHeldUntilFilled(t *testing.T) {
	s := newFakeServer(t)
	bob := s.client(t, "bob", nil)
	waitFor[Connected](t, bob)
	msgs := s.put("alice", "bob", 1, 2, 3)
	s.push(msgs[2], nil) // 1 and 2 were never pushed
	if got := seqs(messages(t, bob, 3)); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("seqs %v, want [1 2 3]", got)
	}
}

func TestDuplicatesAreDroppedAndRecallsReported(t *testing.T) {
	s := newFakeServer(t)
	msgs := s.put("alice", "bob", 1, 2)
	bob := s.client(t, "bob", nil)
	messages(t, bob, 2)

	s.push(msgs[1], nil) // a duplicate
	recalled := &magpiev1.Message{ConvId: msgs[0].ConvId, Seq: 1, SenderId: "alice", Recalled: true}
	s.push(recalled, nil)
	s.push(s.put("alice", "bob", 3)[0], nil)

	if r := waitFor[Recall](t, bob); r.Seq != 1 {
		t.Errorf("Recall = %+v, want seq 1", r)
	}
	if m := waitFor[Message](t, bob); m.Seq != 3 {
		t.Errorf("message after the recall: seq %d, want 3 (no duplicate of 2)", m.Seq)
	}
}

func TestRecalledBeforeDeliveryArrivesRecalled(t *testing.T) {
	s := newFakeServer(t)
	bob := s.client(t, "bob", nil)
	waitFor[Connected](t, bob)
	s.set(func() { s.hook = holdSync(nil) }) // no gap filling: only pushes
	conv := convOf("alice", "bob")
	s.push(&magpiev1.Message{ConvId: conv, Seq: 1, SenderId: "alice", Content: "x"}, nil)
	s.push(&magpiev1.Message{ConvId: conv, Seq: 3, SenderId: "alice", Content: "y"}, nil)
	s.push(&magpiev1.Message{ConvId: conv, Seq: 3, SenderId: "alice", Recalled: true}, nil)
	s.push(&magpiev1.Message{ConvId: conv, Seq: 2, SenderId: "alice", Content: "z"}, nil)
	got := messages(t, bob, 3)
	if !slices.Equal(seqs(got), []int64{1, 2, 3}) || !got[2].Recalled || got[2].Content != "" {
		t.Fatalf("messages %+v, want seqs 1 2 3 with 3 recalled", got)
	}
}

// holdSync returns a hook that holds SyncMessages requests until release
// is closed (forever if nil) and lets every other frame through.
func holdSync(release chan struct{}) func(*fakeConn, *magpiev1.Frame) bool {
	return func(fc *fakeConn, f *magpiev1.Frame) bool {
		if f.GetSyncMessages() == nil {
			return false
		}
		if release != nil {
			go func() {
				<-release
				fc.write(&magpiev1.Frame{Id: f.GetId(), Body: &magpiev1.Frame_MessagePage{
					MessagePage: fc.s.messagePage(f.GetSyncMessages()),
				}})
			}()
		}
		return true
	}
}

func TestNeverAcksPastAGap(t *testing.T) {
	s := newFakeServer(t)
	s.put("alice", "bob", 1, 2, 3)
	bob := s.client(t, "bob", nil)
	messages(t, bob, 3)
	eventually(t, "ack of 3", func() bool { return s.ackedUpTo("p:alice:bob") == 3 })

	release := make(chan struct{})
	syncs := s.count("sync_messages")
	s.set(func() { s.hook = holdSync(release) })
	msgs := s.put("alice", "bob", 4, 5, 6)
	s.push(msgs[1], nil) // 5: a gap at 4, whose fetch is held
	eventually(t, "the fetch of the gap", func() bool { return s.count("sync_messages") > syncs })
	s.push(msgs[2], nil)
	s.push(&magpiev1.Message{ConvId: msgs[0].ConvId, Seq: 6, SenderId: "alice"}, nil)
	if got := s.ackedUpTo("p:alice:bob"); got != 3 {
		t.Fatalf("acked up to %d with 4 missing, want 3", got)
	}
	close(release)
	if got := seqs(messages(t, bob, 3)); !slices.Equal(got, []int64{4, 5, 6}) {
		t.Fatalf("seqs %v, want [4 5 6]", got)
	}
	eventually(t, "ack of 6", func() bool { return s.ackedUpTo("p:alice:bob") == 6 })
}

func TestSlowAppLosesNothing(t *testing.T) {
	s := newFakeServer(t)
	var all []int64
	for seq := int64(1); seq <= 500; seq++ {
		all = append(all, seq)
	}
	msgs := s.put("alice", "bob", all...)
	bob := s.client(t, "bob", func(c *Config) { c.EventBuffer = 4 })
	waitFor[Connected](t, bob)
	for _, m := range msgs[450:] {
		s.push(m, nil) // ahead of the cursor while the queue is full
	}
	if got := seqs(messages(t, bob, 500)); !slices.Equal(got, all) {
		t.Fatalf("seqs %v, want 1..500 once each", got)
	}
	if n := s.count("sync_messages"); n < 3 {
		t.Errorf("%d SyncMessages, want at least 3 pages of 200", n)
	}
}

func TestStoreResumesAfterCursor(t *testing.T) {
	s := newFakeServer(t)
	s.put("alice", "bob", 1, 2, 3)
	st := NewMemoryStore()
	first := s.client(t, "bob", func(c *Config) { c.Store = st })
	messages(t, first, 3)
	first.Close()
	if got, _ := st.LoadCursors(context.Background()); got["p:alice:bob"] != 3 {
		t.Fatalf("saved cursors %v, want p:alice:bob at 3", got)
	}

	s.put("alice", "bob", 4)
	second := s.client(t, "bob", func(c *Config) { c.Store = st })
	if m := waitFor[Message](t, second); m.Seq != 4 {
		t.Fatalf("first message of the resumed client: seq %d, want 4", m.Seq)
	}
}

func TestReceiptsAreReported(t *testing.T) {
	s := newFakeServer(t)
	alice := s.client(t, "alice", nil)
	waitFor[Connected](t, alice)
	s.pushReceipt("alice", &magpiev1.Receipt{
		Kind: magpiev1.Receipt_KIND_READ, ConvId: "p:alice:bob", Seq: 1, UserId: "bob", AtMs: 5,
	})
	r := waitFor[Receipt](t, alice)
	if r.Kind != ReceiptRead || r.Seq != 1 || r.UserID != "bob" || r.At.UnixMilli() != 5 {
		t.Fatalf("Receipt = %+v, want READ of seq 1 by bob", r)
	}
}

// TestAcksAreSpacedByAckInterval: a device receiving a stream reports its
// cursors at most once per AckInterval, and still reports every message.
func TestAcksAreSpacedByAckInterval(t *testing.T) {
	const interval = 300 * time.Millisecond
	s := newFakeServer(t)
	var mu sync.Mutex
	var acks []time.Time // when the server got each DeliverAck
	s.set(func() {
		s.hook = func(_ *fakeConn, f *magpiev1.Frame) bool {
			if f.GetDeliverAck() != nil {
				mu.Lock()
				acks = append(acks, time.Now())
				mu.Unlock()
			}
			return false
		}
	})
	bob := s.client(t, "bob", func(c *Config) { c.AckInterval = interval })
	waitFor[Connected](t, bob)
	conv := convOf("alice", "bob")
	for seq := int64(1); seq <= 3; seq++ {
		s.push(s.put("alice", "bob", seq)[0], nil)
		messages(t, bob, 1)
		eventually(t, "the ack of the message", func() bool { return s.ackedUpTo(conv) == seq })
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) != 3 {
		t.Fatalf("%d DeliverAcks, want one per message here", len(acks))
	}
	// Each report began at least interval after the one before; the
	// server got the one before a moment after it began.
	for i := 1; i < len(acks); i++ {
		if gap := acks[i].Sub(acks[i-1]); gap < interval-50*time.Millisecond {
			t.Errorf("DeliverAck %d came %v after the one before, want about %v or more", i+1, gap, interval)
		}
	}
}
