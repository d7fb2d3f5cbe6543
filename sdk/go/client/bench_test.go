package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// BenchmarkBurstToOneRecipient measures how fast one client gets a burst
// of messages to one recipient acknowledged and delivered, against the
// real embedded server: one op is a burst of 1,000 SendAsync calls, waited
// for until the server acknowledged every message and the recipient's
// client returned every one of them. The server's send rate limit is
// raised out of the way. rtt is added by a loopback proxy on the sender's
// connection (0: plain loopback, where the round trip is mostly the
// server's commit); window is the sender's Config.SendWindow (1 sends one
// message at a time, as the client did before it pipelined).
func BenchmarkBurstToOneRecipient(b *testing.B) {
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		for _, window := range []int{1, 32, 128} {
			b.Run(fmt.Sprintf("rtt=%v/window=%d", rtt, window), func(b *testing.B) { benchBurst(b, 1000, rtt, window) })
		}
	}
}

func benchBurst(b *testing.B, n int, rtt time.Duration, window int) {
	e := startEnv(b, "alice", "bob")
	e.setSendLimit(1e6, 1e6)
	url := ""
	if rtt > 0 {
		url = newDelayProxy(b, e.addr, rtt/2).URL()
	}
	alice := e.newClient("alice", "alice-phone", url, func(c *client.Config) { c.SendWindow = window })
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(b, alice)
	run(b, bob)
	next[client.Connected](b, alice)
	next[client.Connected](b, bob)
	ctx := context.Background()
	outs := make([]*client.Outgoing, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range outs {
			o, err := alice.SendAsync("bob", "text", fmt.Sprintf("%d/%d", i, j))
			if err != nil {
				b.Fatal(err)
			}
			outs[j] = o
		}
		for _, o := range outs {
			if _, err := o.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		got := nextMessages(b, bob, n)
		b.StopTimer()
		for j, m := range got {
			if want := fmt.Sprintf("%d/%d", i, j); m.Content != want || m.Seq != int64(i*n+j+1) {
				b.Fatalf("bob's message %d = seq %d %q, want seq %d %q", j, m.Seq, m.Content, i*n+j+1, want)
			}
		}
		nextMessages(b, alice, n) // alice's own copies, drained outside the timing
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
