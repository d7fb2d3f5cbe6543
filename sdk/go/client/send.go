package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	// Seq is the message's sequence number in the conversation; 0 when
	// the app's moderation accepted the message but did not deliver it
	// (dropped): it is in no conversation and nobody receives it.
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
// bytes) instead of one the client makes. An app that keeps unsent
// messages across restarts resends them with their first id, so that the
// server stores each at most once. Ids that grow with time (a version 7
// UUID, say) are stored faster than random ones (docs/protocol.md).
func WithClientMsgID(id string) SendOption {
	return func(o *Outgoing) { o.id = id }
}

// Outgoing is a message queued by SendAsync, until the server acknowledges
// it or the send fails. It is safe for concurrent use.
type Outgoing struct {
	id, to, typ, content string
	group                bool // to is a group id
	mentions             []string
	mentionAll           bool
	push                 *magpiev1.PushOptions // nil for the app's defaults
	order                uint64                // queue order, across recipients
	done                 chan struct{}         // closed when the send is over
	res                  SendResult            // set before done is closed
	err                  error                 // set before done is closed

	// Guarded by outbox.mu.
	finished  bool
	sess      *session  // session of the last attempt; nil before the first and while backing off
	req       uint64    // request id of that attempt
	sentAt    time.Time // when that attempt was transmitted
	notBefore time.Time // no attempt before
	retries   int       // attempts that failed, for the backoff
	lastErr   error
	deadline  *time.Timer
}

// queue names the outbox queue of the message: its recipient's, or its
// group's ("g:" and the id; user ids hold no ':').
func (o *Outgoing) queue() string {
	if o.group {
		return "g:" + o.to
	}
	return o.to
}

// WithMentions mentions members in a group message (at most 100): each
// one's Conversation.MentionSeq moves to the message.
func WithMentions(userIDs ...string) SendOption {
	return func(o *Outgoing) { o.mentions = slices.Clone(userIDs) }
}

// WithMentionAll mentions every member of the group (the group's owner and
// admins only; the server refuses it from other members).
func WithMentionAll() SendOption {
	return func(o *Outgoing) { o.mentionAll = true }
}

// SendToGroupAsync queues a message for a group, as SendAsync does for a
// user: the messages queued for one group are sent in order, with the same
// retransmission rules. The user must be a member of the group.
func (c *Client) SendToGroupAsync(groupID, typ, content string, opts ...SendOption) (*Outgoing, error) {
	return c.SendAsync(groupID, typ, content, append(opts, func(o *Outgoing) { o.group = true })...)
}

// SendToGroup queues a message for a group like SendToGroupAsync and waits
// for its outcome.
func (c *Client) SendToGroup(ctx context.Context, groupID, typ, content string, opts ...SendOption) (SendResult, error) {
	o, err := c.SendToGroupAsync(groupID, typ, content, opts...)
	if err != nil {
		return SendResult{}, err
	}
	return o.Wait(ctx)
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
// the messages queued for one recipient in the order of the calls, up to
// Config.SendWindow of them in flight at once, and the server gives them
// seqs in that order. It sends a message again, with the same client
// message id, after a retryable error or a reconnect, until
// Config.SendDeadline; after a reconnect it first sends again, in order,
// every message of a recipient not yet acknowledged, then the newer ones.
// The returned Outgoing reports the outcome.
//
// A message the server refuses (an error that is not retryable, such as
// user_not_found or forbidden) fails alone: the messages after it go on.
// Errors that the server would refuse are returned at once: an empty
// recipient, type or content, text that is not UTF-8, or content larger
// than the server's limit.
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
	case !utf8.ValidString(o.to):
		return &Error{Code: wire.CodeInvalidArgument, Message: "recipient is not UTF-8"}
	case !utf8.ValidString(o.typ) || !utf8.ValidString(o.content):
		return &Error{Code: wire.CodeInvalidMessage, Message: "type and content must be UTF-8"}
	case limit > 0 && int64(len(o.content)) > limit:
		return &Error{Code: wire.CodeMessageTooLarge, Message: fmt.Sprintf("content is %d bytes; the limit is %d", len(o.content), limit)}
	case len(o.id) > 128 || !utf8.ValidString(o.id):
		return &Error{Code: wire.CodeInvalidArgument, Message: "client message id must be 1-128 bytes of UTF-8"}
	case !o.group && (len(o.mentions) > 0 || o.mentionAll):
		return &Error{Code: wire.CodeInvalidArgument, Message: "mentions are for group messages"}
	case len(o.mentions) > 100:
		return &Error{Code: wire.CodeInvalidArgument, Message: "at most 100 mentions"}
	}
	return nil
}

