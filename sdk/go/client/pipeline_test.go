package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// These tests send bursts to one recipient against the real server: the
// client pipelines them (Config.SendWindow in flight), and the server must
// give them seqs in the order sent, through its send rate push-back and a
// connection cut in the middle.

func TestBurstArrivesInOrderOnce(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		rate  float64 // the app's send rate; 0 keeps the default, 50/s with a burst of 100
		burst int
	}{
		{"default limits", 200, 0, 0},
		{"send rate 5000 burst 100", 1000, 5000, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, "alice", "bob")
			if tt.rate > 0 {
				e.setSendLimit(tt.rate, tt.burst)
			}
			alice := e.newClient("alice", "alice-phone", "", nil)
			bob := e.newClient("bob", "bob-phone", "", nil)
			run(t, alice)
			run(t, bob)
			next[client.Connected](t, alice)
			next[client.Connected](t, bob)

			outs := sendBurst(t, alice, "bob", tt.n)
			waitBurst(t, outs)
			got := collect(t, bob, tt.n)
			checkBurst(t, alice, bob, got, tt.n)
		})
	}
}

func TestBurstSurvivesConnectionCut(t *testing.T) {
	tests := []struct {
		name         string
		n            int
		rate         float64 // the app's send rate; 0 keeps the default, 50/s with a burst of 100
		burst        int
		ackedAt, got int // cut once ackedAt sends are acknowledged and bob holds got
	}{
		{"send rate 5000 burst 100", 1000, 5000, 100, 300, 310},
		{"default limits", 200, 0, 0, 120, 125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { burstSurvivesCut(t, tt.n, tt.rate, tt.burst, tt.ackedAt, tt.got) })
	}
}

func burstSurvivesCut(t *testing.T, n int, rate float64, burst, ackedAt, bobHolds int) {
	e := startEnv(t, "alice", "bob")
	if rate > 0 {
		e.setSendLimit(rate, burst)
	}
	p := newProxy(t, e.addr)
	alice := e.newClient("alice", "alice-phone", p.URL(), nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, alice)
	run(t, bob)
	next[client.Connected](t, alice)
	next[client.Connected](t, bob)

	outs := sendBurst(t, alice, "bob", n)
	// Once ackedAt are acknowledged, the acknowledgements stop reaching
	// alice: the server goes on storing the window in flight (32 more at
	// most) and nothing more. Cut the connection once bob has some of
	// those, in the middle of the burst.
	select {
	case <-outs[ackedAt-1].Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the first %d sends were not acknowledged", ackedAt)
	}
	p.setBlackhole(true)
	got := collect(t, bob, bobHolds)
	select {
	case <-outs[n-1].Done():
		t.Fatal("the burst was over before the cut")
	default:
	}
	p.sever()
	p.setBlackhole(false)

	dups := waitBurst(t, outs)
	rest := collect(t, bob, n-len(got))
	checkBurst(t, alice, bob, append(got, rest...), n)
	// Usually part of the window in flight at the cut was stored but not
	// acknowledged, and sent again: the server answered with the original
	// seqs. (Not asserted: acknowledgements already past the proxy when
	// the blackhole starts may cover the whole window.)
	t.Logf("%d messages sent again after the cut were duplicates", dups)
}

// sendBurst queues n messages from c to user, with contents "1".."n".
func sendBurst(t *testing.T, c *client.Client, to string, n int) []*client.Outgoing {
	t.Helper()
	outs := make([]*client.Outgoing, n)
	for i := range outs {
		o, err := c.SendAsync(to, "text", fmt.Sprint(i+1))
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = o
	}
	return outs
}

// waitBurst waits for the sends of a burst and checks that they got seqs
// 1..n in order; it returns how many were duplicates.
func waitBurst(t *testing.T, outs []*client.Outgoing) (dups int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, o := range outs {
		res, err := o.Wait(ctx)
		if err != nil || res.Seq != int64(i+1) {
			t.Fatalf("send %d = %+v, %v; want seq %d", i+1, res, err, i+1)
		}
		if res.Duplicate {
			dups++
		}
	}
	return dups
}

// collect returns the next n messages of c, skipping other events, each
// within 10 s.
func collect(t *testing.T, c *client.Client, n int) []client.Message {
	t.Helper()
	msgs := make([]client.Message, 0, n)
	for len(msgs) < n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ev, err := c.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(msgs), n, err)
		}
		if m, ok := ev.(client.Message); ok {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// checkBurst checks that bob received the n messages of alice's burst in
// order with contiguous seqs, that alice's own timeline has them too, and
// that neither sees any of them again: the next message both see is one
// sent after the burst.
func checkBurst(t *testing.T, alice, bob *client.Client, got []client.Message, n int) {
	t.Helper()
	check := func(who string, msgs []client.Message) {
		t.Helper()
		for i, m := range msgs {
			if m.Seq != int64(i+1) || m.Content != fmt.Sprint(i+1) || m.SenderID != "alice" {
				t.Fatalf("%s's message %d = seq %d %q from %s, want seq %d %q from alice", who, i+1, m.Seq, m.Content, m.SenderID, i+1, fmt.Sprint(i+1))
			}
		}
	}
	check("bob", got)
	own := collect(t, alice, n)
	check("alice", own)
	if _, err := alice.Send(context.Background(), "bob", "text", "end"); err != nil {
		t.Fatal(err)
	}
	for who, c := range map[string]*client.Client{"alice": alice, "bob": bob} {
		if m := collect(t, c, 1); m[0].Seq != int64(n+1) || m[0].Content != "end" {
			t.Fatalf("%s's message after the burst = seq %d %q, want seq %d \"end\"", who, m[0].Seq, m[0].Content, n+1)
		}
	}
}
