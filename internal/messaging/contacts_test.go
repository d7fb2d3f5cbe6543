package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// gate refuses what its verdicts say and records what it was asked.
type gate struct {
	mu    sync.Mutex
	asked []string
	deny  map[string]string // "from>to" -> code
}

func (g *gate) CheckSend(_ context.Context, app, from, to string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, app+":"+from+">"+to)
	if c := g.deny[from+">"+to]; c != "" {
		return messaging.NewError(c, "refused")
	}
	return nil
}

func TestContactGate(t *testing.T) {
	g := &gate{deny: map[string]string{"bob>alice": messaging.CodeBlocked, "carol>alice": messaging.CodeNotFriends}}
	s, r, _, st := newServiceWith(t, messaging.Config{Contacts: g}, "alice")
	ctx := context.Background()
	for from, want := range map[string]string{"bob": messaging.CodeBlocked, "carol": messaging.CodeNotFriends} {
		_, err := s.Send(ctx, text(from, "alice", "x-"+from, "hi"))
		var me *messaging.Error
		if !errors.As(err, &me) || me.Code != want {
			t.Errorf("Send from %s = %v, want %s", from, err, want)
		}
	}
	if msgs, _ := r.take(); len(msgs) != 0 {
		t.Errorf("refused messages were delivered: %v", msgs)
	}
	if c, err := st.App("A").GetConversation(ctx, messaging.P2PConvID("alice", "bob")); err == nil && c.MaxSeq != 0 {
		t.Errorf("a refused message was stored: %+v", c)
	}
	if _, err := s.Send(ctx, text("alice", "bob", "ok", "hi")); err != nil {
		t.Errorf("allowed send: %v", err)
	}
	// System messages are not asked about.
	if _, err := s.Send(ctx, messaging.SendRequest{AppID: "A", ToUserID: "alice", System: true, ClientMsgID: "sys",
		Type: "text", Content: "hi"}); err != nil {
		t.Errorf("system send: %v", err)
	}
	g.mu.Lock()
	asked := fmt.Sprint(g.asked)
	g.mu.Unlock()
	if asked != "[A:bob>alice A:carol>alice A:alice>bob]" && asked != "[A:carol>alice A:bob>alice A:alice>bob]" {
		t.Errorf("gate asked %s", asked)
	}
	// Removing the gate.
	s.SetContactGate(nil)
	if _, err := s.Send(ctx, text("bob", "alice", "after", "hi")); err != nil {
		t.Errorf("send without a gate: %v", err)
	}
}

// BenchmarkSendContacts is BenchmarkSend with the contacts service as the
// gate (verdicts from its cache, the app's only-friends setting on and
// every pair friends), to compare with BenchmarkSend.
func BenchmarkSendContacts(b *testing.B) {
	for _, senders := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			s, _, _, st := newService(b)
			ctx := context.Background()
			cs := contacts.New(st, s, contacts.Config{Settings: func(context.Context, string) (store.Settings, error) {
				return store.Settings{OnlyFriendsMessage: true}, nil
			}})
			for _, p := range [][2]string{{"alice", "bob"}, {"bob", "carol"}, {"carol", "alice"}} {
				if _, err := cs.AddFriend(ctx, "A", p[0], p[1]); err != nil {
					b.Fatal(err)
				}
			}
			s.SetContactGate(cs)
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(senders/max(1, runtimeProcs()), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					users := [3]string{"alice", "bob", "carol"}
					req := text(users[i%3], users[(i+1)%3], fmt.Sprint("b", i), "benchmark message")
					if _, err := s.Send(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkContactCheck measures the gate alone: a cached verdict.
func BenchmarkContactCheck(b *testing.B) {
	_, _, _, st := newService(b)
	cs := contacts.New(st, nil, contacts.Config{Settings: func(context.Context, string) (store.Settings, error) {
		return store.Settings{OnlyFriendsMessage: true}, nil
	}})
	ctx := context.Background()
	if err := st.App("A").AddFriendship(ctx, "alice", "bob", time.UnixMilli(1), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := cs.CheckSend(ctx, "A", "alice", "bob"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