// newClientMsgID returns an id for a message sent now, growing with time
// (wire.NewClientMsgID).
func newClientMsgID() string { return wire.NewClientMsgID(time.Now()) }

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// outbox holds the messages not yet acknowledged, one queue per recipient
// in the order the app queued them, and decides what to transmit.
//
// Ordering rule. The server gives a connection's sends to one conversation
// seqs in the order it reads them, so the client keeps a queue's messages
// in order on the wire: on a session, the messages in flight are always a
// prefix of the queue (at most window of them), transmitted in queue order,
// and a message is never transmitted while one before it waits for its
// turn. A session that ends takes nothing with it: the next session
// transmits the queue again from its head, acknowledged-but-unseen
// messages included (the server answers those with their original seq,
// as duplicates). Whatever could put a later message ahead of an earlier
// one ends the session instead, so that the queue is sent again in order
// on the next one:
//
//   - no reply to any send of the session for Config.RequestTimeout while
//     one is in flight (the connection is stuck);
//   - a retryable error for a message with a later message of its queue in
//     flight on the same session (see sendReply).
//
// A retryable error for the last message in flight of its queue is
// retried on the same session after a backoff, holding back the messages
// after it.
type outbox struct {
	wake                   chan struct{} // capacity 1: a message is due, or finished
	backoffMin, backoffMax time.Duration
	window                 int // messages in flight per queue

	mu     sync.Mutex // guards the fields below and the outbox fields of Outgoing
	queues map[string][]*Outgoing
	order  uint64
	closed error
	// The session that last answered a send, and when: a session whose
	// sends get answers is not stuck, however long its queues.
	replySess *session
	replyAt   time.Time
}

func newOutbox(window int, backoffMin, backoffMax time.Duration) *outbox {
	return &outbox{wake: make(chan struct{}, 1), window: window, backoffMin: backoffMin, backoffMax: backoffMax,
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
	b.queues[o.queue()] = append(b.queues[o.queue()], o)
	o.deadline = time.AfterFunc(deadline, func() { b.expire(o) })
	signal(b.wake)
	return nil
}

// expire fails o if it is still queued at its deadline. If o is in flight
// the server may still store it, in its place: the messages after it were
// sent after it.
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
	q := b.queues[o.queue()]
	if len(q) > 0 && q[0] == o {
		q[0] = nil
		q = q[1:] // the usual case: acknowledgements come in queue order
	} else {
		q = slices.DeleteFunc(q, func(x *Outgoing) bool { return x == o })
	}
	if len(q) == 0 {
		delete(b.queues, o.queue())
	} else {
		b.queues[o.queue()] = q
	}
	b.mu.Unlock()
	o.res, o.err = res, err
	close(o.done)
	signal(b.wake)
	return true
}

// replied notes that session s answered a send.
func (b *outbox) replied(s *session, now time.Time) {
	b.mu.Lock()
	b.replySess, b.replyAt = s, now
	b.mu.Unlock()
}

