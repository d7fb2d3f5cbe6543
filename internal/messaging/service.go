// Package messaging is Magpie's messaging core: it validates messages,
// sequences and persists them with group commit, acknowledges senders only
// once their message is durable, fans messages and receipts out to online
// devices through a Router, records delivery and read cursors, and answers
// sync queries. It implements the reliability contract of the architecture
// guide (section 5) independently of any transport.
//
// Modes: the Service depends only on store.Store and a Router. In embedded
// mode the Router is the connection node's in-process Hub (package
// gateway/node). In cluster mode it is meant to be a presence lookup (which
// node holds which of a user's sessions) in front of the local Hub and a
// bus relay to the other nodes, so this package does not change; offline
// users reach the push workers through OfflineNotifier.
//
// Concurrency: a Service is safe for concurrent use. Run starts its two
// group committers (messages and delivery acks) and the fan-out stage; Send
// and AckDelivered block until their batch is committed. A committer hands
// each committed batch to the fan-out stage and goes on committing: the
// stage delivers batches one at a time, in commit order, so every device
// receives a conversation's messages in seq order, and a slow Router (a
// presence lookup, a relay) never holds up a commit. A sender's Committed
// callback runs on the committer, before its batch is handed over.
package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"

	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// Router hands messages and receipts to users' online devices, wherever
// they are connected. Its methods must not block on a slow connection: they
// queue work for connections and return. Deliver may take time to find the
// devices (a presence lookup, a relay to another node); it runs on the
// fan-out stage, never on a committer.
type Router interface {
	// Deliver queues each delivery's message for the online devices of its
	// user, the session named by Except excepted, and returns, per
	// delivery, how many devices it was queued for. Deliveries of one
	// message are adjacent, and a batch is in commit order.
	Deliver(ds []Delivery) []int
	// PushReceipt queues r for every online device of the user except the
	// session named by except, and returns how many devices it was queued for.
	PushReceipt(appID, userID, except string, r Receipt) int
}

// Delivery is one message for one user's devices.
type Delivery struct {
	AppID, UserID string
	// Except names a session not to deliver to (the sending one); empty
	// for none.
	Except string
	// Msg is shared by the deliveries of one message: read only.
	Msg *store.Message
	// Bulk marks a message to a large group (more members than
	// Config.GroupPushLimit): a connection may hold it back a little, to
	// write it together with what follows (the gateway's lazy frames).
	Bulk bool
}

// OfflineNotifier is told about messages for users with no online device
// (the push workers send offline notifications from it). It runs on the
// service's notification goroutines, never on the fan-out stage: it may
// wait for a durable hand-off (a job committed to the bus). It returns nil
// once the notification is durable; an error is logged, and the recipient
// still gets the message at its next sync. When notifications pile up
// (the bus is down) beyond OfflineQueue, further ones are dropped and
// logged, so that a bus outage never holds up deliveries.
type OfflineNotifier interface {
	Offline(ctx context.Context, appID, userID string, msg store.Message) error
}

// ReceiptKind says what a Receipt reports.
type ReceiptKind int

// Receipt kinds.
const (
	ReceiptDelivered ReceiptKind = iota + 1 // a device of UserID holds the messages
	ReceiptStored                           // UserID had no online device; stored for its next sync
	ReceiptRead                             // UserID read the messages
)

// Receipt reports a user's progress in a conversation, cumulatively: every
// message up to and including Seq.
type Receipt struct {
	Kind   ReceiptKind
	ConvID string
	Seq    int64
	UserID string
	At     time.Time
}

