package loadgen

import (
	"sync"
	"time"
)

// ackTick is how long the acker waits at least between two rounds: a
// delivery is acknowledged between ackDelay and ackDelay+ackTick after the
// first delivery of its batch.
const ackTick = 5 * time.Millisecond

// acker acknowledges the deliveries of many connections from one
// goroutine: a connection that got a delivery and has no acknowledgement
// due yet is queued with the time it is due (ackDelay later), and the
// acker wakes once per round, at most every ackTick, to flush the
// connections that are due. It replaces a timer (and the goroutine its
// function ran on) per batch and per connection, which cost the load
// generator a scheduler wake-up per delivery.
//
// The goroutine runs only while the queue holds connections: arm starts
// it, and it returns when the queue is empty. A closed connection's entry
// is dropped when it comes due (flushAcks writes nothing), within
// ackDelay+ackTick.
type acker struct {
	mu      sync.Mutex // guards the fields below; never held with a Conn's mu
	queue   []ackDue   // in due order: one delay for all, so arming order
	running bool       // the goroutine runs
}

type ackDue struct {
	c  *Conn
	at time.Time
}

// arm queues c to be acknowledged ackDelay from now. The caller makes sure
// c is queued once at a time (Conn.ackArmed).
func (a *acker) arm(c *Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queue = append(a.queue, ackDue{c: c, at: time.Now().Add(ackDelay)})
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
