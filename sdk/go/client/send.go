package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// SendResult describes a message the server acknowledged: it is durably
// stored.
type SendResult struct {
	// ClientMsgID is the id the client gave the message.
	ClientMsgID string
	// ConvID is the conversation the message belongs to.
	ConvID string
	// Seq is the message's sequence number in the conversation.
	Seq int64
	// SentAt is when the server accepted the message.
	SentAt time.Time
	// Duplicate is set if the server had already accepted a message with
	// this ClientMsgID (a retransmission, or WithClientMsgID reusing an
	// id); the other fields then describe that message.
	Duplicate bool
}

// SendOption configures one send.
type SendOption func(*Outgoing)

// WithClientMsgID gives the message the client message id id (1 to 128
// bytes) instead of a random one. An app that keeps unsent messages across
// restarts resends them with their first id, so that the server stores
// each at most once.
func WithClientMsgID(id string) SendOption {
	return func(o *Outgoing) { o.id = id }
}

// Outgoing is a message queued by SendAsync, until the server acknowledges
// it or the send fails. It is safe for concurrent use.
type Outgoing struct {
	id, to, typ, content string
	order                uint64        // queue order, for retransmissions
	done                 chan struct{} // closed when the send is over
	res                  SendResult    // set before done is closed
	err                  error         // set before done is closed

	// Guarded by outbox.mu.
	finished  bool
	sess      *session // session of the attempt in flight; nil if none
	req       uint64   // request id of that attempt
	sentAt    time.Time
	notBefore time.Time // no attempt before
	retries   int       // attempts that failed, for the backoff
	lastErr   error
	deadline  *time.Timer
}

// ClientMsgID returns the message's client message id.
func (o *Outgoing) ClientMsgID() string { return o.id }

// Done returns a channel that is closed when the send is over.
func (o *Outgoing) Done() <-chan struct{} { return o.done }

// Wait waits until the send is over, or ctx ends, and returns its outcome.
// If ctx ends first, the send goes on.
func (o *Outgoing) Wait(ctx context.Context) (SendResult, error) {
	select {
	case <-o.done:
		return o.res, o.err
	case <-ctx.Done():
		return SendResult{}, ctx.Err()
	}
}

// SendAsync queues a message for the user to and returns at once. type is
// "text" or "custom" (content is then a JSON document). The client sends
// the queued messages to one recipient one at a time, in order, each once
// the previous one is acknowledged, and sends each again after a timeout,
// a retryable error or a reconnect, with the same client message id, until
// Config.SendDeadline. The returned Outgoing reports the outcome.
//
// Errors that the server would refuse are returned at once: an empty
// recipient, type or content, or content larger than the server's limit.
func (c *Client) SendAsync(to, typ, content string, opts ...SendOption) (*Outgoing, error) {
	o := &Outgoing{to: to, typ: typ, content: content, done: make(chan struct{})}
	for _, opt := range opts {
		opt(o)
	}
	if o.id == "" {
		o.id = newClientMsgID()
	}
	if err := c.checkSend(o); err != nil {
		return nil, err
	}
	if err := c.out.add(o, c.cfg.SendDeadline); err != nil {
		return nil, err
	}
	return o, nil
}

// Send queues a message like SendAsync and waits for its outcome. If ctx
// ends first, Send returns ctx's error and the message stays queued.
func (c *Client) Send(ctx context.Context, to, typ, content string, opts ...SendOption) (SendResult, error) {
	o, err := c.SendAsync(to, typ, content, opts...)
	if err != nil {
		return SendResult{}, err
	}
	return o.Wait(ctx)
}

