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
// pushes, for the earliest of them: an ack that covers it moves the timer
// to the earliest push left, so that in a conversation busy enough always
// to have a push in flight, a recipient acknowledging each in time is
// never taken for gone. The watch holds at most max entries; beyond that new pushes are not
// watched (the recipient still gets them at its next sync).
type deliveryWatch struct {
	s       *Service
	timeout time.Duration
	max     int
	// now and after are time.Now and time.AfterFunc but in tests.
	now   func() time.Time
	after func(time.Duration, func()) stopper

	mu      sync.Mutex // guards pending and stopped
	pending map[watchKey]*watchEntry
	stopped bool

	fires sync.WaitGroup // timer callbacks in progress
}

// stopper is a *time.Timer.
type stopper interface{ Stop() bool }

type watchKey struct{ app, conv, user string }

type watchEntry struct {
	msg     store.Message     // the highest unacknowledged message pushed
	span    trace.SpanContext // the span that sent msg, if any
	timeout time.Duration
	// marks are the unacknowledged pushes, oldest first: the timer runs
	// for the first. At most maxMarks: a push beyond them replaces the
	// last, whose messages then wait for the later deadline (a
	// notification comes late, never early).
	marks []pushMark
	timer stopper
	gen   uint64 // which timer is current (see arm)
}

// pushMark is a push: the seq of its message, when it was queued, and
// the message's CreatedAt.
type pushMark struct {
	seq     int64
	at      time.Time
	created time.Time
}

// maxMarks bounds an entry's marks: a recipient with more unacknowledged
// pushes in one conversation is not keeping up anyway.
const maxMarks = 32

func newDeliveryWatch(s *Service, timeout time.Duration, max int) *deliveryWatch {
	return &deliveryWatch{s: s, timeout: timeout, max: max, now: time.Now,
		after:   func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		pending: make(map[watchKey]*watchEntry)}
}

// pushed records that msg, sent in span (if valid), was queued for user's
// online devices, to be acknowledged within timeout (zero: the watch's).
func (w *deliveryWatch) pushed(app, user string, msg store.Message, span trace.SpanContext, timeout time.Duration) {
	k := watchKey{app, msg.ConvID, user}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if e, ok := w.pending[k]; ok {
		if msg.Seq > e.msg.Seq {
			e.msg, e.span = msg, span
			if len(e.marks) < maxMarks {
				e.marks = append(e.marks, pushMark{msg.Seq, now, msg.CreatedAt})
			} else {
				e.marks[len(e.marks)-1] = pushMark{msg.Seq, now, msg.CreatedAt}
			}
		}
		return
	}
	if len(w.pending) >= w.max {
		return
	}
	if timeout <= 0 {
		timeout = w.timeout
	}
	e := &watchEntry{msg: msg, span: span, timeout: timeout, marks: []pushMark{{msg.Seq, now, msg.CreatedAt}}}
	w.pending[k] = e
	w.arm(k, e, timeout)
}

// arm (re)starts e's timer to fire in d; call it under mu. A timer that
// could not be stopped (its callback is waiting for mu) finds its
// generation stale and does nothing.
func (w *deliveryWatch) arm(k watchKey, e *watchEntry, d time.Duration) {
	if e.timer != nil && e.timer.Stop() {
		w.fires.Done()
	}
	e.gen++
	gen := e.gen
	w.fires.Add(1) // balanced by fire, or by a Stop that stopped it
	e.timer = w.after(d, func() { w.fire(k, gen) })
}

// acked records that a device of user holds conv up to seq. An ack that
// covers the watched message records magpie_delivery_latency_seconds: from
// that message's acceptance (its CreatedAt, on the service's clock) to now,
// when the ack is committed. One ack covering several pushes records one
// latency, that of the highest it covers (the shortest of them). An ack
// that covers only some pushes moves the timer to the earliest left.
func (w *deliveryWatch) acked(app, conv, user string, seq int64) {
	k := watchKey{app, conv, user}
	w.mu.Lock()
	e, ok := w.pending[k]
	if !ok || len(e.marks) == 0 || seq < e.marks[0].seq {
		w.mu.Unlock()
		return
	}
	if seq < e.msg.Seq {
		i := 0
		for e.marks[i].seq <= seq { // the last mark is e.msg's
			i++
		}
		created := e.marks[i-1].created
		e.marks = e.marks[i:]
		w.arm(k, e, max(e.marks[0].at.Add(e.timeout).Sub(w.now()), 0))
		w.mu.Unlock()
		w.s.cfg.Metrics.DeliveryLatency(w.s.cfg.Now().Sub(created))
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
func (w *deliveryWatch) fire(k watchKey, gen uint64) {
	defer w.fires.Done()
	w.mu.Lock()
	e, ok := w.pending[k]
	if !ok || e.gen != gen || w.stopped {
		w.mu.Unlock()
		return
	}
	delete(w.pending, k)
	w.mu.Unlock()
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
	if uc.DeliveredSeq >= e.marks[0].seq {
		// The overdue push was acknowledged (its ack committed, acked
		// not yet told): watch the rest again.
		w.rewatch(k, e, uc.DeliveredSeq)
		return
	}
	w.s.offline(k.app, k.user, e.msg, e.span)
}

// rewatch puts e back, without its pushes up to seq, unless a newer entry
// took its place.
func (w *deliveryWatch) rewatch(k watchKey, e *watchEntry, seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, taken := w.pending[k]; taken || w.stopped {
		return
	}
	i := 0
	for e.marks[i].seq <= seq { // seq < e.msg.Seq, the last mark's
		i++
	}
	e.marks = e.marks[i:]
	w.pending[k] = e
	w.arm(k, e, max(e.marks[0].at.Add(e.timeout).Sub(w.now()), 0))
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
