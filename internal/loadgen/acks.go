package loadgen

import (
	"slices"
	"sync"
	"time"
)

// ackTick is how long the acker waits at least between two rounds: a
// delivery is acknowledged between ackDelay and ackDelay+ackTick after the
// first delivery of its batch, or ackInterval (plus up to ackTick) after
// the connection's last acknowledgement.
const ackTick = 5 * time.Millisecond

// acker acknowledges the deliveries of many connections from one
// goroutine: a connection that got a delivery and has no acknowledgement
// due yet is queued with the time it is due (ackDelay later, or
// ackInterval after its last acknowledgement), and the
// acker wakes once per round, at most every ackTick, to flush the
// connections that are due. It replaces a timer (and the goroutine its
// function ran on) per batch and per connection, which cost the load
// generator a scheduler wake-up per delivery.
//
// The goroutine runs only while the queue holds connections: arm starts
// it, and it returns when the queue is empty. A closed connection's entry
// is dropped when it comes due (flushAcks writes nothing), within
// ackInterval+ackTick.
type acker struct {
	mu      sync.Mutex // guards the fields below; never held with a Conn's mu
	queue   []ackDue   // in due order
	running bool       // the goroutine runs
}

// ackDueAt is when a connection armed at now, whose last acknowledgement
// was written at last (Unix ns; 0 for none), is due.
func ackDueAt(now time.Time, last int64) time.Time {
	at := now.Add(ackDelay)
	if last != 0 {
		if next := time.Unix(0, last).Add(ackInterval); next.After(at) {
			return next
		}
	}
	return at
}

type ackDue struct {
	c  *Conn
	at time.Time
}

// arm queues c to be acknowledged ackDelay from now, or ackInterval after
// its last acknowledgement if that is later. The caller makes sure c is
// queued once at a time (Conn.ackArmed).
func (a *acker) arm(c *Conn) {
	at := ackDueAt(time.Now(), c.lastAck.Load())
	a.mu.Lock()
	defer a.mu.Unlock()
	// The queue stays in due order; scan from its end, where a newly
	// armed connection usually belongs.
	i := len(a.queue)
	for i > 0 && a.queue[i-1].at.After(at) {
		i--
	}
	a.queue = slices.Insert(a.queue, i, ackDue{c: c, at: at})
	if !a.running {
		a.running = true
		go a.run()
	}
}

// run flushes the connections that are due, round after round, until the
// queue is empty. Flushes are written one after another: a connection
// whose socket does not take its write holds the others' acknowledgements
// up to writeTimeout, as it would hold its own sends.
func (a *acker) run() {
	var due []*Conn
	for {
		due = due[:0]
		a.mu.Lock()
		now := time.Now()
		k := 0
		for k < len(a.queue) && !a.queue[k].at.After(now) {
			due = append(due, a.queue[k].c)
			k++
		}
		n := copy(a.queue, a.queue[k:])
		clear(a.queue[n:])
		a.queue = a.queue[:n]
		if n == 0 && k == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		var wait time.Duration
		if n > 0 {
			wait = max(a.queue[0].at.Sub(now), ackTick)
		}
		a.mu.Unlock()
		for _, c := range due {
			c.flushAcks()
		}
		clear(due)
		time.Sleep(wait)
	}
}