func (c *Client) checkSend(o *Outgoing) error {
	limit := c.maxBytes.Load()
	switch {
	case o.to == "":
		return &Error{Code: wire.CodeInvalidArgument, Message: "empty recipient"}
	case o.typ == "":
		return &Error{Code: wire.CodeInvalidMessage, Message: "empty type"}
	case o.content == "":
		return &Error{Code: wire.CodeInvalidMessage, Message: "empty content"}
	case limit > 0 && int64(len(o.content)) > limit:
		return &Error{Code: wire.CodeMessageTooLarge, Message: fmt.Sprintf("content is %d bytes; the limit is %d", len(o.content), limit)}
	case len(o.id) > 128 || !utf8.ValidString(o.id):
		return &Error{Code: wire.CodeInvalidArgument, Message: "client message id must be 1-128 bytes of UTF-8"}
	}
	return nil
}

// newClientMsgID returns 16 random bytes in hex.
func newClientMsgID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// outbox holds the messages not yet acknowledged, one queue per recipient.
// Only the head of a queue is ever in flight.
type outbox struct {
	wake                   chan struct{} // capacity 1: a head is due, or finished
	backoffMin, backoffMax time.Duration

	mu     sync.Mutex // guards the fields below and the outbox fields of Outgoing
	queues map[string][]*Outgoing
	order  uint64
	closed error
}

func newOutbox(backoffMin, backoffMax time.Duration) *outbox {
	return &outbox{wake: make(chan struct{}, 1), backoffMin: backoffMin, backoffMax: backoffMax,
		queues: make(map[string][]*Outgoing)}
}

// add queues o and starts its deadline.
func (b *outbox) add(o *Outgoing, deadline time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed != nil {
		return b.closed
	}
	b.order++
	o.order = b.order
	b.queues[o.to] = append(b.queues[o.to], o)
	o.deadline = time.AfterFunc(deadline, func() { b.expire(o) })
	signal(b.wake)
	return nil
}

// expire fails o if it is still queued at its deadline.
func (b *outbox) expire(o *Outgoing) {
	b.mu.Lock()
	last := o.lastErr
	b.mu.Unlock()
	err := ErrSendTimeout
	if last != nil {
		err = fmt.Errorf("%w: %w", ErrSendTimeout, last)
	}
	b.finish(o, SendResult{}, err)
}

// finish ends the send o with its outcome, unless it already ended, and
// reports whether it did.
func (b *outbox) finish(o *Outgoing, res SendResult, err error) bool {
	b.mu.Lock()
	if o.finished {
		b.mu.Unlock()
		return false
	}
	o.finished = true
	o.deadline.Stop()
	q := slices.DeleteFunc(b.queues[o.to], func(x *Outgoing) bool { return x == o })
	if len(q) == 0 {
		delete(b.queues, o.to)
	} else {
		b.queues[o.to] = q
	}
	b.mu.Unlock()
	o.res, o.err = res, err
	close(o.done)
	signal(b.wake)
	return true
}

// retryLater schedules another attempt of o after a failed one: the
// attempt with request id req on session s. Other attempts are ignored.
func (b *outbox) retryLater(o *Outgoing, s *session, req uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.finished || o.sess != s || o.req != req {
		return
	}
	b.backOff(o, err, time.Now())
	signal(b.wake)
}

// backOff makes o wait before its next attempt. b.mu must be held.
func (b *outbox) backOff(o *Outgoing, err error, now time.Time) {
	o.sess, o.lastErr = nil, err
	o.notBefore = now.Add(retryDelay(b.backoffMin, b.backoffMax, o.retries))
	o.retries++
}

// attempt is a send to transmit on a session, with its request id.
type attempt struct {
	o  *Outgoing
	id uint64
}