// Config configures a Service. The zero value is usable.
type Config struct {
	// MaxBatch caps the messages (and, separately, the acks) committed
	// together. Zero means 4096: a queue that backed up while a commit
	// ran is committed at once, not 256 at a time, one commit each
	// (docs/benchmarks.md, "Fourth step").
	MaxBatch int
	// MaxQueue caps the messages (and acks) waiting for a commit; beyond it
	// Send fails with ErrOverloaded. Zero means 16384.
	MaxQueue int
	// MaxQueueWait bounds the messages waiting for a commit by time too:
	// once the commits run at full batches, a send that would wait longer
	// than this behind the queue waits (its connection is not read
	// meanwhile) up to MaxQueueWait for the queue to shrink, and fails
	// with ErrOverloaded if it does not (see Service.RetryAfter); so does
	// a send that finds the queue at MaxQueue. Accepted messages keep a
	// bounded latency under overload. Zero means 250 ms; negative
	// disables both.
	MaxQueueWait time.Duration
	// ModeratedQueueWait is MaxQueueWait for a message enqueued after its
	// pre-send hook (or behind one of its connection's that waits for
	// it): a refusal then cannot send its connection back to it alone
	// (the later sends went on), so it closes the connection (4001); a
	// longer wait for room is the cheaper answer to a burst. The
	// connection's sends in flight are bounded meanwhile (the gateway's
	// budget). Zero means 5 s; it is never shorter than MaxQueueWait.
	ModeratedQueueWait time.Duration
	// Busy, when set, reports whether the store wants new messages to
	// wait (embedded mode's SQLite store while its absorber is far behind
	// its message log): Submit then refuses with ErrOverloaded before
	// anything is queued, as it does when the commit queue is full, so
	// that the sender goes back to the message and resends it, and the
	// ones after it, in order. Nil never refuses.
	Busy func() bool
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Offline is told about messages for offline users. Nil ignores them.
	Offline OfflineNotifier
	// OfflineQueue caps the notifications waiting for Offline; zero means
	// 8192. OfflineWorkers is how many calls to Offline run at once; zero
	// means 8.
	OfflineQueue, OfflineWorkers int
	// FanOutQueue caps the committed batches waiting for the fan-out stage;
	// when it is full the message committer waits (backpressure): a batch
	// is never dropped. Zero means 1024.
	FanOutQueue int
	// DeliveryTimeout is how long a message pushed to a recipient's online
	// devices may stay unacknowledged before the recipient is treated as
	// offline for it (STORED receipt to the sender, offline notification):
	// a device whose connection died silently stays "online" until its
	// heartbeat times out. Zero means 10 * time.Second.
	DeliveryTimeout time.Duration
	// Metrics records accepted, delivered and stored-offline messages,
	// delivery latency and dropped offline notifications. Nil records
	// nothing.
	Metrics *telemetry.Metrics
	// Moderator moderates messages before they are sequenced (keyword
	// rules, pre-send webhook). Nil moderates nothing.
	Moderator Moderator
	// Events is told about stored, recalled and read messages (the post
	// events of webhooks). Nil tells no one.
	Events PostEvents
	// Usage counts stored messages and their senders for the usage
	// report. Nil counts nothing.
	Usage UsageCounter
	// GroupPushLimit is the largest group whose every message is pushed to
	// its offline members (and watched for the push delay on its online
	// ones); in larger groups only the members a message mentions (by id,
	// or everyone) are, and the deliveries are marked Bulk. Zero means
	// 500; a negative value pushes every message of every group, and marks
	// none Bulk.
	GroupPushLimit int
	// Contacts checks one-to-one sends against blocklists and the app's
	// only-friends setting (see ContactGate, SetContactGate). Nil checks
	// nothing.
	Contacts ContactGate
}

// UsageCounter counts messages for the usage report (tenant.Usage). Its
// methods must not block: they run on the message committer.
type UsageCounter interface {
	MessagesStored(appID string, n int)
	UserActive(appID, userID string)
}

// PostEvents is told what happened to messages, for the post events
// delivered to webhooks. Its methods must not block (they queue the
// event): MessageStored runs on the fan-out stage, once per stored
// message, in commit order.
type PostEvents interface {
	MessageStored(appID string, m store.Message, members []string)
	MessageRecalled(appID string, m store.Message, members []string)
	MessageRead(appID, userID, convID string, seq int64, at time.Time)
}

// Service is the messaging core.
type Service struct {
	store   store.Store
	router  Router
	cfg     Config
	log     *slog.Logger
	appends *groupcommit.Batcher[appendItem, store.Appended]
	acks    *groupcommit.Batcher[ackItem, store.AckResult]
	// resends batches the lookups of sends that may go to the pre-send
	// hook (resent).
	resends *groupcommit.Batcher[resendKey, bool]
	users   *userCache
	convs   *memberCache
	groups  *groupCache
	watch   *deliveryWatch
	fan     chan fanBatch // committed batches for the fan-out stage
	fanDone chan struct{} // closed when the fan-out stage has stopped
	// fanDs and fanItems are the fan-out stage's buffers, kept from one
	// batch to the next (see fanOut).
	fanDs    []Delivery
	fanItems []int32
	notify   chan offlineItem
	// deferred counts the goroutines of messages waiting for their pre-send
	// hook or their turn to be enqueued (see moderate); Run waits for them.
	deferred sync.WaitGroup
	gate     atomic.Pointer[gateBox] // the ContactGate, if any
}