// retry handles a retryable failure of the attempt of o with request id
// req on session s; other attempts are ignored. If a later message of o's
// queue is in flight on s, it reports true: the session must end, for the
// server may store that message before o (see sendReply). Otherwise o is
// sent again on s after a backoff, and the messages after it wait.
func (b *outbox) retry(o *Outgoing, s *session, req uint64, err error) (reconnect bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.finished || o.sess != s || o.req != req {
		return false
	}
	o.lastErr = err
	q := b.queues[o.queue()]
	if i := slices.Index(q, o); i >= 0 && slices.ContainsFunc(q[i+1:], func(x *Outgoing) bool { return x.sess == s }) {
		return true // o stays marked in flight on s: the next session sends it first
	}
	b.backOff(o, err, time.Now())
	signal(b.wake)
	return false
}

// goBack handles an overload refusal, with a retry hint, of the attempt of
// o with request id req on session s; other attempts are ignored. The
// server refuses every send of s after o's until o comes again, so o and
// every message transmitted on s after it (a later request id) are marked
// not sent, to be transmitted again from the queues' heads once the hint
// (plus jitter) has passed: in their original order, o first.
func (b *outbox) goBack(o *Outgoing, s *session, req uint64, after time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.finished || o.sess != s || o.req != req {
		return
	}
	at := time.Now().Add(after + jitter(after/4))
	for _, q := range b.queues {
		for _, x := range q {
			if x.sess == s && x.req >= req {
				x.sess, x.lastErr, x.notBefore = nil, err, at
			}
		}
	}
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

// due returns the messages to transmit now on session s, in queue order,
// and marks them in flight on s; and how long until something is due
// again (negative if nothing is pending). Each queue transmits from its
// head, in order, up to the window; a message in flight on an older
// session counts as not sent. It stops at a message backing off, so that
// nothing overtakes it. It fails with errRequestTimeout if s got no
// answer to any send for timeout while one was in flight: the session
// must end.
func (b *outbox) due(s *session, now time.Time, timeout time.Duration) ([]attempt, time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []attempt
	wait := time.Duration(-1)
	later := func(d time.Duration) {
		if wait < 0 || d < wait {
			wait = d
		}
	}
	var replyAt time.Time
	if b.replySess == s {
		replyAt = b.replyAt
	}
	for _, q := range b.queues {
		for i, o := range q {
			if i == b.window {
				break
			}
			if o.sess == s {
				// In flight. It is overdue when neither it nor a reply
				// to any send of s came within the timeout.
				overdue := latest(o.sentAt, replyAt).Add(timeout)
				if !now.Before(overdue) {
					o.lastErr = errRequestTimeout
					return nil, 0, fmt.Errorf("send %s: %w", o.id, errRequestTimeout)
				}
				later(overdue.Sub(now))
				continue
			}
			if o.sess == nil && o.notBefore.After(now) {
				later(o.notBefore.Sub(now))
				break
			}
			out = append(out, attempt{o: o})
		}
	}
	slices.SortFunc(out, func(x, y attempt) int { return cmp.Compare(x.o.order, y.o.order) })
	for i := range out {
		o := out[i].o
		out[i].id = s.newID()
		o.sess, o.req, o.sentAt = s, out[i].id, now
	}
	if len(out) > 0 {
		later(timeout)
	}
	return out, wait, nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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

// sendLoop transmits queued messages on session s until ctx ends. It
// returns an error when the session must end for the queues to be sent
// again in order: a stuck session, or a write that failed.
func (c *Client) sendLoop(ctx context.Context, s *session) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		batch, wait, err := c.out.due(s, time.Now(), c.cfg.RequestTimeout)
		if err != nil {
			return err
		}
		for _, a := range batch {
			if ctx.Err() != nil {
				return nil // the rest counts as not sent: the next session sends it
			}
			if err := c.transmit(s, a); err != nil {
				return err
			}
		}
		if wait >= 0 {
			t.Reset(wait)
		} else {
			t.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.out.wake:
		case <-t.C:
		}
	}
}

