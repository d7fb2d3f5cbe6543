package storetest

import (
	"maps"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

// ack is a DeliveryAck by bob.
func ack(device, conv string, seq int64) store.DeliveryAck {
	return store.DeliveryAck{UserID: "bob", DeviceID: device, ConvID: conv, Seq: seq}
}

// ackStep is one acknowledgement and the result it must have.
type ackStep struct {
	ack  store.DeliveryAck
	want store.AckResult
}

// ackSteps runs one AckDelivered call per step and checks each result.
func ackSteps(t *testing.T, a store.AppStore, steps []ackStep) {
	t.Helper()
	for _, step := range steps {
		got, err := a.AckDelivered(t.Context(), []store.DeliveryAck{step.ack})
		if err != nil || len(got) != 1 || got[0] != step.want {
			t.Errorf("AckDelivered(%+v) = %+v, %v, want [%+v]", step.ack, got, err, step.want)
		}
	}
}

func checkCursors(t *testing.T, a store.AppStore, user, device string, want map[string]int64) {
	t.Helper()
	got, err := a.GetDeviceCursors(t.Context(), user, device)
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("GetDeviceCursors(%q, %q) = %v, %v, want %v", user, device, got, err, want)
	}
}

func checkDelivered(t *testing.T, a store.AppStore, user, conv string, want int64) {
	t.Helper()
	if got := userConv(t, a, user, conv).DeliveredSeq; got != want {
		t.Errorf("%s's %s DeliveredSeq = %d, want %d", user, conv, got, want)
	}
}

var cursorTests = []test{
	{"BigBatchesFoldCursors", testBigBatchesFoldCursors},
	{"AckForwardOnlyClamped", func(t *testing.T, s store.Store) {
		a := s.App("A")
		fill(t, a, "c1", 5)
		ackSteps(t, a, []ackStep{
			{ack("d1", "c1", 3), store.AckResult{DeviceSeq: 3, UserPrev: 0, UserSeq: 3, ReceivedSeq: 3}},
			{ack("d1", "c1", 2), store.AckResult{DeviceSeq: 3, UserPrev: 3, UserSeq: 3}},                  // never back
			{ack("d1", "c1", 99), store.AckResult{DeviceSeq: 5, UserPrev: 3, UserSeq: 5, ReceivedSeq: 5}}, // clamped
			{ack("d1", "c1", 5), store.AckResult{DeviceSeq: 5, UserPrev: 5, UserSeq: 5}},                  // no change
			{ack("d2", "c1", 100), store.AckResult{DeviceSeq: 5, UserPrev: 5, UserSeq: 5}},                // clamped
		})
		checkCursors(t, a, "bob", "d1", map[string]int64{"c1": 5})
		checkDelivered(t, a, "bob", "c1", 5)
	}},
	{"AckUserIsMaxOfDevices", func(t *testing.T, s store.Store) {
		a := s.App("A")
		fill(t, a, "c1", 5)
		ackSteps(t, a, []ackStep{
			{ack("d1", "c1", 4), store.AckResult{DeviceSeq: 4, UserPrev: 0, UserSeq: 4, ReceivedSeq: 4}},
			{ack("d2", "c1", 2), store.AckResult{DeviceSeq: 2, UserPrev: 4, UserSeq: 4}},
			{ack("d2", "c1", 5), store.AckResult{DeviceSeq: 5, UserPrev: 4, UserSeq: 5, ReceivedSeq: 5}},
		})
		checkCursors(t, a, "bob", "d1", map[string]int64{"c1": 4})
		checkCursors(t, a, "bob", "d2", map[string]int64{"c1": 5})
		checkDelivered(t, a, "bob", "c1", 5)
	}},
	{"AckBatch", testAckBatch},
	{"AckReceivedSeq", testAckReceivedSeq},
	{"AckClampFollowsMaxSeq", func(t *testing.T, s store.Store) {
		a := s.App("A")
		got, err := a.AckDelivered(t.Context(), nil)
		if err != nil || len(got) != 0 {
			t.Errorf("AckDelivered(nil) = %v, %v, want no results", got, err)
		}
		fill(t, a, "c1", 2)
		checkCursors(t, a, "bob", "d1", map[string]int64{})
		checkDelivered(t, a, "bob", "c1", 0)
		step := []ackStep{{ack("d1", "c1", 9), store.AckResult{DeviceSeq: 2, UserPrev: 0, UserSeq: 2, ReceivedSeq: 2}}}
		ackSteps(t, a, step)
		appendAll(t, a, draft("c1", "alice", "late", 9))
		step[0].want = store.AckResult{DeviceSeq: 3, UserPrev: 2, UserSeq: 3, ReceivedSeq: 3}
		ackSteps(t, a, step)
	}},
	{"MarkRead", testMarkRead},
}