// offlineItem is a notification waiting for the OfflineNotifier.
type offlineItem struct {
	appID, userID string
	msg           store.Message
	span          trace.SpanContext // the sender's, the notification's remote parent
}

// fanBatch is a committed batch of messages for the fan-out stage, or, with
// flush set, a marker the stage closes when it reaches it.
type fanBatch struct {
	items []appendItem
	outs  []store.Appended
	flush chan struct{}
}

type appendItem struct {
	appID     string
	session   string // sending session, excluded from the sender's fan-out
	draft     store.Draft
	committed func(store.Appended)
	span      trace.SpanContext // the sender's span, if any: carried to the offline notification
	pushDelay time.Duration     // the app's push delay; zero means Config.DeliveryTimeout
	dropped   bool              // moderation dropped it: it is neither stored nor delivered
	// group holds a group message's recipients (the members when it was
	// submitted); nil for a one-to-one or system message, whose draft
	// names them.
	group []string
}

// recipients returns the users a message is for.
func (it *appendItem) recipients() []string {
	if it.group != nil {
		return it.group
	}
	return it.draft.Members
}

type ackItem struct {
	appID string
	peers []string // the other members, told of the delivery
	ack   store.DeliveryAck
}

// New returns a Service; call Run to start it.
func New(st store.Store, router Router, cfg Config) *Service {
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 16384
	}
	if cfg.MaxQueueWait == 0 {
		cfg.MaxQueueWait = 250 * time.Millisecond
	}
	if cfg.ModeratedQueueWait == 0 {
		cfg.ModeratedQueueWait = 5 * time.Second
	}
	cfg.ModeratedQueueWait = max(cfg.ModeratedQueueWait, cfg.MaxQueueWait)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeliveryTimeout == 0 {
		cfg.DeliveryTimeout = 10 * time.Second
	}
	if cfg.FanOutQueue == 0 {
		cfg.FanOutQueue = 1024
	}
	if cfg.OfflineQueue == 0 {
		cfg.OfflineQueue = 8192
	}
	if cfg.OfflineWorkers == 0 {
		cfg.OfflineWorkers = 8
	}
	if cfg.GroupPushLimit == 0 {
		cfg.GroupPushLimit = 500
	}
	s := &Service{store: st, router: router, cfg: cfg, log: cfg.Logger, users: newUserCache(recipientTTL, 1<<17), convs: newMemberCache(1 << 16),
		groups: newGroupCache(1 << 22)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.SetContactGate(cfg.Contacts)
	s.watch = newDeliveryWatch(s, cfg.DeliveryTimeout, 1<<17)
	s.appends = groupcommit.New(cfg.MaxBatch, cfg.MaxQueue, s.commitAppends)
	s.fan, s.fanDone = make(chan fanBatch, cfg.FanOutQueue), make(chan struct{})
	s.notify = make(chan offlineItem, cfg.OfflineQueue)
	s.appends.After = s.committedBatch
	s.appends.MaxWait = max(cfg.MaxQueueWait, 0)
	s.acks = groupcommit.New(cfg.MaxBatch, cfg.MaxQueue, s.commitAcks)
	s.acks.After = s.deliveredReceipts
	s.resends = groupcommit.New(cfg.MaxBatch, cfg.MaxQueue, s.lookupResends)
	return s
}

// Run runs the group committers until ctx ends. Work still queued then fails
// with ErrStopped.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.appends.Run(ctx); return nil })
	g.Go(func() error { s.acks.Run(ctx); return nil })
	g.Go(func() error { s.resends.Run(ctx); return nil })
	g.Go(func() error { s.runFanOut(ctx); return nil })
	var notifiers errgroup.Group
	for range s.cfg.OfflineWorkers {
		notifiers.Go(func() error { s.runNotify(ctx); return nil })
	}
	err := g.Wait()
	s.deferred.Wait() // their enqueues fail with ErrStopped from now on
	s.watch.stop()
	_ = notifiers.Wait() // they return nil
	return err
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Error is a failure the client caused; Code is one of the wire error codes.
type Error struct {
	Code    string
	Message string
	// Reason is, for a message_rejected Error, the code of the rule or the
	// pre-send hook that rejected the message (or moderation_invalid);
	// empty otherwise.
	Reason string
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Code + " (" + e.Reason + "): " + e.Message
	}
	return e.Code + ": " + e.Message
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// recipientTTL is how long a recipient known to exist is not looked up again.
const recipientTTL = 30 * time.Second

