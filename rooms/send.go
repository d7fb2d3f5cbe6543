package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// maxBatch bounds the messages one fan-out hands to the router.
const maxBatch = 256

// live is a room's send state on this node.
type live struct {
	// send serialises the sends of the room on this node, from the
	// dedup check to the enqueue, so that the queue is in seq order.
	send sync.Mutex

	mu      sync.Mutex // guards the fields below
	lim     *rate.Limiter
	limit   float64 // the rate lim was made for
	seen    map[dedupKey]Ack
	order   []dedupKey // seen's keys, oldest first
	queue   []Message  // waiting for the fan-out
	running bool       // a worker drains queue
	used    time.Time  // the last accepted message
}

type dedupKey struct{ sender, clientMsgID string }

// SendRequest is a message to send to a room.
type SendRequest struct {
	AppID  string
	RoomID string
	// SenderID is the sending user; empty for a system message of the
	// app's backend (Backend must be set).
	SenderID    string
	ClientMsgID string
	Type        string // empty means text
	Content     string
	// MaxBytes is the app's content size limit; zero for none.
	MaxBytes int
	// Backend: sent by the app's backend through the server API. Such a
	// message has priority, and is not refused for mutes or the rate
	// limit.
	Backend bool
}

// Ack is an accepted message.
type Ack struct {
	Seq       int64
	CreatedAt time.Time
	// Duplicate: the ack of an earlier send with the same client message
	// id.
	Duplicate bool
}

// Send accepts a message for the room: it moderates it as the app's other
// messages (moderate; a dropped message gets an Ack with seq 0), gives it
// the room's next seq,
// keeps it in the recent history and queues it for the fan-out to the
// members online now. The caller checks that a client sender joined the
// room.
//
// A send with the client message id of one accepted from the same sender
// within DedupWindow (on this node) gets the first ack, marked Duplicate.
// The room's rate limit refuses ordinary members' messages beyond it
// (rate_limited); so does the fan-out queue once it holds QueueBound
// messages, and a message of the owner or the backend arriving then drops
// the ordinary messages still queued (they stay in the history), so that
// the owner is heard first.
func (s *Service) Send(ctx context.Context, req SendRequest) (Ack, error) {
	if req.Type == "" {
		req.Type = messaging.TypeText
	}
	if err := req.validate(); err != nil {
		return Ack{}, err
	}
	var r store.Room
	var err error
	if req.Backend {
		r, err = s.room(ctx, req.AppID, req.RoomID)
	} else {
		r, err = s.cachedRoom(ctx, req.AppID, req.RoomID)
	}
	if err != nil {
		return Ack{}, err
	}
	if !req.Backend && slices.Contains(r.Muted, req.SenderID) {
		return Ack{}, fail(CodeMemberMuted, "you are muted in room %q", req.RoomID)
	}
	content, drop, err := s.moderate(ctx, req)
	if err != nil {
		return Ack{}, err
	}
	if drop {
		// Like a dropped message of a conversation: neither kept nor
		// delivered, and the sender is told seq 0.
		return Ack{CreatedAt: s.now()}, nil
	}
	req.Content = content
	msg := Message{RoomID: req.RoomID, SenderID: req.SenderID, ClientMsgID: req.ClientMsgID, Type: req.Type,
		Content: req.Content, Priority: req.Backend || req.SenderID != "" && req.SenderID == r.OwnerID}
	l := s.live(req.AppID, req.RoomID)
	l.send.Lock()
	defer l.send.Unlock()
	now := s.now()
	key := dedupKey{req.SenderID, req.ClientMsgID}
	if a, ok := l.seenAck(key, now.Add(-s.cfg.DedupWindow)); ok {
		a.Duplicate = true
		return a, nil
	}
	if kind, err := l.admit(msg.Priority, RateLimit(r), s.cfg.QueueBound, now); err != nil {
		s.cfg.Metrics.RateLimited(kind)
		return Ack{}, err
	}
	msg.CreatedAt = now
	data, err := json.Marshal(msg)
	if err != nil {
		return Ack{}, fmt.Errorf("encode room message: %w", err)
	}
	msg.Seq, err = s.state.AppendRoomMessage(ctx, req.AppID, req.RoomID, data, HistorySize(r))
	if err != nil {
		return Ack{}, fmt.Errorf("sequence room message: %w", err)
	}
	a := Ack{Seq: msg.Seq, CreatedAt: now}
	start, dropped := l.enqueue(msg, key, a, s.cfg.QueueBound)
	for range dropped {
		s.cfg.Metrics.RateLimited(telemetry.LimitRoomShed)
	}
	if start {
		s.workers.Go(func() { s.drain(req.AppID, req.RoomID, l) })
	}
	return a, nil
}

