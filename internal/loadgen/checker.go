package loadgen

import (
	"sync"
	"sync/atomic"
)

// Source accounts for one sender's messages, numbered 0, 1, 2, ... in
// send order: sent, acknowledged by the server (SendAck: it promises
// delivery) or refused with an error reply (not expected by anyone).
type Source struct {
	sent, refused atomic.Int64
	state         []atomic.Uint32 // per message: 0 no reply yet, 1 acked, 2 refused
}

// NewSource returns a source of at most n messages.
func NewSource(n int) *Source { return &Source{state: make([]atomic.Uint32, n)} }

// Sent counts one message sent (the next index).
func (s *Source) Sent() { s.sent.Add(1) }

// Acked records the server's SendAck of message idx.
func (s *Source) Acked(idx int) {
	if idx >= 0 && idx < len(s.state) {
		s.state[idx].CompareAndSwap(0, 1)
	}
}

// Refused records the server's error reply to message idx.
func (s *Source) Refused(idx int) {
	if idx >= 0 && idx < len(s.state) && s.state[idx].CompareAndSwap(0, 2) {
		s.refused.Add(1)
	}
}

// Stream accounts for the messages of one sender to one recipient (one
// direction of a conversation, or one sender's messages as one group
// member sees them). Messages are numbered 0, 1, 2, ... in send order; a
// recipient must get each once, in increasing order. It is safe for
// concurrent use.
type Stream struct {
	// From counts what the sender sent; streams of one sender (a group's
	// members) share it.
	From       *Source
	mu         sync.Mutex
	seen       []uint64 // bitset of delivered indexes
	next       int      // one past the highest index delivered
	delivered  int64
	duplicated int64
	reordered  int64
}

// Verdict is what Deliver made of one delivery.
type Verdict int

// The verdicts of Deliver.
const (
	InOrder Verdict = iota
	Duplicate
	Reordered
)

// Deliver records the delivery of message idx.
func (s *Stream) Deliver(idx int) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := idx / 64
	for w >= len(s.seen) {
		s.seen = append(s.seen, 0)
	}
	bit := uint64(1) << (idx % 64)
	if s.seen[w]&bit != 0 {
		s.duplicated++
		return Duplicate
	}
	s.seen[w] |= bit
	s.delivered++
	if idx < s.next {
		s.reordered++
		return Reordered
	}
	s.next = idx + 1
	return InOrder
}

// Tally is the sum of streams' accounts.
type Tally struct {
	Sent      int64 `json:"sent"`
	Refused   int64 `json:"refused"`
	Delivered int64 `json:"delivered"` // distinct messages delivered
	Lost      int64 `json:"lost"`      // acknowledged by the server, not delivered
	// Unconfirmed were sent but neither acknowledged, refused nor
	// delivered: their connection ended first, for instance.
	Unconfirmed int64 `json:"unconfirmed"`
	Duplicated  int64 `json:"duplicated"`
	Reordered   int64 `json:"reordered"`
}

// Add adds the stream's account to t: what its recipient expected (its
// source's sent and refused messages) and what it got.
func (t *Tally) Add(s *Stream) {
	sent, refused := s.From.sent.Load(), s.From.refused.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Sent += sent
	t.Refused += refused
	t.Delivered += s.delivered
	t.Duplicated += s.duplicated
	t.Reordered += s.reordered
	for idx := range int(sent) {
		if s.seenLocked(idx) {
			continue
		}
		switch s.From.state[idx].Load() {
		case 1:
			t.Lost++
		case 0:
			t.Unconfirmed++
		}
	}
}

func (s *Stream) seenLocked(idx int) bool {
	w := idx / 64
	return w < len(s.seen) && s.seen[w]&(uint64(1)<<(idx%64)) != 0
}

// Outstanding is how many of the stream's messages are still expected.
func (s *Stream) Outstanding() int64 {
	sent, refused := s.From.sent.Load(), s.From.refused.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(sent-refused-s.delivered, 0)
}
