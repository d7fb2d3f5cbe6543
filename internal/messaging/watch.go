package messaging

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/store"
)

// deliveryWatch covers the gap between "queued for an online device" and
// "acknowledged by a device". A connection that died without a close stays
// registered until its heartbeat times out; a message pushed to it is
// neither delivered nor reported as stored. When no device of a recipient
// acknowledges a pushed message within the timeout, the watch does what
// fan-out does for an offline recipient: it tells the sender the message is
// STORED and hands it to the offline notifier.
//
// One timer runs per (app, conversation, recipient) with unacknowledged
// pushes, for the earliest of them; the watch remembers the highest seq.
// The watch holds at most max entries; beyond that new pushes are not
// watched (the recipient still gets them at its next sync).
type deliveryWatch struct {
	s       *Service
	timeout time.Duration
	max     int

	mu      sync.Mutex // guards pending and stopped
	pending map[watchKey]*watchEntry
	stopped bool

	fires sync.WaitGroup // timer callbacks in progress
}

type watchKey struct{ app, conv, user string }

type watchEntry struct {
	msg   store.Message     // the highest unacknowledged message pushed
	span  trace.SpanContext // the span that sent msg, if any
	timer *time.Timer
}

func newDeliveryWatch(s *Service, timeout time.Duration, max int) *deliveryWatch {
	return &deliveryWatch{s: s, timeout: timeout, max: max, pending: make(map[watchKey]*watchEntry)}
}

// pushed records that msg, sent in span (if valid), was queued for user's
// online devices, to be acknowledged within timeout (zero: the watch's).
func (w *deliveryWatch) pushed(app, user string, msg store.Message, span trace.SpanContext, timeout time.Duration) {
	k := watchKey{app, msg.ConvID, user}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if e, ok := w.pending[k]; ok {
		if msg.Seq > e.msg.Seq {
			e.msg, e.span = msg, span
		}
		return
	}
	if len(w.pending) >= w.max {
		return
	}
	w.fires.Add(1) // balanced by fire, or by stop when the timer is stopped
	if timeout <= 0 {
		timeout = w.timeout
	}
	w.pending[k] = &watchEntry{msg: msg, span: span, timer: time.AfterFunc(timeout, func() { w.fire(k) })}
}

// acked records that a device of user holds conv up to seq. An ack that
// covers the watched message records magpie_delivery_latency_seconds: from
// that message's acceptance (its CreatedAt, on the service's clock) to now,
// when the ack is committed. The watched message is the highest one pushed
// and not yet acknowledged, so one ack covering several pushes records
// one latency, the last message's (the shortest of them).
func (w *deliveryWatch) acked(app, conv, user string, seq int64) {
	k := watchKey{app, conv, user}
	w.mu.Lock()
	e, ok := w.pending[k]
	if !ok || seq < e.msg.Seq {
		w.mu.Unlock()
		return
	}
	if e.timer.Stop() {
		w.fires.Done()
	}
	delete(w.pending, k)
	created := e.msg.CreatedAt
	w.mu.Unlock()
	w.s.cfg.Metrics.DeliveryLatency(w.s.cfg.Now().Sub(created))
}

// fire runs when a watched push went unacknowledged for the timeout.
func (w *deliveryWatch) fire(k watchKey) {
	defer w.fires.Done()
	w.mu.Lock()
	e, ok := w.pending[k]
	delete(w.pending, k)
	stopped := w.stopped
	w.mu.Unlock()
	if !ok || stopped {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uc, err := w.s.store.App(k.app).GetUserConversation(ctx, k.user, k.conv)
	if errors.Is(err, store.ErrNotFound) {
		return // the user left the conversation or was deleted: nobody to notify
	}
	if err != nil {
		w.s.log.WarnContext(ctx, "check delivery", "app_id", k.app, "err", err)
		return
	}
	if uc.DeliveredSeq >= e.msg.Seq {
		return
	}
	w.s.offline(k.app, k.user, e.msg, e.span)
}

// stop cancels every timer and waits for callbacks in progress.
func (w *deliveryWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	for k, e := range w.pending {
		if e.timer.Stop() {
			w.fires.Done()
		}
		delete(w.pending, k)
	}
	w.mu.Unlock()
	w.fires.Wait()
}

// size returns how many pushes are being watched.
func (w *deliveryWatch) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}
