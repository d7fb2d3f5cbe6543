package messaging

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// Moderator decides, before a message is sequenced, whether it may be sent
// (the "moderate" stage of the pipeline: the app's keyword rules, then its
// pre-send webhook).
type Moderator interface {
	// Policy returns the moderation of app appID's messages from a client
	// (serverAPI false) or from the server API; nil when the app checks
	// nothing. It runs on every send: it must be cheap (cached) and never
	// do network I/O.
	Policy(ctx context.Context, appID string, serverAPI bool) (Policy, error)
}

// Policy moderates one app's messages.
type Policy interface {
	// Filter runs the built-in rules, synchronously and without I/O.
	Filter(c Candidate) Verdict
	// HasHook reports whether messages that pass Filter go on to the
	// pre-send hook.
	HasHook() bool
	// Hook asks the pre-send hook. It returns within its own timeout and
	// applies the app's fail-open or fail-closed policy itself (a failed or
	// late hook yields Allow, or a Reject with code
	// "moderation_unavailable"), so it never returns an error.
	Hook(ctx context.Context, c Candidate) Verdict
}

// Candidate is a message being moderated.
type Candidate struct {
	AppID, SenderID, ToUserID, ToGroupID, ConvID, ClientMsgID, Type, Content string
	// ServerAPI is set for messages sent through the server API.
	ServerAPI bool
}

// Action is what a Verdict does with a message.
type Action int

// Actions of a Verdict.
const (
	// Allow sends the message unchanged.
	Allow Action = iota
	// Reject fails the send with a message_rejected Error.
	Reject
	// Modify sends the message with Verdict.Content instead.
	Modify
	// Drop neither stores nor delivers the message, and tells the sender it
	// was sent (with seq 0).
	Drop
)

// String returns the action's metric label: allow, reject, modify or drop.
func (a Action) String() string {
	switch a {
	case Reject:
		return telemetry.VerdictReject
	case Modify:
		return telemetry.VerdictModify
	case Drop:
		return telemetry.VerdictDrop
	}
	return telemetry.VerdictAllow
}

// Verdict is a moderation decision.
type Verdict struct {
	Action Action
	// Code and Message explain a Reject: Code is the rule's or the hook's
	// own code (Error.Reason), Message a human-readable detail.
	Code, Message string
	// Content is a Modify's replacement content; it is validated like the
	// original (size limit, UTF-8, JSON for "custom").
	Content string
}

// Codes of the message_rejected Error raised by the messaging core itself
// (the others come from the rules and the hook).
const (
	// CodeMessageRejected is the Error code of a moderated-away send.
	CodeMessageRejected = "message_rejected"
	// ReasonModerationInvalid is the Reason of a Modify verdict whose
	// replacement content is not a valid message.
	ReasonModerationInvalid = "moderation_invalid"
)

// Order keeps one sender's messages (a connection's) in submission order
// when moderation defers them: a message waiting on the pre-send hook holds
// up the enqueueing of the messages submitted after it through the same
// Order, and of nothing else. The zero value is ready to use. Submissions
// through one Order must not be concurrent (one reader goroutine per
// connection submits them). An Order holds only the latest link of its
// chain: when the sender goes, it is garbage once its last hook returns.
type Order struct {
	busy atomic.Int32 // deferred messages not yet enqueued or failed
	mu   sync.Mutex   // guards tail
	// tail is closed once the latest deferred message has been enqueued or
	// has failed; nil before the first one.
	tail chan struct{}
}

// link appends a deferred message to the chain: it returns the channel to
// wait on before enqueueing (nil for none) and the one to close after.
func (o *Order) link() (prev <-chan struct{}, next chan struct{}) {
	next = make(chan struct{})
	if o == nil {
		return nil, next
	}
	o.busy.Add(1)
	o.mu.Lock()
	prev, o.tail = o.tail, next
	o.mu.Unlock()
	return prev, next
}

// done marks a deferred message enqueued or failed.
func (o *Order) done(next chan struct{}) {
	close(next)
	if o != nil {
		o.busy.Add(-1)
	}
}

// waiting reports whether a deferred message of o is not yet enqueued.
func (o *Order) waiting() bool { return o != nil && o.busy.Load() > 0 }

// verdictError returns the Error of a Reject verdict.
func verdictError(v Verdict) *Error {
	msg := v.Message
	if msg == "" {
		msg = "the message was rejected by moderation"
	}
	return &Error{Code: CodeMessageRejected, Message: msg, Reason: v.Code}
}

