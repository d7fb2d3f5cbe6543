package node

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/rooms"
)

// TestRelayMessageRoundTrip: a message survives the relay's wire form
// intact, recall time included.
func TestRelayMessageRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	for _, m := range []store.Message{
		{ConvID: "p:a:b", Seq: 7, SenderID: "a", ClientMsgID: "c1", Type: "text", Body: []byte("hi"), CreatedAt: at},
		{ConvID: "p:a:b", Seq: 8, SenderID: "b", Type: "custom", Body: []byte(`{"k":1}`), CreatedAt: at, RecalledAt: at.Add(time.Second)},
		{ConvID: "g:crew", Seq: 9, SenderID: "b", Type: "text", Body: []byte("@a"), CreatedAt: at, EditedAt: at.Add(time.Minute),
			Mentions: []string{"a", "c"}, MentionAll: true},
	} {
		b, err := json.Marshal(toRelayMessage(&m))
		if err != nil {
			t.Fatal(err)
		}
		var rm relayMessage
		if err := json.Unmarshal(b, &rm); err != nil {
			t.Fatal(err)
		}
		got := rm.message()
		if got.ConvID != m.ConvID || got.Seq != m.Seq || got.SenderID != m.SenderID || got.ClientMsgID != m.ClientMsgID ||
			got.Type != m.Type || string(got.Body) != string(m.Body) || !got.CreatedAt.Equal(m.CreatedAt) || !got.RecalledAt.Equal(m.RecalledAt) ||
			!got.EditedAt.Equal(m.EditedAt) || !slices.Equal(got.Mentions, m.Mentions) || got.MentionAll != m.MentionAll {
			t.Fatalf("round trip of %+v = %+v", m, got)
		}
	}
}

// FuzzHandleRelay: whatever a relay holds, applying it on a node neither
// panics nor blocks.
func FuzzHandleRelay(f *testing.F) {
	seed, err := json.Marshal(relayEnvelope{
		Deliveries: []relayDelivery{
			{AppID: "app", Msg: relayMessage{ConvID: "p:a:b", Seq: 1, Body: []byte("x")}, To: []relayTo{{UserID: "b"}}},
			{AppID: "app", Msg: relayMessage{ConvID: "g:big", Seq: 1, Body: []byte("y")}, To: []relayTo{{UserID: "b"}}, Bulk: true},
		},
		Receipts: []relayReceipt{{AppID: "app", To: "a", Kind: int(messaging.ReceiptDelivered), ConvID: "p:a:b", Seq: 1, UserID: "b"}},
		Kicks:    []relayKick{{AppID: "app", UserID: "a", SessionID: "ses_1"}},
		RoomMessages: []relayRoomMessages{{AppID: "app", RoomID: "live", Msgs: []relayRoomMessage{{Seq: 3,
			Message: rooms.Message{SenderID: "a", ClientMsgID: "c1", Type: "text", Content: "hi"}}}}},
		RoomLeaves: []relayRoomLeave{{AppID: "app", RoomID: "live", UserID: "a", Why: int(rooms.Kicked)}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"d":[{"a":"","m":{"c":"","s":-1,"t":-9223372036854775808},"t":null}],"r":[{"k":99}]}`))
	f.Add([]byte(`not json`))
	h := NewHub(nil, nil)
	f.Fuzz(func(t *testing.T, msg []byte) {
		h.HandleRelay(context.Background(), msg)
	})
}
