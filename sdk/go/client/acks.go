package client

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

const (
	// ackBatch is the number of moved cursors that are reported at once,
	// without waiting for Config.AckDelay.
	ackBatch = 64
	// maxAckCursors is the most cursors the server takes in one DeliverAck.
	maxAckCursors = 256
)

// acker keeps the cursor of each conversation, the seq of the last message
// Next returned, and reports moved cursors to the server (DeliverAck, ack:R)
// and to the Store, in batches. Cursors only ever cover messages Next
// returned, in seq order, so they never pass a gap.
type acker struct {
	wake chan struct{} // capacity 1: cursors moved
	full chan struct{} // capacity 1: ackBatch cursors are waiting

	mu      sync.Mutex // guards the fields below
	cursors map[string]int64
	unacked map[string]int64 // cursors the server may not have recorded
	unsaved map[string]int64 // cursors the Store has not saved
}

func newAcker() *acker {
	return &acker{
		wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		cursors: make(map[string]int64), unacked: make(map[string]int64), unsaved: make(map[string]int64),
	}
}

// load sets the cursors saved by the Store.
func (a *acker) load(cursors map[string]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, seq := range cursors {
		a.cursors[id] = max(a.cursors[id], seq)
	}
}

// handed records that Next returned message seq of a conversation.
func (a *acker) handed(convID string, seq int64) {
	a.mu.Lock()
	if seq <= a.cursors[convID] {
		a.mu.Unlock()
		return
	}
	a.cursors[convID] = seq
	a.unacked[convID] = seq
	a.unsaved[convID] = seq
	n := len(a.unacked)
	a.mu.Unlock()
	signal(a.wake)
	if n >= ackBatch {
		signal(a.full)
	}
}

// server takes the cursor the server recorded for this device, from the
// conversation state fetched after login, and reports the conversation's
// cursor again if the server is behind (an ack lost with a connection).
func (a *acker) server(convID string, seq int64) {
	a.mu.Lock()
	cur := a.cursors[convID]
	behind := cur > seq
	if behind {
		a.unacked[convID] = cur
	}
	a.mu.Unlock()
	if behind {
		signal(a.wake)
	}
}

// take returns and forgets the cursors to report and to save.
func (a *acker) take() (unacked, unsaved map[string]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	unacked, unsaved = a.unacked, a.unsaved
	a.unacked, a.unsaved = make(map[string]int64), make(map[string]int64)
	return unacked, unsaved
}

// putBack returns cursors that could not be reported or saved.
func (a *acker) putBack(unacked, unsaved map[string]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, seq := range unacked {
		a.unacked[id] = max(a.unacked[id], seq)
	}
	for id, seq := range unsaved {
		a.unsaved[id] = max(a.unsaved[id], seq)
	}
}

// ackLoop reports moved cursors on session s until ctx ends: AckDelay
// after the first move, but not sooner than AckInterval after the last
// report began, or at once when ackBatch cursors are waiting.
func (c *Client) ackLoop(ctx context.Context, s *session) {
	a := c.acks
	t := time.NewTimer(0)
	defer t.Stop()
	var last time.Time // when the last report began
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		wait := c.cfg.AckDelay
		if !last.IsZero() {
			wait = max(wait, time.Until(last.Add(c.cfg.AckInterval)))
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.full:
		}
		last = time.Now()
		c.flushAcks(ctx, s)
	}
}

// flushAcks saves the moved cursors to the Store, then reports them to the
// server. What fails is kept for the next flush.
func (c *Client) flushAcks(ctx context.Context, s *session) {
	unacked, unsaved := c.acks.take()
	if len(unsaved) > 0 {
		if err := c.cfg.Store.SaveCursors(ctx, unsaved); err != nil {
			c.log.WarnContext(ctx, "save cursors", "err", err)
			c.acks.putBack(nil, unsaved)
		}
	}
	ids := slices.Sorted(maps.Keys(unacked))
	for len(ids) > 0 {
		n := min(len(ids), maxAckCursors)
		batch := &magpiev1.DeliverAck{}
		for _, id := range ids[:n] {
			batch.Cursors = append(batch.Cursors, &magpiev1.Cursor{ConvId: id, Seq: unacked[id]})
		}
		_, err := s.call(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_DeliverAck{DeliverAck: batch}})
		var se *Error
		if err != nil && !(errors.As(err, &se) && !se.Retryable) {
			rest := make(map[string]int64, len(ids))
			for _, id := range ids {
				rest[id] = unacked[id]
			}
			c.acks.putBack(rest, nil)
			return // the next session, or the next move, retries
		}
		if err != nil {
			c.log.WarnContext(ctx, "delivery ack refused", "err", err, "cursors", n)
		}
		ids = ids[n:]
	}
}

// saveCursors saves the cursors the Store has not saved yet, when Run ends.
func (c *Client) saveCursors(ctx context.Context) {
	c.acks.mu.Lock()
	unsaved := c.acks.unsaved
	c.acks.unsaved = make(map[string]int64)
	c.acks.mu.Unlock()
	if len(unsaved) == 0 {
		return
	}
	if err := c.cfg.Store.SaveCursors(ctx, unsaved); err != nil {
		c.log.WarnContext(ctx, "save cursors", "err", err)
		c.acks.putBack(nil, unsaved)
	}
}