// Message kinds accepted by Send.
var messageTypes = map[string]bool{TypeText: true, TypeCustom: true, TypeImage: true, TypeFile: true,
	TypeAudio: true, TypeVideo: true, TypeLocation: true}

// TypeNotice is the type of the system messages the server posts about a
// conversation (group changes); JSON content. Only system sends use it.
const TypeNotice = "notice"

// SendRequest is a message to send.
type SendRequest struct {
	AppID    string
	SenderID string // empty with System
	// Session is the sending connection's session id; the sender's other
	// devices get the message, this one only its SendAck. Empty for the
	// server API.
	Session  string
	ToUserID string
	// ToGroupID sends to a group instead of a user: exactly one of the two
	// is set.
	ToGroupID   string
	ClientMsgID string
	Type        string
	Content     string
	// System sends a system message into the recipient's system
	// conversation instead of a one-to-one conversation, or, with
	// ToGroupID, a message without a sender into the group (notices of
	// membership changes).
	System bool
	// Mentions are the group members the message mentions; MentionAll
	// mentions every member (the owner and admins only). Groups only.
	Mentions   []string
	MentionAll bool
	// ServerAPI is set for messages sent through the server API: the app
	// may moderate them differently.
	ServerAPI bool
	// Order, if set, keeps this message behind the sender's earlier
	// messages submitted through the same Order while moderation holds
	// them (the pre-send hook); a connection has one. Nil orders the message
	// behind nothing that moderation holds.
	Order *Order
	// MaxBytes is the app's content size limit.
	MaxBytes int
	// Push is the message's push options (JSON, checked by the caller with
	// push.ParseOptions), stored with it; nil for none.
	Push []byte
	// PushDelay is the app's push delay: how long a message pushed to a
	// recipient's online devices may go unacknowledged before the
	// recipient is treated as offline for it. Zero means
	// Config.DeliveryTimeout.
	PushDelay time.Duration
	// Committed, if set, is called once the message is durable (or found to
	// be a duplicate, or dropped by moderation: Appended.Dropped), on the
	// committer and in commit order: before anything
	// committed later is pushed to any device. A connection uses it to queue
	// its SendAck ahead of later pushes. It must not block.
	Committed func(store.Appended)
	// Done, if set, is for a caller that does not wait: Submit returns no
	// Pending, and Done is called once with what Wait would have
	// returned, after Committed: on the committer (it must not block), or
	// on moderation's goroutine if the message failed there. It is not
	// called when Submit returns an error.
	Done func(store.Appended, error)
}

func (r *SendRequest) validate() *Error {
	switch {
	case r.ClientMsgID == "" || len(r.ClientMsgID) > 128 || !utf8.ValidString(r.ClientMsgID):
		return errorf("invalid_argument", "client_msg_id must be 1-128 bytes of UTF-8")
	case r.ToGroupID != "" && r.ToUserID != "":
		return errorf("invalid_argument", "set to_user_id or to_group_id, not both")
	case r.ToGroupID == "" && !validUserID(r.ToUserID):
		return errorf("invalid_argument", "to_user_id is not a valid user id")
	case r.ToGroupID == "" && (len(r.Mentions) > 0 || r.MentionAll):
		return errorf("invalid_argument", "mentions are for group messages")
	case !messageTypes[r.Type] && !(r.System && r.Type == TypeNotice):
		return errorf("invalid_message", "type must be one of text, custom, image, file, audio, video, location")
	}
	return validContent(r.Type, r.Content, r.MaxBytes)
}

// CheckContent checks a message's type and content as Send does, for
// messages that do not go through it (chat rooms); maxBytes is the app's
// size limit (zero for none). The error is an *Error.
func CheckContent(typ, content string, maxBytes int) error {
	if !messageTypes[typ] {
		return errorf("invalid_message", "type must be one of text, custom, image, file, audio, video, location")
	}
	if e := validContent(typ, content, maxBytes); e != nil {
		return e
	}
	return nil
}

// validContent checks a message's content, sent or replaced by moderation;
// maxBytes is the app's size limit (zero for none).
func validContent(typ, content string, maxBytes int) *Error {
	switch {
	case content == "":
		return errorf("invalid_message", "content is empty")
	case maxBytes > 0 && len(content) > maxBytes:
		return errorf("message_too_large", "content is %d bytes; the limit is %d", len(content), maxBytes)
	case !utf8.ValidString(content):
		return errorf("invalid_message", "content is not valid UTF-8")
	case (typ == "custom" || typ == TypeNotice) && !jsonValid(content):
		return errorf("invalid_message", "custom content must be a JSON document")
	}
	return validTyped(typ, content)
}

