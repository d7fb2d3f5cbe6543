package bus

import (
	"bytes"
	"context"
	"fmt"
)

// stream is an in-memory message queue of a Local: a node's relay queue,
// shared by that node's consumers, or one subscriber's broadcast queue.
type stream struct {
	msgs chan []byte   // buffered: LocalConfig.StreamBuffer
	gone chan struct{} // closed when the last consumer left; senders stop waiting
	refs int           // consumers; Local.mu guards it
}

func newStream(buffer int) *stream {
	return &stream{msgs: make(chan []byte, buffer), gone: make(chan struct{})}
}

// send queues msg, waiting for room as long as ctx allows. A stream whose
// consumers are gone drops it.
func (s *stream) send(ctx context.Context, msg []byte) error {
	select {
	case s.msgs <- msg:
		return nil
	case <-s.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Relay implements Bus. A relay to a node with no consumer in this process
// is dropped.
func (l *Local) Relay(ctx context.Context, nodeID string, msg []byte) error {
	if err := checkName("node id", nodeID); err != nil {
		return err
	}
	l.mu.Lock()
	closed, s := l.closed, l.nodes[nodeID]
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if s == nil {
		return nil
	}
	if err := s.send(ctx, bytes.Clone(msg)); err != nil {
		return fmt.Errorf("relay to %s: %w", nodeID, err)
	}
	return nil
}

// Broadcast implements Bus. It waits for room in every subscriber's buffer,
// as long as ctx allows; subscribers share one copy of event.
func (l *Local) Broadcast(ctx context.Context, event []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	subs := make([]*stream, 0, len(l.subs))
	for s := range l.subs {
		subs = append(subs, s)
	}
	l.mu.Unlock()
	event = bytes.Clone(event)
	for _, s := range subs {
		if err := s.send(ctx, event); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
	}
	return nil
}

// ConsumeRelay implements Bus. Several consumers of one node id share its
// queue; the queue and what it holds go away with the last of them.
func (l *Local) ConsumeRelay(ctx context.Context, nodeID string, h MessageHandler) (Consumer, error) {
	if err := checkName("node id", nodeID); err != nil {
		return nil, err
	}
	return l.startStream(ctx, "relay", h, func() *stream {
		s := l.nodes[nodeID]
		if s == nil {
			s = newStream(l.cfg.StreamBuffer)
			l.nodes[nodeID] = s
		}
		return s
	}, func(s *stream) {
		if l.nodes[nodeID] == s {
			delete(l.nodes, nodeID)
		}
	})
}

// Subscribe implements Bus.
func (l *Local) Subscribe(ctx context.Context, h MessageHandler) (Consumer, error) {
	return l.startStream(ctx, "broadcast", h, func() *stream {
		s := newStream(l.cfg.StreamBuffer)
		l.subs[s] = struct{}{}
		return s
	}, func(s *stream) { delete(l.subs, s) })
}

// startStream registers a consumer of the stream attach returns and runs it
// until it stops; detach unregisters the stream once its last consumer
// left. Both run with l.mu held.
func (l *Local) startStream(ctx context.Context, kind string, h MessageHandler, attach func() *stream, detach func(*stream)) (Consumer, error) {
	hd, cctx := newHandle(ctx)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		hd.abort()
		return nil, ErrClosed
	}
	s := attach()
	s.refs++
	l.consumers[hd] = struct{}{}
	l.mu.Unlock()
	go func() {
		l.pump(cctx, hd.stop, kind, s, h)
		l.mu.Lock()
		delete(l.consumers, hd)
		if s.refs--; s.refs == 0 {
			detach(s)
			close(s.gone)
		}
		l.mu.Unlock()
		hd.finish(nil)
	}()
	return hd, nil
}

// pump hands the messages of s to h, one at a time, until ctx ends or stop
// is closed.
func (l *Local) pump(ctx context.Context, stop <-chan struct{}, kind string, s *stream, h MessageHandler) {
	for {
		select {
		case msg := <-s.msgs:
			callMessage(ctx, l.log, kind, h, msg)
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
	}
}
