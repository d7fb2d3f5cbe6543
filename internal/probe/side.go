package probe

import (
	"context"
	"sync"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// side is one probe user's client and what it observed.
type side struct {
	user   string
	c      *client.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	got      []received
	receipts map[client.ReceiptKind]int64 // highest seq per kind, from the peer
	taken    map[string]int64             // highest seq taken from Next per conversation, dropped ones included
	changed  chan struct{}                // capacity 1: something was recorded
}

type received struct {
	sender, content string
	at              time.Time
}

// clientConfig is the SDK configuration of a probe user's client, on the
// next gateway in turn; its tokens come from the server API.
func (r *runner) clientConfig(user string, st client.Store) client.Config {
	return client.Config{
		URL:            r.nextURL(),
		DeviceID:       user + "-probe",
		Platform:       "server",
		Store:          st,
		BackoffMin:     50 * time.Millisecond,
		BackoffMax:     time.Second,
		RequestTimeout: 5 * time.Second,
		SendDeadline:   r.cfg.Timeout,
		Logger:         r.cfg.Logger,
		TokenProvider: func(ctx context.Context) (string, error) {
			tok, err := r.api.IssueToken(ctx, user, 10*time.Minute)
			return tok.Token, err
		},
	}
}

// connect starts a client for user and its event collector.
func (r *runner) connect(ctx context.Context, user string, st client.Store) (*side, error) {
	c, err := client.New(r.clientConfig(user, st))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &side{user: user, c: c, cancel: cancel, receipts: map[client.ReceiptKind]int64{}, taken: map[string]int64{}, changed: make(chan struct{}, 1)}
	s.wg.Go(func() { _ = c.Run(ctx) })
	s.wg.Go(func() { s.collect(ctx, r.cfg.drop) })
	return s, nil
}

// stop disconnects the client and waits for its goroutines.
func (s *side) stop() {
	s.cancel()
	_ = s.c.Close()
	s.wg.Wait()
}

func (s *side) collect(ctx context.Context, drop func(string, client.Message) bool) {
	for {
		ev, err := s.c.Next(ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		switch ev := ev.(type) {
		case client.Message:
			s.taken[ev.ConvID] = max(s.taken[ev.ConvID], ev.Seq)
			if !ev.Own && (drop == nil || !drop(s.user, ev)) {
				s.got = append(s.got, received{sender: ev.SenderID, content: ev.Content, at: time.Now()})
			}
		case client.Receipt:
			if ev.UserID != s.user && ev.Seq > s.receipts[ev.Kind] {
				s.receipts[ev.Kind] = ev.Seq
			}
		}
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// received returns the messages received from sender, in arrival order.
func (s *side) received(sender string) []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []received
	for _, m := range s.got {
		if m.sender == sender {
			out = append(out, m)
		}
	}
	return out
}

// waitReceipt waits until a receipt of kind covers seq, or ctx ends.
func (s *side) waitReceipt(ctx context.Context, kind client.ReceiptKind, seq int64) bool {
	return s.wait(ctx, func() bool { return s.receipts[kind] >= seq })
}

// waitTaken waits until the collector has processed the message at seq of
// conv, or ctx ends.
func (s *side) waitTaken(ctx context.Context, conv string, seq int64) bool {
	return s.wait(ctx, func() bool { return s.taken[conv] >= seq })
}

// wait waits until cond, called with s.mu held, is true, or ctx ends.
func (s *side) wait(ctx context.Context, cond func() bool) bool {
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return false
		}
	}
}