// Send validates, moderates, sequences and durably stores a message, fans
// it out, and returns it once durable. A resend with the same client
// message id returns the original with Duplicate set and stores nothing. A
// message moderation dropped returns with Dropped set and seq 0; one it
// rejected fails with a message_rejected Error.
func (s *Service) Send(ctx context.Context, req SendRequest) (store.Appended, error) {
	p, err := s.Submit(ctx, req)
	if err != nil {
		return store.Appended{}, err
	}
	return p.Wait(ctx)
}

// Pending is a submitted message waiting for its commit.
type Pending struct {
	t *groupcommit.Ticket[appendItem, store.Appended]
	// ready is nil when the message was enqueued by Submit; otherwise
	// moderation deferred it, and ready is closed once t or err is set.
	ready chan struct{}
	err   error
}

// Wait returns the stored message once it is durable (or dropped by
// moderation).
func (p *Pending) Wait(ctx context.Context) (store.Appended, error) {
	var t *groupcommit.Ticket[appendItem, store.Appended]
	if p.ready == nil {
		t = p.t
	} else {
		var err error
		if t, err = p.waitDeferred(ctx); err != nil {
			return store.Appended{}, err
		}
	}
	outs, err := t.Wait(ctx)
	if err != nil {
		return store.Appended{}, err
	}
	return outs[0], nil
}

// Submit validates and moderates a message and queues it for the next
// commit without waiting. Messages submitted one after the other by one
// goroutine are sequenced in that order; when the app's moderation has a
// pre-send hook, only those submitted through one Order are. Submit never
// waits for the hook: the message is queued once the hook has answered
// and the messages ahead of it in its Order are queued.
func (s *Service) Submit(ctx context.Context, req SendRequest) (*Pending, error) {
	if e := req.validate(); e != nil {
		return nil, e
	}
	if !req.System && !validUserID(req.SenderID) {
		return nil, errorf("invalid_argument", "sender is not a valid user id")
	}
	if e := validMentions(req.Mentions); e != nil {
		return nil, e
	}
	it := appendItem{appID: req.AppID, session: req.Session, committed: req.Committed,
		span: trace.SpanContextFromContext(ctx), pushDelay: req.PushDelay, draft: store.Draft{
			SenderID: req.SenderID, ClientMsgID: req.ClientMsgID,
			Type: req.Type, Body: []byte(req.Content), Push: req.Push, CreatedAt: s.now(),
		}}
	switch {
	case req.ToGroupID != "":
		members, err := s.groupSend(ctx, &req)
		if err != nil {
			return nil, err
		}
		it.group = members
		it.draft.ConvID, it.draft.Mentions, it.draft.MentionAll = GroupConvID(req.ToGroupID), req.Mentions, req.MentionAll
	default:
		ok, err := s.users.exists(ctx, s.store, req.AppID, req.ToUserID, s.cfg.Now())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf("user_not_found", "no user %q in this app", req.ToUserID)
		}
		if err := s.checkContacts(ctx, &req); err != nil {
			return nil, err
		}
		it.draft.ConvID = P2PConvID(req.SenderID, req.ToUserID)
		if req.System {
			it.draft.ConvID = SystemConvID(req.ToUserID)
		}
		it.draft.Members = newMembers(req.SenderID, req.ToUserID)
	}
	if err := s.checkFileRefs(ctx, req.AppID, it.draft.ConvID, req.Type, req.Content); err != nil {
		return nil, err
	}
	if s.cfg.Busy != nil && s.cfg.Busy() {
		return nil, ErrOverloaded
	}
	if s.cfg.Moderator != nil && !(req.System && req.Type == TypeNotice) { // the server's own notices are not moderated
		pol, err := s.cfg.Moderator.Policy(ctx, req.AppID, req.ServerAPI)
		if err != nil {
			return nil, fmt.Errorf("moderation policy: %w", err)
		}
		if pol != nil || req.Order.waiting() {
			return s.moderate(ctx, req, pol, it)
		}
	}
	return s.enqueue(ctx, &req, it, s.cfg.MaxQueueWait)
}

