package sqlite

import "time"

// The absorber indexes the messages it moves for search in the same
// transaction (absorbIndexed), which costs about as much again as the move
// itself. Under load that work competes for the cores with the message
// path (the writer, the gateway's readers and flushers), and a search can
// wait: while the absorber is pressed, its moves leave the messages queued
// for the indexer (search_id NULL), which then takes at most a tenth of
// the time (indexIdle), and catches up once the pressure is gone
// (docs/search.md, "Indexing under load").
//
// The absorber is pressed when its moves, without their indexing, took at
// least pressOn of the wall time of a window of pressWindow or more, and
// it stays pressed until a window's share falls below pressOff. The
// share measures the load where it matters: a move waits for a core as
// long as the other stages keep both busy, and moves more rows the faster
// the messages come. Windows close only at a move, so a quiet absorber
// (no absorb for a window after the last one ended) is not pressed. The
// quiet spell counts from the end of the last absorb, its commit: under
// load a large absorb's commit (its fsync and checkpoint) can take longer
// than a window after its move, and the next absorb, right behind it, is
// no sign of quiet.
const (
	pressWindow = time.Second
	pressOn     = 0.20
	pressOff    = 0.10
)

// pressure tracks how busy the absorber's moves keep it; the absorber
// uses it under abs.mu.
type pressure struct {
	start   time.Time     // the current window's start
	busy    time.Duration // the moves' time in the current window
	last    time.Time     // the end of the last absorb (ended), or of its move
	pressed bool          // the last closed window's verdict
}

// moved records a move that ran from start to end and reports whether
// the verdict changed (a window closed and crossed a threshold).
func (p *pressure) moved(start, end time.Time) bool {
	was := p.pressed
	if p.start.IsZero() || start.Sub(p.last) >= pressWindow {
		// The first move, or the first after a quiet window: a new
		// window, and no pressure.
		p.start, p.busy, p.pressed = start, 0, false
	}
	p.busy += end.Sub(start)
	p.last = end
	if w := end.Sub(p.start); w >= pressWindow {
		share := float64(p.busy) / float64(w)
		p.start, p.busy = end, 0
		if p.pressed {
			p.pressed = share >= pressOff
		} else {
			p.pressed = share >= pressOn
		}
	}
	return p.pressed != was
}

// ended records that the absorb of the last move ended (committed or
// failed) at end.
func (p *pressure) ended(end time.Time) {
	if end.After(p.last) {
		p.last = end
	}
}

// on reports whether the absorber is pressed at now: the last window said
// so, and an absorb ended within a window of now.
func (p *pressure) on(now time.Time) bool {
	return p.pressed && now.Sub(p.last) < pressWindow
}