// due returns the heads to transmit now on session s, in queue order, and
// marks them in flight on s; and how long until the next head is due
// (negative if none). A head in flight on s for timeout is due after a
// backoff; a head in flight on an older session is due at once.
func (b *outbox) due(s *session, now time.Time, timeout time.Duration) ([]attempt, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []attempt
	wait := time.Duration(-1)
	later := func(d time.Duration) {
		if wait < 0 || d < wait {
			wait = d
		}
	}
	for _, q := range b.queues {
		o := q[0]
		if o.sess == s && now.Sub(o.sentAt) >= timeout {
			b.backOff(o, errRequestTimeout, now)
		}
		switch {
		case o.sess == s:
			later(o.sentAt.Add(timeout).Sub(now))
		case o.sess == nil && o.notBefore.After(now):
			later(o.notBefore.Sub(now))
		default:
			out = append(out, attempt{o: o})
		}
	}
	slices.SortFunc(out, func(x, y attempt) int { return cmp.Compare(x.o.order, y.o.order) })
	for i := range out {
		o := out[i].o
		out[i].id = s.newID()
		o.sess, o.req, o.sentAt = s, out[i].id, now
	}
	return out, wait
}

// pending returns the number of queued messages.
func (b *outbox) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, q := range b.queues {
		n += len(q)
	}
	return n
}

// close fails every queued message with err and refuses new ones.
func (b *outbox) close(err error) {
	b.mu.Lock()
	b.closed = err
	var all []*Outgoing
	for _, q := range b.queues {
		all = append(all, q...)
	}
	b.mu.Unlock()
	for _, o := range all {
		b.finish(o, SendResult{}, err)
	}
}

// sendLoop transmits queued messages on session s until ctx ends.
func (c *Client) sendLoop(ctx context.Context, s *session) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		batch, wait := c.out.due(s, time.Now(), c.cfg.RequestTimeout)
		for _, a := range batch {
			c.transmit(s, a)
		}
		if wait >= 0 {
			t.Reset(wait)
		} else {
			t.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-c.out.wake:
		case <-t.C:
		}
	}
}

// transmit sends one attempt. If the write fails, the session is ending
// and the next one transmits the message again.
func (c *Client) transmit(s *session, a attempt) {
	o := a.o
	f := &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: o.id, ToUserId: o.to, Type: o.typ, Content: o.content,
	}}}
	if err := s.send(a.id, f, func(r *magpiev1.Frame) { c.sendReply(s, a, r) }); err != nil {
		c.log.Debug("send not written", "client_msg_id", o.id, "err", err)
	}
}

// sendReply handles the reply to a send attempt, on the reader goroutine.
func (c *Client) sendReply(s *session, a attempt, r *magpiev1.Frame) {
	o := a.o
	switch b := r.GetBody().(type) {
	case *magpiev1.Frame_SendAck:
		ack := b.SendAck
		res := SendResult{
			ClientMsgID: o.id, ConvID: ack.GetConvId(), Seq: ack.GetSeq(),
			SentAt: time.UnixMilli(ack.GetServerTimeMs()), Duplicate: ack.GetDuplicate(),
		}
		c.out.finish(o, res, nil)
		c.sent(s, o, res)
	case *magpiev1.Frame_Error:
		e := errorOf(b.Error)
		if e.Retryable {
			c.out.retryLater(o, s, a.id, e)
			return
		}
		c.out.finish(o, SendResult{}, e)
	default:
		c.out.retryLater(o, s, a.id, fmt.Errorf("unexpected reply %q to send", wire.BodyName(r)))
	}
}

// sent hands the receiver the message the server acknowledged, so that it
// takes its place in the conversation. A duplicate's content may differ
// from the original's: only its seq is noted, and the filler fetches it.
func (c *Client) sent(s *session, o *Outgoing, res SendResult) {
	me := s.info.UserID
	var gap bool
	if res.Duplicate {
		gap = c.recv.noteSeq(res.ConvID, res.Seq)
	} else {
		members := []string{me, o.to}
		slices.Sort(members)
		gap = c.recv.add([]Message{{
			ConvID: res.ConvID, Seq: res.Seq, SenderID: me, ClientMsgID: o.id, Type: o.typ,
			Content: o.content, CreatedAt: res.SentAt, Members: slices.Compact(members), Own: true,
		}})
	}
	if gap {
		signal(c.fillWake)
	}
}