// enqueue queues it for the next commit, waiting up to wait for room in a
// full queue: with req.Done called once it is committed, or as a Pending.
func (s *Service) enqueue(ctx context.Context, req *SendRequest, it appendItem, wait time.Duration) (*Pending, error) {
	if done := req.Done; done != nil {
		return nil, s.appends.EnqueueFunc(ctx, []appendItem{it}, wait, func(outs []store.Appended, err error) {
			if err != nil {
				done(store.Appended{}, err)
				return
			}
			done(outs[0], nil)
		})
	}
	t, err := s.appends.EnqueueWait(ctx, []appendItem{it}, wait)
	if err != nil {
		return nil, err
	}
	return &Pending{t: t}, nil
}

// RetryAfter is how long a sender refused with ErrOverloaded should wait
// before sending again: about the time the queued messages take to commit.
func (s *Service) RetryAfter() time.Duration { return s.appends.RetryAfter() }

// commitAppends stores a batch, one store call per app; an app whose
// store call fails fails alone, and so does a draft the store reports as
// not stored. Drafts moderation dropped are not stored.
func (s *Service) commitAppends(ctx context.Context, items []appendItem) ([]store.Appended, []error) {
	ctx, span := batchSpan(ctx, "messaging commit", items)
	defer span.End()
	live, idx := withoutDropped(items)
	outs, errs := s.appendByApp(ctx, live)
	if idx != nil {
		all, allErrs := make([]store.Appended, len(items)), make([]error, len(items))
		for i := range items {
			all[i] = droppedResult(items[i])
		}
		for j, i := range idx {
			all[i], allErrs[i] = outs[j], errs[j]
		}
		outs, errs = all, allErrs
	}
	return outs, errs
}

// appendByApp stores items, one store call per app.
func (s *Service) appendByApp(ctx context.Context, items []appendItem) ([]store.Appended, []error) {
	outs, errs := commitByApp(items, func(it appendItem) (string, store.Draft) { return it.appID, it.draft },
		func(app string, drafts []store.Draft) ([]store.Appended, error) {
			res, err := s.store.App(app).AppendMessages(ctx, drafts)
			if err != nil {
				return nil, fmt.Errorf("append %d messages: %w", len(drafts), err)
			}
			return res, nil
		})
	for i := range outs {
		if errs[i] == nil && outs[i].Err != nil {
			errs[i] = fmt.Errorf("append message: %w", outs[i].Err)
		}
	}
	return outs, errs
}

// maxLinks bounds the links of a batch span to the senders' spans.
const maxLinks = 64

// batchSpan starts the span of a batch of messages: a root span (a batch
// serves many traces) linked to the spans that sent its messages. With
// tracing off, or no sender traced, it returns ctx and a span that does
// nothing.
func batchSpan(ctx context.Context, name string, items []appendItem) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return ctx, noSpan
	}
	var links []trace.Link
	for _, it := range items {
		if it.span.IsValid() && len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: it.span})
		}
	}
	if len(links) == 0 {
		return ctx, noSpan
	}
	return telemetry.StartSpan(ctx, name, trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("magpie.batch.size", len(items))))
}

// noSpan is a span that does nothing.
var noSpan = noop.Span{}

// commitByApp groups items by app, makes one store call per app, and
// returns per-item results and errors in input order.
func commitByApp[Item, In, Out any](items []Item, split func(Item) (string, In), call func(app string, ins []In) ([]Out, error)) ([]Out, []error) {
	errs := make([]error, len(items))
	if app, ins, ok := oneApp(items, split); ok { // the usual case: no regrouping
		res, err := call(app, ins)
		if err == nil && len(res) != len(ins) {
			err = fmt.Errorf("store answered %d of %d items", len(res), len(ins))
		}
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			return make([]Out, len(items)), errs
		}
		return res, errs
	}
	outs := make([]Out, len(items))
	for _, group := range groupByApp(items, func(it Item) string { app, _ := split(it); return app }) {
		ins := make([]In, len(group.idx))
		for j, i := range group.idx {
			_, ins[j] = split(items[i])
		}
		res, err := call(group.appID, ins)
		if err == nil && len(res) != len(ins) {
			err = fmt.Errorf("store answered %d of %d items", len(res), len(ins))
		}
		for j, i := range group.idx {
			if err != nil {
				errs[i] = err
			} else {
				outs[i] = res[j]
			}
		}
	}
	return outs, errs
}