// transmit sends one attempt. A message that cannot be encoded fails at
// once; it never reached the server, so nothing can overtake it. A write
// that fails is returned: the connection is lost, and the next session
// transmits the message again, in its place.
func (c *Client) transmit(s *session, a attempt) error {
	o := a.o
	send := &magpiev1.Send{ClientMsgId: o.id, Type: o.typ, Content: o.content, Push: o.push,
		Mentions: o.mentions, MentionAll: o.mentionAll}
	if o.group {
		send.ToGroupId = o.to
	} else {
		send.ToUserId = o.to
	}
	f := &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: send}}
	err := s.send(a.id, f, func(r *magpiev1.Frame) { c.sendReply(s, a, r) })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errConnLost):
		return fmt.Errorf("send %s: %w", o.id, err)
	}
	c.out.finish(o, SendResult{}, err)
	return nil
}

// sendReply handles the reply to a send attempt, on the reader goroutine.
//
// A retryable error (unavailable, internal, rate_limited) for a message
// with later messages of its queue in flight on the same connection ends
// the session. The server that answers such errors may have stored those
// later messages already, or store them while this one waits for its
// retry: they would take seqs before it. The current server answers a
// send with a retryable error in two cases, and refuses every later send
// as well in both: while it shuts down (no hint; the connection closes),
// and under overload, with a retry hint (retry_after_ms), until the
// refused send comes again; the client then goes back to it on the same
// session (outbox.goBack) instead of ending it. It pushes back on the rate
// limit and closes the connection on other failures that are not the
// client's. So ending the session is a safety net, for older servers above
// all. Ending the session stops the
// later messages as early as the client can, and every message not
// acknowledged is sent again, in order, on the next connection. Against
// an older server, a later message already stored before the error keeps
// its seq: Config.SendWindow 1 rules that out, at one message per round
// trip.
func (c *Client) sendReply(s *session, a attempt, r *magpiev1.Frame) {
	o := a.o
	c.out.replied(s, time.Now())
	var retryErr error
	switch b := r.GetBody().(type) {
	case *magpiev1.Frame_SendAck:
		ack := b.SendAck
		res := SendResult{
			ClientMsgID: o.id, ConvID: ack.GetConvId(), Seq: ack.GetSeq(),
			SentAt: time.UnixMilli(ack.GetServerTimeMs()), Duplicate: ack.GetDuplicate(),
		}
		c.out.finish(o, res, nil)
		if res.Seq != 0 { // 0: the app's moderation dropped it; nobody receives it
			c.sent(s, o, res)
		}
		return
	case *magpiev1.Frame_Error:
		e := errorOf(b.Error)
		if !e.Retryable {
			c.out.finish(o, SendResult{}, e)
			return
		}
		if ms := b.Error.GetRetryAfterMs(); ms > 0 {
			// Overload: the server refuses every later send of the
			// session until this one comes again; go back to it.
			c.out.goBack(o, s, a.id, time.Duration(ms)*time.Millisecond, e)
			return
		}
		retryErr = e
	default:
		retryErr = fmt.Errorf("unexpected reply %q to send", wire.BodyName(r))
	}
	if c.out.retry(o, s, a.id, retryErr) {
		s.abort(fmt.Errorf("send %s: %w; reconnecting to send the later messages again in order", o.id, retryErr))
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
		var members []string // a group's conversation state lists none
		if !o.group {
			members = []string{me, o.to}
			slices.Sort(members)
			members = slices.Compact(members)
		}
		c.recv.learn(res.ConvID, members)
		gap = c.recv.add([]Message{{
			ConvID: res.ConvID, Seq: res.Seq, SenderID: me, ClientMsgID: o.id, Type: o.typ,
			Content: o.content, CreatedAt: res.SentAt, Own: true, Mentions: o.mentions, MentionAll: o.mentionAll,
		}})
	}
	if gap {
		signal(c.fillWake)
	}
}
