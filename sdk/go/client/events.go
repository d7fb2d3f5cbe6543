package client

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Event is what Client.Next returns: a Message, Recall, Edit, Reaction,
// Receipt, Typing, RoomMessage, RoomMemberCount, RoomLeft, Presence,
// Connected or Disconnected value.
type Event interface{ event() }

// Message is a message of a conversation. Next returns every message of
// every conversation of the user exactly once per Client, in seq order
// within each conversation: messages from others, messages the user sent
// from other devices, and the messages this client sent, once the server
// has acknowledged them.
type Message struct {
	// ConvID is the conversation id.
	ConvID string
	// Seq is the message's sequence number in the conversation, from 1.
	Seq int64
	// SenderID is the user who sent the message.
	SenderID string
	// ClientMsgID is the id the sender's SDK gave the message.
	ClientMsgID string
	// Type is the kind of content: TypeText, TypeCustom, or a typed
	// content's (TypeImage, ...; see DecodeContent).
	Type string
	// Content is the text, or a JSON document for "custom"; empty if
	// Recalled.
	Content string
	// CreatedAt is when the server accepted the message.
	CreatedAt time.Time
	// Recalled is set if the sender recalled the message.
	Recalled bool
	// Members are the conversation's members, sorted, as the client knows
	// them from the conversation's state (messages on the wire do not carry
	// them: the client fetches the state of a conversation it has not seen
	// before queueing its messages). History leaves it empty for a
	// conversation the client has not seen.
	Members []string
	// Own is set if this client's user sent the message, from this device
	// or another.
	Own bool
	// Mentions are the members a group message mentions; MentionAll is set
	// if it mentions everyone.
	Mentions   []string
	MentionAll bool
	// EditedAt is when the sender last edited the message; zero if never.
	EditedAt time.Time
}

// Typing says another member of a conversation is typing (or stopped):
// an ephemeral signal, never replayed after a reconnect. Show the
// indicator for about 6 seconds after the last Typing with Typing true.
type Typing struct {
	ConvID string
	UserID string
	Typing bool
	At     time.Time
}

// GroupID returns the group of a group message's conversation, and
// whether it is one.
func (m Message) GroupID() (string, bool) { return groupOf(m.ConvID) }

// Mentioned reports whether the message mentions user, by id or by
// mentioning everyone.
func (m Message) Mentioned(user string) bool {
	return m.MentionAll || slices.Contains(m.Mentions, user)
}

// Peer returns the other member of a one-to-one conversation: the sender
// of a message from someone else, the recipient of an own message. For a
// conversation of the user with itself it returns the user.
func (m Message) Peer() string {
	if !m.Own {
		return m.SenderID
	}
	for _, u := range m.Members {
		if u != m.SenderID {
			return u
		}
	}
	return m.SenderID
}

// Recall reports that a message already returned by Next was recalled by
// its sender; its content is gone.
type Recall struct {
	// ConvID is the conversation id.
	ConvID string
	// Seq is the recalled message's seq.
	Seq int64
}

// ReceiptKind says what a Receipt reports.
type ReceiptKind int

// Receipt kinds.
const (
	// ReceiptDelivered: a device of UserID holds the messages.
	ReceiptDelivered ReceiptKind = iota + 1
	// ReceiptStored: no device of UserID was online; the messages wait for
	// its next sync.
	ReceiptStored
	// ReceiptRead: UserID read the messages.
	ReceiptRead
)

// String returns "delivered", "stored", "read" or "unknown".
func (k ReceiptKind) String() string {
	switch k {
	case ReceiptDelivered:
		return "delivered"
	case ReceiptStored:
		return "stored"
	case ReceiptRead:
		return "read"
	}
	return "unknown"
}

// Receipt reports another user's progress in a conversation, or a read on
// another of the user's devices (UserID is then the client's user).
// Receipts are cumulative: they cover every message up to and including
// Seq.
//
// Besides the receipts the server pushes, the client derives receipts from
// the conversation states it fetches after each login, for progress made
// while it was offline; their At is zero.
type Receipt struct {
	// Kind says what happened.
	Kind ReceiptKind
	// ConvID is the conversation id.
	ConvID string
	// Seq is the last seq covered, inclusive.
	Seq int64
	// UserID is the user whose device received, or who read, the messages.
	UserID string
	// At is when it happened; zero if unknown.
	At time.Time
}

