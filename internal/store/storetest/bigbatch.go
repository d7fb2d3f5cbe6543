package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// testBigBatchesFoldCursors: a batch far larger than a few cursors (a
// backed-up queue commits thousands at once) still folds the same sender's
// read marks and the same device's acks into one cursor each.
func testBigBatchesFoldCursors(t *testing.T, s store.Store) {
	a := s.App("A")
	const pairs = 48
	var ids []string
	for i := range 2 * pairs {
		ids = append(ids, fmt.Sprintf("u%03d", i))
	}
	createUsers(t, a, ids...)
	conv := func(i int) string { return fmt.Sprintf("p:%s:%s", ids[2*i], ids[2*i+1]) }
	at := time.UnixMilli(1_700_000_000_000)
	// Each pair's first user sends twice, in two rounds, all in one batch.
	var drafts []store.Draft
	for round := range 2 {
		for i := range pairs {
			drafts = append(drafts, store.Draft{ConvID: conv(i), Members: []string{ids[2*i+1]}, SenderID: ids[2*i],
				ClientMsgID: fmt.Sprintf("m%d-%d", round, i), Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: at})
		}
	}
	out, err := a.AppendMessages(t.Context(), drafts)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if want := int64(i/pairs + 1); o.Seq != want {
			t.Fatalf("draft %d got seq %d, want %d", i, o.Seq, want)
		}
	}
	// Each recipient's device acks 1, then 2, in one batch.
	var acks []store.DeliveryAck
	for seq := int64(1); seq <= 2; seq++ {
		for i := range pairs {
			acks = append(acks, store.DeliveryAck{UserID: ids[2*i+1], DeviceID: "d1", ConvID: conv(i), Seq: seq})
		}
	}
	res, err := a.AckDelivered(t.Context(), acks)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range res {
		want := int64(j/pairs + 1)
		if r.DeviceSeq != want || r.UserSeq != want || r.UserPrev != want-1 || r.ReceivedSeq != want {
			t.Fatalf("ack %d = %+v, want device, user and received seq %d after %d", j, r, want, want-1)
		}
	}
	for i := range pairs {
		sender, err := a.GetUserConversation(t.Context(), ids[2*i], conv(i))
		if err != nil {
			t.Fatal(err)
		}
		rcpt, err := a.GetUserConversation(t.Context(), ids[2*i+1], conv(i))
		if err != nil {
			t.Fatal(err)
		}
		if sender.ReadSeq != 2 || rcpt.DeliveredSeq != 2 {
			t.Fatalf("pair %d: sender read %d, recipient delivered %d; want 2 and 2", i, sender.ReadSeq, rcpt.DeliveredSeq)
		}
		cur, err := a.GetDeviceCursors(t.Context(), ids[2*i+1], "d1")
		if err != nil {
			t.Fatal(err)
		}
		if cur[conv(i)] != 2 {
			t.Fatalf("pair %d: device cursor %d, want 2", i, cur[conv(i)])
		}
	}
}
