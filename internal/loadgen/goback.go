package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// SendID is a send's frame id: the ramp step, the connection's go-back
// epoch (so that refusals from before a go-back are told apart) and the
// message's index in its schedule. Ids from 1<<62 on are left to other
// frames (acks and pings here).
func SendID(step, epoch, idx int) uint64 {
	return uint64(step&0x3fff)<<48 | uint64(epoch&0xffff)<<32 | uint64(idx+1)
}

// ParseSendID is the inverse of SendID.
func ParseSendID(id uint64) (step, epoch, idx int) {
	return int(id >> 48 & 0x3fff), int(id >> 32 & 0xffff), int(id&0xffffffff) - 1
}

// GoBack is one sending connection's window and overload state, as the
// SDK keeps them. The server refuses every send after one it refused for
// overload (an error with retry_after_ms) until that one comes again, so
// the sender goes back to the first refused message of its current epoch,
// waits the server's hint, and sends again from there in a new epoch.
//
// The sender calls Take, Room, Wrote and Drained, and numbers its sends
// with SendID(step, Epoch(), idx); the connection's reader calls Refused
// for an overload refusal and then Replied, for every reply to a send.
type GoBack struct {
	// written and answered count the connection's sends written and the
	// replies to them (SendAcks and errors): the difference is in flight.
	written, answered atomic.Int64
	answer            chan struct{} // capacity 1: a reply came
	mu                sync.Mutex
	epoch             int           // the epoch of the sends being written
	idx               int           // where to go back to; -1 for nowhere
	after             time.Duration // how long to wait first
	wake              chan struct{} // capacity 1
}

// NewGoBack returns the state of a connection that has sent nothing.
func NewGoBack() *GoBack {
	return &GoBack{idx: -1, wake: make(chan struct{}, 1), answer: make(chan struct{}, 1)}
}

// Wrote notes a send written.
func (g *GoBack) Wrote() { g.written.Add(1) }

// Replied notes a reply to one of the connection's sends. For an overload
// refusal, call Refused first.
func (g *GoBack) Replied() {
	g.answered.Add(1)
	select {
	case g.answer <- struct{}{}:
	default:
	}
}

// Room waits until fewer than window sends are in flight; false if ctx
// ended first or a go-back may be due. A window of zero or less has no
// limit.
func (g *GoBack) Room(ctx context.Context, window int) bool {
	for window > 0 && g.written.Load()-g.answered.Load() >= int64(window) {
		select {
		case <-g.answer:
		case <-g.wake:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Drained waits until every send written has been answered and reports
// true when none was refused for overload meanwhile; false if ctx ended
// first or a go-back is due (Take says where to).
func (g *GoBack) Drained(ctx context.Context) bool {
	if !g.Room(ctx, 1) { // fewer than one in flight: all answered
		return false
	}
	// Refused comes before Replied: with every send answered, every
	// refusal has been noted.
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idx < 0
}

// Refused notes an overload refusal of message idx sent in epoch and
// reports whether the sender goes back to it (false for the refusals
// behind the first one, and for those of earlier epochs).
func (g *GoBack) Refused(epoch, idx int, after time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if epoch != g.epoch&0xffff || g.idx >= 0 {
		return false // sent before the last go-back, or behind this one
	}
	g.idx, g.after = idx, after
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return true
}

// Take returns where to go back to and how long to wait first, if
// anywhere, and starts the next epoch.
func (g *GoBack) Take() (idx int, after time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idx < 0 {
		return 0, 0, false
	}
	idx, after = g.idx, g.after
	g.idx = -1
	g.epoch++
	return idx, after, true
}

// Epoch is the epoch of the sends being written.
func (g *GoBack) Epoch() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// Wake is a channel that receives when a go-back may be due, for a
// sender that waits on something else (its schedule) meanwhile.
func (g *GoBack) Wake() <-chan struct{} { return g.wake }