// Session describes a logged-in connection.
type Session struct {
	// UserID is the user the token belongs to.
	UserID string
	// SessionID identifies the connection in the server's logs.
	SessionID string
	// ServerTime is the server's clock at login.
	ServerTime time.Time
	// HeartbeatInterval is how often the client pings the server.
	HeartbeatInterval time.Duration
	// MaxMessageBytes is the largest content the server accepts.
	MaxMessageBytes int
}

// Connected reports a successful login. The client then fetches what it
// missed; the messages follow as Message events.
type Connected struct {
	Session Session
}

// Disconnected reports the end of a connection, or a failed attempt to
// connect. When Run returns, the last Disconnected has WillRetry false.
type Disconnected struct {
	// Err is why: a *CloseError, a network error, a TokenProvider error,
	// or ErrClosed and context errors when the app stopped the client.
	Err error
	// WillRetry is set if the client reconnects by itself, after RetryIn.
	// Otherwise Run returns.
	WillRetry bool
	// RetryIn is the backoff delay before the next attempt.
	RetryIn time.Duration
}

func (Message) event()      {}
func (Recall) event()       {}
func (Receipt) event()      {}
func (Typing) event()       {}
func (Connected) event()    {}
func (Disconnected) event() {}

// eventQueue holds the events waiting for Next. Messages are refused when
// limit events are queued: the receiver keeps them pending or leaves them
// on the server, and next reports room once the queue has drained to half.
// Other events are dropped beyond 2*limit.
type eventQueue struct {
	limit int
	wake  chan struct{} // capacity 1: events are queued

	mu      sync.Mutex // guards the fields below; taken after receiver.mu
	items   []Event
	head    int
	stalled bool // a message was refused since the queue last had room
	dropped uint64
	closed  bool
}

func newEventQueue(limit int) *eventQueue {
	return &eventQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// len returns the number of queued events. q.mu must be held.
func (q *eventQueue) len() int { return len(q.items) - q.head }

// hasRoom reports whether a message would be accepted now; if not, next
// reports room later.
func (q *eventQueue) hasRoom() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.len() >= q.limit {
		q.stalled = true
		return false
	}
	return true
}

// pushMessage queues m and reports whether it was accepted.
func (q *eventQueue) pushMessage(m Message) bool {
	q.mu.Lock()
	if q.len() >= q.limit {
		q.stalled = true
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, m)
	q.mu.Unlock()
	signal(q.wake)
	return true
}

// push queues an event other than a message, or drops it if 2*limit
// events are queued, and reports whether it was queued.
func (q *eventQueue) push(ev Event) bool {
	q.mu.Lock()
	if q.len() >= 2*q.limit {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	signal(q.wake)
	return true
}

// next returns the oldest event, waiting for one until ctx ends, and
// whether the queue, having refused a message, has drained to half: the
// caller then queues the messages held back. Once the queue is closed and
// empty, next returns ErrClosed.
func (q *eventQueue) next(ctx context.Context) (ev Event, room bool, err error) {
	for {
		q.mu.Lock()
		if n := q.len(); n > 0 {
			ev = q.items[q.head]
			q.items[q.head] = nil
			q.head++
			if q.head > len(q.items)/2 {
				q.items = append(q.items[:0], q.items[q.head:]...)
				q.head = 0
			}
			room = q.stalled && n-1 <= q.limit/2
			if room {
				q.stalled = false
			}
			q.mu.Unlock()
			if n > 1 {
				signal(q.wake) // for another waiting caller
			}
			return ev, room, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false, ErrClosed
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// close makes next return ErrClosed once the queue is empty.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.wake)
}

// stats returns the number of queued and dropped events.
func (q *eventQueue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.len(), q.dropped
}

// signal does a non-blocking send on a channel of capacity 1.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