// oneApp returns the app of items and their store inputs, if they all
// belong to one app.
func oneApp[Item, In any](items []Item, split func(Item) (string, In)) (string, []In, bool) {
	if len(items) == 0 {
		return "", nil, false
	}
	ins := make([]In, len(items))
	var first string
	for i, it := range items {
		app, in := split(it)
		if i == 0 {
			first = app
		} else if app != first {
			return "", nil, false
		}
		ins[i] = in
	}
	return first, ins, true
}

type appGroup struct {
	appID string
	idx   []int
}

// groupByApp groups item indexes by app, keeping first-seen app order and
// item order within each app.
func groupByApp[T any](items []T, app func(T) string) []appGroup {
	var groups []appGroup
	pos := make(map[string]int)
	for i, it := range items {
		a := app(it)
		k, ok := pos[a]
		if !ok {
			k = len(groups)
			pos[a] = k
			groups = append(groups, appGroup{appID: a})
		}
		groups[k].idx = append(groups[k].idx, i)
	}
	return groups
}

// committedBatch runs on the message committer after each commit: it runs
// the senders' Committed callbacks (their SendAcks go ahead of anything
// committed later), then hands the batch to the fan-out stage, waiting only
// if the stage is FanOutQueue batches behind.
func (s *Service) committedBatch(items []appendItem, outs []store.Appended) {
	if s.cfg.Usage != nil {
		s.countUsage(items, outs) // before the acks: an acked message is counted
	}
	stored := 0
	for i, out := range outs {
		if out.Err == nil && !out.Duplicate && !out.Dropped {
			stored++
		}
		if items[i].committed != nil {
			items[i].committed(out)
		}
	}
	s.cfg.Metrics.MessagesAccepted(stored)
	select {
	case s.fan <- fanBatch{items: items, outs: outs}:
	case <-s.fanDone:
	}
}

// countUsage tells Config.Usage about a committed batch's stored messages
// and their senders: one call per run of messages of one app, one per
// run of messages of one sender.
func (s *Service) countUsage(items []appendItem, outs []store.Appended) {
	app, sender, n := "", "", 0
	for i, out := range outs {
		if out.Err != nil || out.Duplicate || out.Dropped {
			continue
		}
		it := &items[i]
		if it.appID != app {
			if n > 0 {
				s.cfg.Usage.MessagesStored(app, n)
			}
			app, sender, n = it.appID, "", 0
		}
		n++
		if it.draft.SenderID != "" && it.draft.SenderID != sender {
			sender = it.draft.SenderID
			s.cfg.Usage.UserActive(app, sender)
		}
	}
	if n > 0 {
		s.cfg.Usage.MessagesStored(app, n)
	}
}

// runFanOut delivers committed batches, in commit order, until ctx ends,
// then delivers what is still queued and stops.
func (s *Service) runFanOut(ctx context.Context) {
	defer close(s.fanDone)
	for {
		select {
		case b := <-s.fan:
			s.fanOut(b)
		case <-ctx.Done():
			for {
				select {
				case b := <-s.fan:
					s.fanOut(b)
				default:
					return
				}
			}
		}
	}
}

// fanOut delivers a batch's newly stored messages to every member's online
// devices (the sending session excepted) with one Router call, and tells
// the sender when a recipient had no device online.
//
// The deliveries are built in buffers kept from one batch to the next: a
// message to a 1,000-member group is 1,000 of them, and allocating them
// anew for every batch was two fifths of what the server allocated at
// 250,000 deliveries/s (docs/benchmarks.md, "A large group's deliveries
// wait for each other"). Only the
// stage's goroutine calls fanOut, and Router.Deliver keeps nothing of ds.
func (s *Service) fanOut(b fanBatch) {
	if b.flush != nil {
		close(b.flush)
		return
	}
	n := 0
	for i, out := range b.outs {
		if !out.Duplicate && !out.Dropped && out.Err == nil {
			n += len(b.items[i].recipients())
		}
	}
	if n == 0 {
		return
	}
	ds, items := s.fanDs[:0], s.fanItems[:0] // the item each delivery is of
	defer func() {
		clear(ds) // keeps no message alive
		if cap(ds) <= maxFanBuffer {
			s.fanDs, s.fanItems = ds[:0], items[:0]
		}
	}()
	for i := range b.outs {
		out := &b.outs[i]
		if out.Duplicate || out.Dropped || out.Err != nil {
			continue
		}
		it := &b.items[i]
		if s.cfg.Events != nil {
			s.cfg.Events.MessageStored(it.appID, out.Message, it.recipients())
		}
		bulk := s.largeGroup(it)
		for _, m := range it.recipients() {
			except := ""
			if m == out.SenderID {
				except = it.session
			}
			ds = append(ds, Delivery{AppID: it.appID, UserID: m, Except: except, Msg: &out.Message, Bulk: bulk})
			items = append(items, int32(i))
		}
	}
	if len(ds) == 0 {
		return
	}
	_, span := batchSpan(context.Background(), "messaging fan-out", b.items)
	span.SetAttributes(attribute.Int("magpie.deliveries", len(ds)))
	defer span.End()
	for i, n := range s.router.Deliver(ds) {
		d := &ds[i]
		if d.UserID == d.Msg.SenderID {
			continue
		}
		it, out := &b.items[items[i]], &b.outs[items[i]]
		// A large group's members are notified of (and watched for) only
		// the messages that mention them: pushing each of a 10,000-member
		// group's messages to everyone offline is noise, and a flood.
		switch {
		case d.Bulk && !out.MentionAll && !slices.Contains(out.Mentions, d.UserID): // delivered if online, synced if not
		case n > 0:
			s.watch.pushed(d.AppID, d.UserID, *d.Msg, it.span, it.pushDelay)
		default:
			s.offline(d.AppID, d.UserID, *d.Msg, it.span)
		}
	}
}