// apply applies a non-Reject verdict to it; an invalid replacement content
// is a Reject with reason moderation_invalid.
func apply(v Verdict, it *appendItem, req *SendRequest) *Error {
	switch v.Action {
	case Drop:
		it.dropped = true
	case Modify:
		if e := validContent(req.Type, v.Content, req.MaxBytes); e != nil {
			return &Error{Code: CodeMessageRejected, Message: "moderation replaced the content with an invalid one: " + e.Message,
				Reason: ReasonModerationInvalid}
		}
		it.draft.Body = []byte(v.Content)
	}
	return nil
}

// moderate runs pol on a message about to be enqueued as it. The keyword
// rules run at once, unless the message goes on to the hook; a message
// that goes on to the hook, or that follows a message of its Order still
// waiting for it, is enqueued later by a goroutine, in Order, and Submit
// returns its Pending at once. A nil pol (the app stopped moderating) only
// keeps the message in its Order.
func (s *Service) moderate(ctx context.Context, req SendRequest, pol Policy, it appendItem) (*Pending, error) {
	c := Candidate{AppID: req.AppID, SenderID: req.SenderID, ToUserID: req.ToUserID, ToGroupID: req.ToGroupID, ConvID: it.draft.ConvID,
		ClientMsgID: req.ClientMsgID, Type: req.Type, Content: req.Content, ServerAPI: req.ServerAPI}
	// A message that may go on to the hook is first looked up: a resend
	// of a message accepted earlier is not moderated again (the store
	// answers it with the original, whatever the rules or the hook would
	// say now). The lookup is paid only where a hook round trip is at
	// stake, on the deferred goroutine, batched with the other sends'
	// (resent); keyword rules alone are cheap and give a resend the same
	// verdict unless they changed.
	lookup := pol != nil && pol.HasHook() && req.ClientMsgID != "" && req.SenderID != ""
	hook := false
	if !lookup {
		var v Verdict
		if pol != nil {
			v = s.filter(pol, c)
		}
		if v.Action == Reject {
			return nil, verdictError(v)
		}
		if e := apply(v, &it, &req); e != nil {
			return nil, e
		}
		hook = pol != nil && v.Action != Drop && pol.HasHook()
		if !hook && !req.Order.waiting() {
			return s.enqueue(ctx, &req, it, s.cfg.MaxQueueWait)
		}
		if v.Action == Modify {
			c.Content = v.Content
		}
	}
	// Admission: while the commit queue would refuse a message, one headed
	// for the hook is refused now, while its connection can still go back
	// to it (ErrOverloaded before anything was queued), rather than after
	// its hook, when a refusal closes the connection. The messages at
	// their hooks are not counted: their wait is the hook's, not the
	// commits', and a burst of their answers waits for room
	// (ModeratedQueueWait).
	if s.appends.WouldRefuse(1) {
		return nil, ErrOverloaded
	}
	p := &Pending{ready: make(chan struct{})}
	prev, next := req.Order.link()
	s.deferred.Add(1)
	go func() {
		defer s.deferred.Done()
		defer req.Order.done(next)
		var err error
		switch {
		case lookup:
			err = s.moderateNew(ctx, pol, c, &it, &req)
		case hook:
			err = s.hook(ctx, pol, c, &it, &req)
		}
		if prev != nil {
			<-prev // closed in every outcome: never blocks forever
		}
		if err == nil {
			err = ctx.Err() // the sender is gone: it resends after reconnecting
		}
		if err == nil {
			// Like an unmoderated send, it waits for room in a full
			// queue before it is refused, but longer: a hook's answers
			// come in bursts, and a refusal closes the sender's
			// connection.
			var q *Pending
			if q, err = s.enqueue(ctx, &req, it, s.cfg.ModeratedQueueWait); q != nil {
				p.t = q.t
			}
		}
		if err != nil && req.Done != nil {
			req.Done(store.Appended{}, err)
		}
		p.err = err
		close(p.ready)
	}()
	if req.Done != nil {
		return nil, nil
	}
	return p, nil
}

// filter runs pol's keyword rules on c.
func (s *Service) filter(pol Policy, c Candidate) Verdict {
	v := pol.Filter(c)
	s.cfg.Metrics.ModerationVerdict(telemetry.ModerationKeyword, v.Action.String())
	return v
}

