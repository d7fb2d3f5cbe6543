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
// (no absorb for a window after the last one ended) is not pressed. But
// an absorber is not quiet while the log holds a full absorb's rows
// (backlog): under load a large absorb's commit (its fsync and
// checkpoint) or a chunk of the indexer's (an FTS5 merge) can take
// longer than a window, and the absorb behind it found the pressure gone,
// indexed the 100,000 rows it moved in its transaction, and took seconds
// more.
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

// moved records a move that ran from start to end, with the log's backlog
// when it began, and reports whether the verdict changed (a window closed
// and crossed a threshold).
func (p *pressure) moved(start, end time.Time, backlog bool) bool {
	was := p.pressed
	if p.start.IsZero() || !backlog && start.Sub(p.last) >= pressWindow {
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
// so, and an absorb ended within a window of now or the log has a backlog.
func (p *pressure) on(now time.Time, backlog bool) bool {
	return p.pressed && (backlog || now.Sub(p.last) < pressWindow)
}
