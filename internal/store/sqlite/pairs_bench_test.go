package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// BenchmarkPairs is the store's share of the load tool's one-to-one shape:
// many users in pairs, each batch holding one message per conversation
// (batches form across users, not within one sender's window), and every
// message acknowledged by its recipient's device in the next ack batch.
// One op is one message: appended, then acknowledged.
func BenchmarkPairs(b *testing.B) { benchmarkPairs(b, false) }

// BenchmarkPairsConcurrent is BenchmarkPairs with the appends and the acks
// on two goroutines, as the messaging layer's two committers run: batch i's
// acks are committed while batch i+1 is appended, so the two can share a
// commit.
func BenchmarkPairsConcurrent(b *testing.B) { benchmarkPairs(b, true) }

func benchmarkPairs(b *testing.B, concurrent bool) {
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
	// The write-ahead log is never checkpointed, so its size at the end is
	// what the benchmark wrote: a measure of the commits' cost that does
	// not depend on the machine's load.
	if _, err := s.write.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		b.Fatal(err)
	}
	drafts := make([]store.Draft, batch)
	// appendNext appends the next batch and returns its recipients' acks.
	appendNext := func() []store.DeliveryAck {
		next(drafts)
		out, err := a.AppendMessages(ctx, drafts)
		if err != nil {
			b.Fatal(err)
		}
		return acks(drafts, out)
	}
	ack := func(as []store.DeliveryAck) error {
		_, err := a.AckDelivered(ctx, as)
		return err
	}
	// History: 100 messages per conversation, acknowledged.
	for range 100 * pairs / batch {
		if err := ack(appendNext()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	wal0, commits0 := walSize(b, s), s.commits.Load()
	b.ResetTimer()
	if concurrent {
		pending := make(chan []store.DeliveryAck, 1)
		done := make(chan error, 1)
		go func() {
			var err error
			for as := range pending {
				if err == nil {
					err = ack(as)
				}
			}
			done <- err
		}()
		for i := 0; i < b.N; i += batch {
			pending <- appendNext()
		}
		close(pending)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	} else {
		for i := 0; i < b.N; i += batch {
			if err := ack(appendNext()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.StopTimer()
	b.ReportMetric(float64(walSize(b, s)-wal0)/float64(b.N), "wal-B/msg")
	b.ReportMetric(float64(s.commits.Load()-commits0)/float64(b.N)*1000, "commits/1k-msgs")
}

// walSize returns the size of the store's write-ahead log file.
func walSize(b *testing.B, s *Store) int64 {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