func testAckBatch(t *testing.T, s store.Store) {
	a := s.App("A")
	fill(t, a, "c1", 5)
	fill(t, a, "c2", 3)
	acks := []store.DeliveryAck{
		ack("d1", "c1", 2), ack("d1", "c2", 1), ack("d1", "c1", 4),
		ack("d2", "c1", 3), ack("d2", "c1", 9), ack("d1", "c2", 0),
	}
	want := []store.AckResult{
		{DeviceSeq: 2, UserPrev: 0, UserSeq: 2, ReceivedSeq: 2},
		{DeviceSeq: 1, UserPrev: 0, UserSeq: 1, ReceivedSeq: 1},
		{DeviceSeq: 4, UserPrev: 2, UserSeq: 4, ReceivedSeq: 4},
		{DeviceSeq: 3, UserPrev: 4, UserSeq: 4},
		{DeviceSeq: 5, UserPrev: 4, UserSeq: 5, ReceivedSeq: 5},
		{DeviceSeq: 1, UserPrev: 1, UserSeq: 1},
	}
	got, err := a.AckDelivered(t.Context(), acks)
	if err != nil || len(got) != len(want) {
		t.Fatalf("AckDelivered(%d acks) = %+v, %v, want %d results", len(acks), got, err, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("AckDelivered result %d for %+v = %+v, want %+v", i, acks[i], got[i], want[i])
		}
	}
	checkCursors(t, a, "bob", "d1", map[string]int64{"c1": 4, "c2": 1})
	checkCursors(t, a, "bob", "d2", map[string]int64{"c1": 5})
	checkCursors(t, a, "bob", "d3", map[string]int64{})
	checkCursors(t, a, "alice", "d1", map[string]int64{})
	checkDelivered(t, a, "bob", "c1", 5)
	checkDelivered(t, a, "bob", "c2", 1)
	checkDelivered(t, a, "alice", "c1", 0)
}

// testAckReceivedSeq checks that ReceivedSeq names the newest message the
// user did not send among those an ack newly delivered to the user.
func testAckReceivedSeq(t *testing.T, s store.Store) {
	a := s.App("A")
	sys := draft("c1", "", "sys", 6)
	sys.ClientMsgID = "" // a system message
	appendAll(t, a,
		draft("c1", "alice", "a1", 1), // 1
		draft("c1", "bob", "b2", 2),   // 2
		draft("c1", "bob", "b3", 3),   // 3
		draft("c1", "alice", "a4", 4), // 4
		draft("c1", "bob", "b5", 5),   // 5
		sys,                           // 6
		draft("c1", "bob", "b7", 7),   // 7
		draft("c1", "bob", "b8", 8),   // 8
		draft("c1", "alice", "a9", 9), // 9
	)
	ackSteps(t, a, []ackStep{
		{ack("d1", "c1", 1), store.AckResult{DeviceSeq: 1, UserPrev: 0, UserSeq: 1, ReceivedSeq: 1}},
		// Over bob's own messages only: nothing new for the others.
		{ack("d1", "c1", 3), store.AckResult{DeviceSeq: 3, UserPrev: 1, UserSeq: 3}},
		// Over alice's 4 and bob's 5: the newest not from bob is 4.
		{ack("d1", "c1", 5), store.AckResult{DeviceSeq: 5, UserPrev: 3, UserSeq: 5, ReceivedSeq: 4}},
		// Another device catching up moves nothing.
		{ack("d2", "c1", 5), store.AckResult{DeviceSeq: 5, UserPrev: 5, UserSeq: 5}},
		// A system message (no sender) is not bob's.
		{ack("d2", "c1", 7), store.AckResult{DeviceSeq: 7, UserPrev: 5, UserSeq: 7, ReceivedSeq: 6}},
	})
	// In one batch each ack's range starts where the previous one left the
	// user's cursor.
	acks := []store.DeliveryAck{ack("d1", "c1", 8), ack("d2", "c1", 9), ack("d1", "c1", 9)}
	want := []store.AckResult{
		{DeviceSeq: 8, UserPrev: 7, UserSeq: 8},
		{DeviceSeq: 9, UserPrev: 8, UserSeq: 9, ReceivedSeq: 9},
		{DeviceSeq: 9, UserPrev: 9, UserSeq: 9},
	}
	got, err := a.AckDelivered(t.Context(), acks)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("AckDelivered(%+v) = %+v, %v, want %+v", acks, got, err, want)
	}
	// alice's cursor moving over her own messages and bob's.
	ackSteps(t, a, []ackStep{
		{store.DeliveryAck{UserID: "alice", DeviceID: "p", ConvID: "c1", Seq: 1}, store.AckResult{DeviceSeq: 1, UserPrev: 0, UserSeq: 1}},
		{store.DeliveryAck{UserID: "alice", DeviceID: "p", ConvID: "c1", Seq: 9}, store.AckResult{DeviceSeq: 9, UserPrev: 1, UserSeq: 9, ReceivedSeq: 8}},
	})
}

func testMarkRead(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "c1", 5) // alice sends, bob reads
	tests := []struct {
		seq   int64
		want  int64
		moved bool
	}{
		{3, 3, true},
		{2, 3, false}, // never back
		{99, 5, true}, // clamped
		{5, 5, false},
		{0, 5, false},
	}
	for _, tc := range tests {
		got, moved, err := a.MarkRead(ctx, "bob", "c1", tc.seq)
		if err != nil || got != tc.want || moved != tc.moved {
			t.Errorf("MarkRead(bob, c1, %d) = %d, %v, %v, want %d, %v", tc.seq, got, moved, err, tc.want, tc.moved)
		}
	}
	if uc := userConv(t, a, "bob", "c1"); uc.ReadSeq != 5 || uc.Unread() != 0 {
		t.Errorf("bob's c1: ReadSeq %d, Unread() %d, want 5, 0", uc.ReadSeq, uc.Unread())
	}
	got, moved, err := a.MarkRead(ctx, "alice", "c1", 5) // the sender has read her own messages
	if err != nil || got != 5 || moved {
		t.Errorf("MarkRead(alice, c1, 5) = %d, %v, %v, want 5, false", got, moved, err)
	}
	_, _, err = a.MarkRead(ctx, "carol", "c1", 1)
	wantErr(t, err, store.ErrNotFound, "MarkRead(carol, c1) by a non-member")
	_, _, err = a.MarkRead(ctx, "bob", "c9", 1)
	wantErr(t, err, store.ErrNotFound, "MarkRead(bob, c9) of a missing conversation")
}
