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
	nextSeq    int64    // the seq of message next-1, as delivered
	delivered  int64
	duplicated int64
	reordered  int64
}

// Reorder describes a delivery that came after a later-sent message of
// the same stream: message Idx (seq Seq in its conversation) after
// message AfterIdx (seq AfterSeq). Seq above AfterSeq means the server
// gave the later-sent message the earlier seq (it took the sends out of
// order); below, it delivered its own seqs out of order.
type Reorder struct {
	Recipient int    `json:"recipient"` // connection indexes
	Sender    int    `json:"sender"`
	ConvID    string `json:"conv_id"`
	Idx       int    `json:"idx"`
	Seq       int64  `json:"seq"`
	AfterIdx  int    `json:"after_idx"`
	AfterSeq  int64  `json:"after_seq"`
}

// maxReorders bounds the reordered deliveries a result describes.
const maxReorders = 16

// Verdict is what Deliver made of one delivery.
type Verdict int

// The verdicts of Deliver.
const (
	InOrder Verdict = iota
	Duplicate
	Reordered
)

// Deliver records the delivery of message idx, which has seq in its
// conversation; for a Reordered one, it describes it too (but for the
// recipient, the sender and the conversation).
func (s *Stream) Deliver(idx int, seq int64) (Verdict, Reorder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := idx / 64
	for w >= len(s.seen) {
		s.seen = append(s.seen, 0)
	}
	bit := uint64(1) << (idx % 64)
	if s.seen[w]&bit != 0 {
		s.duplicated++
		return Duplicate, Reorder{}
	}
	s.seen[w] |= bit
	s.delivered++
	if idx < s.next {
		s.reordered++
		return Reordered, Reorder{Idx: idx, Seq: seq, AfterIdx: s.next - 1, AfterSeq: s.nextSeq}
	}
	s.next, s.nextSeq = idx+1, seq
	return InOrder, Reorder{}
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
