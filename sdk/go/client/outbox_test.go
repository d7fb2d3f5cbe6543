package client

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// queueN queues n messages to "bob" with contents "1".."n".
func queueN(t *testing.T, b *outbox, n int) []*Outgoing {
	t.Helper()
	outs := make([]*Outgoing, n)
	for i := range outs {
		outs[i] = &Outgoing{id: fmt.Sprint("id", i+1), to: "bob", typ: "text", content: fmt.Sprint(i + 1), done: make(chan struct{})}
		if err := b.add(outs[i], time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { b.close(ErrClosed) })
	return outs
}

// contents returns the contents of the attempts, in order.
func contents(batch []attempt) []string {
	out := make([]string, len(batch))
	for i, a := range batch {
		out[i] = a.o.content
	}
	return out
}

// dueAt calls b.due and fails the test on an error.
func dueAt(t *testing.T, b *outbox, s *session, now time.Time) ([]string, time.Duration) {
	t.Helper()
	batch, wait, err := b.due(s, now, time.Second)
	if err != nil {
		t.Fatalf("due at %v: %v", now, err)
	}
	return contents(batch), wait
}

func TestOutboxSendsAWindowInOrder(t *testing.T) {
	b := newOutbox(4, time.Millisecond, time.Millisecond)
	outs := queueN(t, b, 10)
	s := &session{}
	t0 := time.Unix(1000, 0)

	if got, wait := dueAt(t, b, s, t0); !slices.Equal(got, []string{"1", "2", "3", "4"}) || wait != time.Second {
		t.Fatalf("first due = %v, wait %v; want 1..4 and the timeout", got, wait)
	}
	if got, _ := dueAt(t, b, s, t0); len(got) != 0 {
		t.Fatalf("due with a full window = %v, want nothing", got)
	}
	b.finish(outs[0], SendResult{Seq: 1}, nil)
	b.finish(outs[1], SendResult{Seq: 2}, nil)
	if got, _ := dueAt(t, b, s, t0); !slices.Equal(got, []string{"5", "6"}) {
		t.Fatalf("due after two acks = %v, want 5, 6", got)
	}

	// A new session sends the whole window again from the head, in order,
	// before anything newer.
	s2 := &session{}
	if got, _ := dueAt(t, b, s2, t0); !slices.Equal(got, []string{"3", "4", "5", "6"}) {
		t.Fatalf("due on a new session = %v, want 3..6 again", got)
	}
}

func TestOutboxStuckSession(t *testing.T) {
	b := newOutbox(4, time.Millisecond, time.Millisecond)
	outs := queueN(t, b, 6)
	s := &session{}
	t0 := time.Unix(1000, 0)
	dueAt(t, b, s, t0) // 1..4 in flight

	// Answers keep coming slowly (a server pushing back on its send rate):
	// the messages behind them are not overdue, however long they wait.
	for i, at := range []time.Duration{900 * time.Millisecond, 1800 * time.Millisecond} {
		b.replied(s, t0.Add(at))
		b.finish(outs[i], SendResult{Seq: int64(i + 1)}, nil)
		if got, wait := dueAt(t, b, s, t0.Add(at)); len(got) != 1 || wait <= 0 {
			t.Fatalf("due after reply %d = %v, wait %v; want the next message", i+1, got, wait)
		}
	}
	if _, _, err := b.due(s, t0.Add(2700*time.Millisecond), time.Second); err != nil {
		t.Fatalf("due 0.9 s after the last reply = %v, want no error", err)
	}
	// No answer for the timeout: the session must end.
	_, _, err := b.due(s, t0.Add(2800*time.Millisecond), time.Second)
	if !errors.Is(err, errRequestTimeout) {
		t.Fatalf("due 1 s after the last reply = %v, want errRequestTimeout", err)
	}
	if got, _ := dueAt(t, b, &session{}, t0.Add(3*time.Second)); !slices.Equal(got, []string{"3", "4", "5", "6"}) {
		t.Fatalf("due on the next session = %v, want 3..6", got)
	}
}

func TestOutboxRetryableError(t *testing.T) {
	errBusy := &Error{Code: "unavailable", Retryable: true}
	t.Run("later messages in flight", func(t *testing.T) {
		b := newOutbox(4, time.Millisecond, time.Millisecond)
		outs := queueN(t, b, 6)
		s := &session{}
		t0 := time.Unix(1000, 0)
		batch, _, _ := b.due(s, t0, time.Second)
		if !b.retry(outs[1], s, batch[1].id, errBusy) {
			t.Fatal("retry of 2 with 3 and 4 in flight = false, want a reconnect")
		}
		// An attempt that is not the latest is ignored.
		if b.retry(outs[2], s, batch[2].id+100, errBusy) {
			t.Error("retry of a stale attempt = true")
		}
		if got, _ := dueAt(t, b, &session{}, t0); !slices.Equal(got, []string{"1", "2", "3", "4"}) {
			t.Fatalf("due on the next session = %v, want 1..4", got)
		}
	})
	t.Run("last message in flight", func(t *testing.T) {
		b := newOutbox(4, time.Second, time.Second)
		outs := queueN(t, b, 6)
		s := &session{}
		t0 := time.Now()
		batch, _, _ := b.due(s, t0, time.Minute)
		b.finish(outs[0], SendResult{Seq: 1}, nil)
		b.finish(outs[1], SendResult{Seq: 2}, nil)
		b.finish(outs[2], SendResult{Seq: 3}, nil)
		// 4 is the only message in flight; 5 and 6 are not sent yet.
		if b.retry(outs[3], s, batch[3].id, errBusy) {
			t.Fatal("retry of the last message in flight = true, want a retry in place")
		}
		// 4 backs off (up to 1 s) and nothing overtakes it meanwhile.
		got, wait := dueAt(t, b, s, t0)
		if len(got) != 0 && !slices.Equal(got, []string{"4", "5", "6"}) {
			t.Fatalf("due while 4 backs off = %v, want nothing, or 4 first", got)
		}
		if len(got) == 0 {
			if wait < 0 || wait > time.Second {
				t.Fatalf("wait while 4 backs off = %v, want at most 1 s", wait)
			}
			got, _ = dueAt(t, b, s, t0.Add(time.Second))
			if !slices.Equal(got, []string{"4", "5", "6"}) {
				t.Fatalf("due after the backoff = %v, want 4, 5, 6", got)
			}
		}
	})
}
