package messaging

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// fakeTimers stands in for time.AfterFunc: timers never fire by
// themselves; the tests read their deadlines.
type fakeTimers struct {
	now time.Time
	ts  []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, gone bool
}

func (t *fakeTimer) Stop() bool {
	if t.stopped || t.gone {
		return false
	}
	t.stopped = true
	return true
}

func (ft *fakeTimers) after(d time.Duration, f func()) stopper {
	t := &fakeTimer{at: ft.now.Add(d), f: f}
	ft.ts = append(ft.ts, t)
	return t
}

func (ft *fakeTimers) active() []*fakeTimer {
	var out []*fakeTimer
	for _, t := range ft.ts {
		if !t.stopped && !t.gone {
			out = append(out, t)
		}
	}
	return out
}

func newTestWatch(timeout time.Duration) (*deliveryWatch, *fakeTimers) {
	return newTestWatchMetrics(timeout, nil)
}

func newTestWatchMetrics(timeout time.Duration, m *telemetry.Metrics) (*deliveryWatch, *fakeTimers) {
	ft := &fakeTimers{now: time.Unix(1_700_000_000, 0)}
	w := newDeliveryWatch(&Service{cfg: Config{Now: time.Now, Metrics: m}}, timeout, 100)
	w.now, w.after = func() time.Time { return ft.now }, ft.after
	return w, ft
}

func pushedMsg(seq int64) store.Message {
	return store.Message{ConvID: "p:a:b", Seq: seq, SenderID: "a"}
}

// In a conversation busy enough always to have a push in flight, each ack
// covering the earliest push moves the timer to the next one: it is never
// overdue while the recipient keeps acknowledging within the timeout.
// (The timer used to stay on the first push until an ack covered the
// highest, and fired 10 s into any such conversation.)
func TestWatchFollowsTheEarliestUnacknowledgedPush(t *testing.T) {
	const timeout = 10 * time.Second
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeGateway})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	w, ft := newTestWatchMetrics(timeout, m)
	start := ft.now
	for seq := int64(1); seq <= 40; seq++ {
		ft.now = start.Add(time.Duration(seq) * time.Second)
		w.pushed("A", "b", pushedMsg(seq), trace.SpanContext{}, 0)
		if seq > 1 {
			w.acked("A", "p:a:b", "b", seq-1) // a second late: one push always in flight
		}
		active := ft.active()
		if len(active) != 1 {
			t.Fatalf("after push %d: %d timers running, want 1", seq, len(active))
		}
		if !active[0].at.After(ft.now) {
			t.Fatalf("after push %d at %v: the timer is due at %v, though every push older than %v was acknowledged",
				seq, ft.now.Sub(start), active[0].at.Sub(start), timeout)
		}
	}
	// The recipient stops acknowledging: the timer is due the timeout
	// after the push left unacknowledged.
	if at := ft.active()[0].at; !at.Equal(start.Add(40*time.Second + timeout)) {
		t.Fatalf("the last push's deadline = %v, want %v", at.Sub(start), 40*time.Second+timeout)
	}
	w.acked("A", "p:a:b", "b", 40)
	if n := w.size(); n != 0 || len(ft.active()) != 0 {
		t.Fatalf("after the full ack: %d watched, %d timers running", n, len(ft.active()))
	}
	// Every ack recorded a delivery latency, the partial ones too.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := "magpie_delivery_latency_seconds_count 40"; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// More unacknowledged pushes than an entry keeps marks of: after an ack,
// the next deadline is never earlier than the timeout after the earliest
// push left (a notification may come late, never early).
func TestWatchWithManyPushesInFlightIsNeverEarly(t *testing.T) {
	const timeout = 10 * time.Second
	w, ft := newTestWatch(timeout)
	start := ft.now
	pushedAt := func(seq int64) time.Time { return start.Add(time.Duration(seq) * 10 * time.Millisecond) }
	for seq := int64(1); seq <= 100; seq++ {
		ft.now = pushedAt(seq)
		w.pushed("A", "b", pushedMsg(seq), trace.SpanContext{}, 0)
	}
	if active := ft.active(); len(active) != 1 || !active[0].at.Equal(pushedAt(1).Add(timeout)) {
		t.Fatalf("timers = %v, want one, due %v after the first push", len(active), timeout)
	}
	ft.now = start.Add(2 * time.Second)
	w.acked("A", "p:a:b", "b", 50)
	active := ft.active()
	if len(active) != 1 {
		t.Fatalf("%d timers running, want 1", len(active))
	}
	if at := active[0].at; at.Before(pushedAt(51).Add(timeout)) || at.After(pushedAt(100).Add(timeout)) {
		t.Fatalf("deadline %v after the start, want between %v and %v", at.Sub(start),
			pushedAt(51).Add(timeout).Sub(start), pushedAt(100).Add(timeout).Sub(start))
	}
	w.acked("A", "p:a:b", "b", 49) // an older ack changes nothing
	if len(ft.active()) != 1 || ft.active()[0] != active[0] {
		t.Fatal("an ack below the earliest push moved the timer")
	}
}

// A timer whose callback was already on its way when an ack moved the
// watch to a later push does nothing: the entry stays, with its new timer.
func TestWatchStaleTimerDoesNothing(t *testing.T) {
	w, ft := newTestWatch(10 * time.Second)
	w.pushed("A", "b", pushedMsg(1), trace.SpanContext{}, 0)
	w.pushed("A", "b", pushedMsg(2), trace.SpanContext{}, 0)
	first := ft.active()[0]
	first.gone = true // its callback started: Stop fails
	w.acked("A", "p:a:b", "b", 1)
	first.f() // the stale callback runs
	if n := w.size(); n != 1 || len(ft.active()) != 1 {
		t.Fatalf("after the stale callback: %d watched, %d timers running; want 1, 1", n, len(ft.active()))
	}
	w.stop()
}