// largeGroup reports whether it is a message to a group of more than
// Config.GroupPushLimit members.
func (s *Service) largeGroup(it *appendItem) bool {
	return it.group != nil && s.cfg.GroupPushLimit >= 0 && len(it.group) > s.cfg.GroupPushLimit
}

// maxFanBuffer bounds the deliveries whose buffer the fan-out stage keeps
// for the next batch (about 56 bytes each); a larger batch's is dropped.
const maxFanBuffer = 1 << 16

// offline tells the sender that msg is stored for user, who has no device
// that took it, and hands it to the offline notifier; span is the sending
// span's context, if any.
func (s *Service) offline(appID, user string, msg store.Message, span trace.SpanContext) {
	if s.cfg.Offline != nil {
		select {
		case s.notify <- offlineItem{appID, user, msg, span}:
		default:
			s.cfg.Metrics.OfflineNotificationDropped()
			s.log.Warn("offline notification dropped: too many waiting", "app_id", appID, "conv_id", msg.ConvID, "seq", msg.Seq)
		}
	}
	s.cfg.Metrics.MessageStoredOffline()
	if _, group := GroupOf(msg.ConvID); msg.SenderID != "" && !group {
		// A group's sender is not told of each member: read counts
		// replace receipts there.
		s.router.PushReceipt(appID, msg.SenderID, "", Receipt{
			Kind: ReceiptStored, ConvID: msg.ConvID, Seq: msg.Seq, UserID: user, At: s.now(),
		})
	}
}

// runNotify hands queued notifications to the OfflineNotifier until ctx
// ends, then those still queued (each call bounded by offlineTimeout).
func (s *Service) runNotify(ctx context.Context) {
	call := func(it offlineItem) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), offlineTimeout)
		defer cancel()
		if it.span.IsValid() {
			// The notification continues the sender's trace, across the
			// group commit and the fan-out.
			cctx = trace.ContextWithRemoteSpanContext(cctx, it.span)
		}
		if err := s.cfg.Offline.Offline(cctx, it.appID, it.userID, it.msg); err != nil {
			s.log.WarnContext(cctx, "offline notification not recorded", "err", err, "app_id", it.appID)
		}
	}
	for {
		select {
		case it := <-s.notify:
			call(it)
		case <-ctx.Done():
			<-s.fanDone // nothing is queued after the fan-out stage stopped
			for {
				select {
				case it := <-s.notify:
					call(it)
				default:
					return
				}
			}
		}
	}
}

// offlineTimeout bounds one OfflineNotifier call.
const offlineTimeout = 5 * time.Second

// Errors of Send and Submit when the core cannot take the message now.
var (
	// ErrOverloaded means the commit queue is full; retry with backoff.
	ErrOverloaded = groupcommit.ErrOverloaded
	// ErrStopped means the service is not running.
	ErrStopped = groupcommit.ErrStopped
)

// UserDeleted tells the service that a user no longer exists, so that
// sends to it are refused at once rather than when the recipient cache
// expires.
func (s *Service) UserDeleted(appID, userID string) { s.users.forget(appID, userID) }

// ForgetUsers empties the recipient cache: this node may have missed
// deletions made on others (a control-event outage).
func (s *Service) ForgetUsers() { s.users.forgetAll() }