// moderateNew moderates a message that may go on to the hook, on its
// deferred goroutine: unless it is a resend of a stored message, the
// keyword rules, then, unless they dropped it, the hook.
func (s *Service) moderateNew(ctx context.Context, pol Policy, c Candidate, it *appendItem, req *SendRequest) error {
	stored, err := s.resent(ctx, req.AppID, req.SenderID, req.ClientMsgID)
	switch {
	case err != nil:
		return fmt.Errorf("look up an earlier send: %w", err)
	case stored:
		return nil
	}
	v := s.filter(pol, c)
	if v.Action == Reject {
		return verdictError(v)
	}
	if e := apply(v, it, req); e != nil {
		return e
	}
	switch v.Action {
	case Drop:
		return nil
	case Modify:
		c.Content = v.Content
	}
	return s.hook(ctx, pol, c, it, req)
}

// resendKey is a send looked up before its hook (resent).
type resendKey struct {
	appID string
	key   store.ClientMsgKey
}

// resent reports whether senderID stored a message with clientMsgID
// already. The lookups of concurrent sends are batched (s.resends): one
// store read per app and batch.
func (s *Service) resent(ctx context.Context, appID, senderID, clientMsgID string) (bool, error) {
	t, err := s.resends.EnqueueWait(ctx, []resendKey{{appID, store.ClientMsgKey{SenderID: senderID, ClientMsgID: clientMsgID}}}, s.cfg.ModeratedQueueWait)
	if err != nil {
		return false, err
	}
	found, err := t.Wait(ctx)
	if err != nil {
		return false, err
	}
	return found[0], nil
}

// lookupResends answers a batch of resent's lookups, with one store read
// per app.
func (s *Service) lookupResends(ctx context.Context, items []resendKey) ([]bool, []error) {
	outs, errs := make([]bool, len(items)), make([]error, len(items))
	byApp := make(map[string][]int)
	var apps []string
	for i, it := range items {
		if _, ok := byApp[it.appID]; !ok {
			apps = append(apps, it.appID)
		}
		byApp[it.appID] = append(byApp[it.appID], i)
	}
	for _, app := range apps {
		idx := byApp[app]
		keys := make([]store.ClientMsgKey, len(idx))
		for j, i := range idx {
			keys[j] = items[i].key
		}
		found, err := s.store.App(app).ClientMsgIDsStored(ctx, keys)
		for j, i := range idx {
			if err != nil {
				errs[i] = err
			} else {
				outs[i] = found[j]
			}
		}
	}
	return outs, errs
}

// hook asks pol's pre-send hook about c and applies its verdict to it.
func (s *Service) hook(ctx context.Context, pol Policy, c Candidate, it *appendItem, req *SendRequest) error {
	ctx, span := telemetry.StartSpan(ctx, "messaging pre-send hook")
	defer span.End()
	start := time.Now()
	v := pol.Hook(ctx, c)
	action := v.Action.String()
	s.cfg.Metrics.PresendHook(action, time.Since(start))
	s.cfg.Metrics.ModerationVerdict(telemetry.ModerationHook, action)
	span.SetAttributes(attribute.String("magpie.moderation.action", action))
	if v.Action == Reject {
		span.SetAttributes(attribute.String("magpie.moderation.reason", v.Code))
		return verdictError(v)
	}
	if e := apply(v, it, req); e != nil {
		return e
	}
	return nil
}

// waitDeferred waits until a deferred enqueue is done and returns its
// ticket.
func (p *Pending) waitDeferred(ctx context.Context) (*groupcommit.Ticket[appendItem, store.Appended], error) {
	select {
	case <-p.ready:
		return p.t, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// droppedResult is the result of a dropped message: its conversation,
// sender and client message id, no seq, nothing stored.
func droppedResult(it appendItem) store.Appended {
	return store.Appended{Dropped: true, Message: store.Message{
		ConvID: it.draft.ConvID, SenderID: it.draft.SenderID, ClientMsgID: it.draft.ClientMsgID,
		Type: it.draft.Type, CreatedAt: it.draft.CreatedAt,
	}}
}

// withoutDropped returns the items moderation did not drop and, if it
// dropped any, their indexes in items.
func withoutDropped(items []appendItem) ([]appendItem, []int) {
	n := 0
	for i := range items {
		if items[i].dropped {
			n++
		}
	}
	if n == 0 {
		return items, nil
	}
	live, idx := make([]appendItem, 0, len(items)-n), make([]int, 0, len(items)-n)
	for i := range items {
		if !items[i].dropped {
			live, idx = append(live, items[i]), append(idx, i)
		}
	}
	return live, idx
}
