package sqlite

import (
	"testing"
	"time"
)

// TestPressure drives the absorber's pressure gauge with moves of given
// lengths: a window whose moves took a fifth of it presses the absorber,
// one under a tenth releases it, a share between the two keeps the last
// verdict, and a quiet window ends it.
func TestPressure(t *testing.T) {
	t0 := time.Unix(1_767_225_600, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var p pressure
	// moves runs a move of took ms every every ms from from, n times, and
	// returns the time after the last.
	moves := func(from, every, took, n int) int {
		for i := range n {
			s := from + i*every
			p.moved(at(s), at(s+took), false)
		}
		return from + n*every
	}

	now := moves(0, 100, 10, 20) // 10%: under pressOn
	if p.on(at(now), false) {
		t.Fatal("pressed by moves that took a tenth of the time")
	}
	now = moves(now, 100, 25, 12) // 25%
	if !p.on(at(now), false) {
		t.Fatal("not pressed by moves that took a quarter of the time")
	}
	now = moves(now, 100, 15, 25) // 15%: between the thresholds
	if !p.on(at(now), false) {
		t.Fatal("released by moves that took 15% of the time, above pressOff")
	}
	now = moves(now, 100, 5, 25) // 5%
	if p.on(at(now), false) {
		t.Fatal("still pressed by moves that took 5% of the time")
	}
	now = moves(now, 100, 40, 12)
	if !p.on(at(now), false) {
		t.Fatal("not pressed again by moves that took 40% of the time")
	}
	if p.on(at(now+1500), false) {
		t.Error("pressed 1.5 s after the last move")
	}
	// After a quiet spell a new window starts: one long move alone does
	// not decide.
	now += 5000
	p.moved(at(now), at(now+300), false)
	if p.on(at(now+300), false) {
		t.Error("the old verdict held after a quiet spell")
	}
	if p.moved(at(now+400), at(now+1200), false) != true || !p.on(at(now+1200), false) {
		t.Error("a window that was busy most of the time did not press")
	}
	// Absorbs back to back whose commits take longer than a window after
	// their moves: the absorber is never quiet, and the moves' share
	// (300 ms of every 1.5 s) keeps it pressed.
	now += 1200
	for range 6 {
		p.moved(at(now), at(now+300), false)
		p.ended(at(now + 1500))
		now += 1500
		if !p.on(at(now), false) {
			t.Fatalf("released at %d ms by an absorb whose commit took 1.2 s", now)
		}
	}
	// A quiet spell after the last absorb ended still releases it, unless
	// the log holds a full absorb's rows: then an indexer's chunk or a
	// commit took the time, not a lull.
	if p.on(at(now+1000), false) {
		t.Error("pressed a window after the last absorb ended")
	}
	if !p.on(at(now+1400), true) {
		t.Error("released 1.4 s after the last absorb with a backlog in the log")
	}
	now += 1400
	if p.moved(at(now), at(now+300), true) || !p.on(at(now+300), false) {
		t.Error("a move with a backlog after 1.4 s began a new window, unpressed")
	}
}
