package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// doneLog records, in order, the Committed and Done calls of sends that do
// not wait.
type doneLog struct {
	mu    sync.Mutex
	calls []string
	done  chan struct{} // one per Done call
}

func (l *doneLog) request(req messaging.SendRequest) messaging.SendRequest {
	id := req.ClientMsgID
	req.Committed = func(a store.Appended) { l.add(fmt.Sprintf("committed %s %d", id, a.Seq)) }
	req.Done = func(a store.Appended, err error) {
		if err != nil {
			var me *messaging.Error
			if errors.As(err, &me) {
				err = errors.New(me.Code)
			}
			l.add(fmt.Sprintf("done %s %v", id, err))
		} else {
			l.add(fmt.Sprintf("done %s %d", id, a.Seq))
		}
		l.done <- struct{}{}
	}
	return req
}

func (l *doneLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

// TestSubmitDoneHoldsNoGoroutine: sends submitted with Done wait for their
// commit without a goroutine each; each gets Committed, then Done, in
// commit order, once the store takes them.
func TestSubmitDoneHoldsNoGoroutine(t *testing.T) {
	g := newGatedStore() // released before the service stops (newServiceOn)
	s, _, _, _ := newServiceOn(t, messaging.Config{},
		func(st store.Store) store.Store { g.Store = st; return g }, "alice", "bob")
	ctx := context.Background()
	const n = 200
	l := &doneLog{done: make(chan struct{}, n)}
	before := runtime.NumGoroutine()
	for i := range n {
		p, err := s.Submit(ctx, l.request(text("alice", "bob", fmt.Sprint("c", i), "hi")))
		if err != nil || p != nil {
			t.Fatalf("Submit(c%d) = %v, %v; want no Pending, no error", i, p, err)
		}
		if i == 0 {
			recv(t, g.entered, "c0's commit") // c0 is in a commit, held; the rest queue behind it
		}
	}
	if grew := runtime.NumGoroutine() - before; grew > n/10 {
		t.Fatalf("%d sends in flight hold %d more goroutines", n, grew)
	}
	g.release()
	for range n {
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Fatal("not every Done was called")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) != 2*n {
		t.Fatalf("%d calls, want %d", len(l.calls), 2*n)
	}
	// Per message: Committed before Done; across messages, commit order.
	next := map[string]int{}
	seq := 0
	for _, c := range l.calls {
		var kind, id string
		var got int
		if _, err := fmt.Sscanf(c, "%s %s %d", &kind, &id, &got); err != nil {
			t.Fatalf("call %q: %v", c, err)
		}
		if kind == "committed" {
			seq++
			if got != seq || id != fmt.Sprint("c", seq-1) {
				t.Fatalf("call %q, want committed c%d %d", c, seq-1, seq)
			}
		}
		if next[id]++; (kind == "committed") != (next[id] == 1) {
			t.Fatalf("call %q out of order: %q", c, l.calls)
		}
	}
}

// TestSubmitDoneReportsFailures: a send refused before anything was queued
// returns its error and never calls Done; one that fails later (the hook
// rejects it) reports through Done, on moderation's goroutine, before the
// session's next message is queued (without an Order, the two would race).
func TestSubmitDoneReportsFailures(t *testing.T) {
	pol := newPolicy(true)
	s, _, _, _ := newServiceWith(t, messaging.Config{Moderator: moderator{pol}}, "alice", "bob")
	ctx := context.Background()
	l := &doneLog{done: make(chan struct{}, 4)}
	if p, err := s.Submit(ctx, l.request(text("alice", "nobody", "c1", "hi"))); err == nil || p != nil {
		t.Fatalf("Submit to no user = %v, %v; want an error", p, err)
	}
	session := &messaging.Order{}
	for _, id := range []string{"c2", "c3"} {
		content := map[string]string{"c2": "hook-reject", "c3": "hook-allow"}[id]
		req := l.request(text("alice", "bob", id, content))
		req.Order = session
		if p, err := s.Submit(ctx, req); err != nil || p != nil {
			t.Fatalf("Submit(%s) = %v, %v", id, p, err)
		}
	}
	<-l.done
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	want := fmt.Sprint([]string{"done c2 " + messaging.CodeMessageRejected, "committed c3 1", "done c3 1"})
	if got := fmt.Sprint(l.calls); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
}

// TestAckDeliveredFunc: a device's ack recorded without waiting reports
// once it is durable; a bad one is refused at once and reports nothing.
func TestAckDeliveredFunc(t *testing.T) {
	s, _, _, _ := newService(t, "alice", "bob")
	ctx := context.Background()
	if _, err := s.Send(ctx, text("alice", "bob", "c1", "hi")); err != nil {
		t.Fatal(err)
	}
	conv := messaging.P2PConvID("alice", "bob")
	done := make(chan error, 1)
	never := func(error) { t.Error("done called for a refused ack") }
	if err := s.AckDeliveredFunc(ctx, "A", "bob", "bob-dev", nil, never); err == nil {
		t.Fatal("an ack with no cursors was taken")
	}
	if err := s.AckDeliveredFunc(ctx, "A", "carol", "carol-dev", []messaging.Cursor{{ConvID: conv, Seq: 1}}, never); err == nil {
		t.Fatal("an ack of someone else's conversation was taken")
	}
	if err := s.AckDeliveredFunc(ctx, "A", "bob", "bob-dev", []messaging.Cursor{{ConvID: conv, Seq: 1}},
		func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("done = %v", err)
	}
	convs, err := s.ConversationsByID(ctx, "A", "bob", "bob-dev", []string{conv})
	if err != nil || len(convs) != 1 || convs[0].DeviceDeliveredSeq != 1 {
		t.Fatalf("bob's conversation after the ack = %+v, %v; want delivered up to 1", convs, err)
	}
}
