package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// BenchmarkPairs is the store's share of the load tool's one-to-one shape:
// many users in pairs, each batch holding one message per conversation
// (batches form across users, not within one sender's window), and every
// message acknowledged by its recipient's device in the next ack batch.
// One op is one message: appended, then acknowledged.
func BenchmarkPairs(b *testing.B) {
	const pairs, batch = 500, 256
	s := openTemp(b)
	a := s.App("bench")
	ctx := context.WithoutCancel(b.Context()) // as the committers call the store: no watcher per statement
	created := time.UnixMilli(1_700_000_000_000)
	users := make([]store.User, 2*pairs)
	for i := range users {
		users[i] = store.User{ID: fmt.Sprintf("u%d", i), CreatedAt: created, UpdatedAt: created}
	}
	if _, err := a.CreateUsers(ctx, users); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"text":"hello, this is a typical short chat message of about one hundred bytes, give or take"}`)
	n := 0
	next := func(drafts []store.Draft) {
		for i := range drafts {
			n++
			p := n % pairs
			from, to := 2*p, 2*p+1
			if n/pairs%2 == 1 {
				from, to = to, from
			}
			drafts[i] = store.Draft{
				ConvID: fmt.Sprintf("p:u%d:u%d", 2*p, 2*p+1), Members: []string{users[to].ID},
				SenderID: users[from].ID, ClientMsgID: fmt.Sprintf("m%d", n),
				Type: "text", Body: body, CreatedAt: created,
			}
		}
	}
	acks := func(drafts []store.Draft, out []store.Appended) []store.DeliveryAck {
		as := make([]store.DeliveryAck, len(drafts))
		for i, d := range drafts {
			as[i] = store.DeliveryAck{UserID: d.Members[0], DeviceID: "d1", ConvID: d.ConvID, Seq: out[i].Seq}
		}
		return as
	}
	drafts := make([]store.Draft, batch)
	// History: 100 messages per conversation, acknowledged.
	for range 100 * pairs / batch {
		next(drafts)
		out, err := a.AppendMessages(ctx, drafts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.AckDelivered(ctx, acks(drafts, out)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		next(drafts)
		out, err := a.AppendMessages(ctx, drafts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.AckDelivered(ctx, acks(drafts, out)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