func (r *SendRequest) validate() error {
	switch {
	case !messaging.ValidGroupID(r.RoomID):
		return invalid("room_id", "1-64 letters, digits, '_', '.', '@' or '-'")
	case r.SenderID == "" && !r.Backend:
		return invalid("sender_id", "required")
	case r.SenderID != "" && !messaging.ValidUserID(r.SenderID):
		return invalid("sender_id", "not a valid user id")
	case r.ClientMsgID == "" || len(r.ClientMsgID) > 128 || !utf8.ValidString(r.ClientMsgID):
		return invalid("client_msg_id", "1-128 bytes of UTF-8")
	}
	var me *messaging.Error
	if err := messaging.CheckContent(r.Type, r.Content, r.MaxBytes); errors.As(err, &me) {
		return &Error{Code: me.Code, Message: me.Message, Field: "content"}
	} else if err != nil {
		return err
	}
	return nil
}

// sweepEvery is how many rooms' send states are created between two
// sweeps of the idle ones.
const sweepEvery = 1024

// live returns the send state of a room, creating it (and, every
// sweepEvery creations, forgetting those of rooms idle for DedupWindow).
func (s *Service) live(appID, roomID string) *live {
	k := roomKey{appID, roomID}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lives[k]
	if l == nil {
		l = &live{seen: make(map[dedupKey]Ack)}
		s.lives[k] = l
		if s.created++; s.created%sweepEvery == 0 {
			s.sweepLocked(s.cfg.Now().Add(-s.cfg.DedupWindow))
		}
	}
	return l
}

// sweepLocked forgets the send states of rooms with nothing queued and no
// message accepted since before. A send that holds one meanwhile still
// fans out; only its room's dedup and rate state start afresh. s.mu must
// be held.
func (s *Service) sweepLocked(before time.Time) {
	for k, l := range s.lives {
		l.mu.Lock()
		idle := !l.running && len(l.queue) == 0 && l.used.Before(before)
		l.mu.Unlock()
		if idle {
			delete(s.lives, k)
		}
	}
}

// seenAck returns the ack of an earlier send, forgetting those accepted
// before since.
func (l *live) seenAck(k dedupKey, since time.Time) (Ack, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.order) > 0 {
		first := l.order[0]
		if a := l.seen[first]; !a.CreatedAt.Before(since) {
			break
		}
		delete(l.seen, first)
		l.order = l.order[1:]
	}
	a, ok := l.seen[k]
	return a, ok
}

// maxSeen bounds the client message ids remembered per room.
const maxSeen = 65536

// admit applies the rate limit and the queue bound to a message; a
// refusal comes with its telemetry kind.
func (l *live) admit(priority bool, limit float64, bound int, now time.Time) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if priority {
		if len(l.queue) >= 4*bound {
			return telemetry.LimitRoomShed, fail(CodeRateLimited, "the room's fan-out is overloaded; retry later")
		}
		return "", nil
	}
	if l.lim == nil || l.limit != limit {
		l.lim, l.limit = rate.NewLimiter(rate.Limit(limit), max(int(2*limit), 1)), limit
	}
	if len(l.queue) >= bound {
		return telemetry.LimitRoomShed, fail(CodeRateLimited, "the room is shedding load; retry later")
	}
	if !l.lim.AllowN(now, 1) {
		return telemetry.LimitRoom, fail(CodeRateLimited, "the room's rate limit is reached; retry later")
	}
	return "", nil
}

// enqueue queues an accepted message and remembers its ack; a priority
// message over the bound drops the ordinary messages queued. It reports
// whether a worker must be started, and how many messages it dropped.
func (l *live) enqueue(m Message, k dedupKey, a Ack, bound int) (start bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.order) >= maxSeen {
		delete(l.seen, l.order[0])
		l.order = l.order[1:]
	}
	l.seen[k] = a
	l.order = append(l.order, k)
	l.used = a.CreatedAt
	if m.Priority && len(l.queue) >= bound {
		n := len(l.queue)
		l.queue = slices.DeleteFunc(l.queue, func(q Message) bool { return !q.Priority })
		dropped = n - len(l.queue)
	}
	l.queue = append(l.queue, m)
	if l.running {
		return false, dropped
	}
	l.running = true
	return true, dropped
}

// drain fans the room's queue out, a batch at a time, until it is empty.
func (s *Service) drain(appID, roomID string, l *live) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		l.mu.Lock()
		n := min(len(l.queue), maxBatch)
		if n == 0 {
			l.running = false
			l.queue = nil
			l.mu.Unlock()
			return
		}
		batch := slices.Clone(l.queue[:n])
		l.queue = slices.Delete(l.queue, 0, n)
		l.mu.Unlock()
		s.router.DeliverRoom(appID, roomID, batch, s.remote(ctx, appID, roomID))
	}
}

// History returns up to limit of the room's recent messages (0 or more
// than the room's history size: that size), oldest first.
func (s *Service) History(ctx context.Context, appID string, r store.Room, limit int) ([]Message, error) {
	size := HistorySize(r)
	if limit <= 0 || limit > size {
		limit = size
	}
	h, err := s.state.RoomHistory(ctx, appID, r.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(h))
	for _, x := range h {
		var m Message
		if err := json.Unmarshal(x.Data, &m); err != nil {
			s.log.WarnContext(ctx, "skip undecodable room history entry", "err", err, "app_id", appID, "room_id", r.ID)
			continue
		}
		m.RoomID, m.Seq = r.ID, x.Seq
		out = append(out, m)
	}
	return out, nil
}
