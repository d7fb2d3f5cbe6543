package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
)

// EmitterConfig configures an Emitter. The zero value is usable.
type EmitterConfig struct {
	// Logger receives a warning when events are dropped. Nil discards.
	Logger *slog.Logger
	// Metrics counts dropped events. Nil records nothing.
	Metrics *telemetry.Metrics
	// Queue caps the events waiting for the bus; beyond it new events are
	// dropped (counted and logged), so that a bus outage never holds up
	// the messaging core. Zero means 16384.
	Queue int
	// MaxBatch caps the events published in one job. Zero means 256.
	MaxBatch int
	// SubscriptionTTL is how long an app's subscriptions are trusted
	// before they are read again (Forget drops them at once). Zero means
	// 10 seconds.
	SubscriptionTTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Emitter turns what happens in apps into post events and publishes them,
// batched per app, on QueueEvents, where a Worker delivers them. Events
// of a type that no enabled endpoint of the app subscribed to are dropped
// at once, without touching the bus.
//
// Its methods other than Run never block: they queue the event and
// return. Events queued when the process dies before Run published them
// are lost (the window is one batch); docs/webhooks.md says so. It is
// safe for concurrent use.
type Emitter struct {
	pub   Publisher
	subs  *subscriptions
	cfg   EmitterConfig
	queue chan queued
}

type queued struct {
	appID string
	ev    Event
}

// NewEmitter returns an Emitter that reads subscriptions from st and
// publishes on pub; call Run to start publishing.
func NewEmitter(st Store, pub Publisher, cfg EmitterConfig) *Emitter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16384
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.SubscriptionTTL <= 0 {
		cfg.SubscriptionTTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Emitter{pub: pub, cfg: cfg, queue: make(chan queued, cfg.Queue),
		subs: &subscriptions{st: st, ttl: cfg.SubscriptionTTL, now: cfg.Now, apps: make(map[string]appSubs)}}
}

// Forget drops what the emitter knows of an app's subscriptions: its
// endpoints changed.
func (e *Emitter) Forget(appID string) { e.subs.forget(appID) }

// Wants reports whether an event of type typ of app appID may have to be
// delivered: true unless the app's subscriptions are known and exclude
// it. It never blocks.
func (e *Emitter) Wants(appID, typ string) bool {
	s, ok := e.subs.peek(appID)
	return !ok || s.types[typ] || s.all
}

// Emit queues ev of app appID for publication, unless no endpoint wants
// it.
func (e *Emitter) Emit(appID string, ev Event) {
	if !e.Wants(appID, ev.Type) {
		return
	}
	select {
	case e.queue <- queued{appID, ev}:
	default:
		e.cfg.Metrics.WebhookEventsDropped(1)
		e.cfg.Logger.Warn("webhook event dropped: too many waiting", "app_id", appID, "type", ev.Type)
	}
}

// MessageStored reports a newly stored message (message.created, and
// conversation.created for a conversation's first message); a notice of a
// group change is reported as its group.* event instead. It runs on the
// messaging core's fan-out stage.
func (e *Emitter) MessageStored(appID string, m store.Message, members []string) {
	key := m.ConvID + ":" + strconv.FormatInt(m.Seq, 10)
	group, isGroup := strings.CutPrefix(m.ConvID, store.GroupConvPrefix)
	if isGroup {
		members = nil // a group's members are listed by the server API, not in every event
	}
	if m.Seq == 1 && e.Wants(appID, EventConversationCreated) {
		kind := "p2p"
		switch {
		case isGroup:
			kind = "group"
		case m.SenderID == "":
			kind = "system"
		}
		e.Emit(appID, NewEvent(appID, EventConversationCreated, m.ConvID, m.CreatedAt,
			ConversationData{ConvID: m.ConvID, Kind: kind, Members: members, GroupID: group, CreatedAt: m.CreatedAt}))
	}
	if isGroup && m.Type == noticeType && m.SenderID == "" {
		e.groupNotice(appID, group, key, m)
		return
	}
	if e.Wants(appID, EventMessageCreated) {
		e.Emit(appID, NewEvent(appID, EventMessageCreated, key, m.CreatedAt, messageData(m, members)))
	}
}

// noticeType is the type of the server's notices (messaging.TypeNotice).
const noticeType = "notice"

// groupNotice reports a notice of a group change as its group.* event:
// "members.added" is group.members_added, "group.created" group.created.
func (e *Emitter) groupNotice(appID, group, key string, m store.Message) {
	var n struct {
		Event        string   `json:"event"`
		By           string   `json:"by"`
		UserIDs      []string `json:"user_ids"`
		Role         string   `json:"role"`
		MutedUntilMS int64    `json:"muted_until_ms"`
		Fields       []string `json:"fields"`
	}
	if err := json.Unmarshal(m.Body, &n); err != nil || n.Event == "" {
		e.cfg.Logger.Warn("undecodable group notice", "app_id", appID, "conv_id", m.ConvID, "seq", m.Seq)
		return
	}
	typ := n.Event
	if !strings.HasPrefix(typ, "group.") {
		typ = "group." + strings.ReplaceAll(typ, ".", "_")
	}
	if !knownEvent(typ) || !e.Wants(appID, typ) {
		return
	}
	d := GroupData{GroupID: group, By: n.By, UserIDs: n.UserIDs, Role: n.Role, Fields: n.Fields, Seq: m.Seq, At: m.CreatedAt}
	if n.MutedUntilMS > 0 {
		t := time.UnixMilli(n.MutedUntilMS).UTC()
		d.MutedUntil = &t
	}
	e.Emit(appID, NewEvent(appID, typ, key, m.CreatedAt, d))
}

// MessageRecalled reports a recalled message (message.recalled).
func (e *Emitter) MessageRecalled(appID string, m store.Message, members []string) {
	if e.Wants(appID, EventMessageRecalled) {
		key := m.ConvID + ":" + strconv.FormatInt(m.Seq, 10)
		e.Emit(appID, NewEvent(appID, EventMessageRecalled, key, m.RecalledAt, messageData(m, members)))
	}
}

// MessageRead reports that userID read conversation convID up to seq
// (message.read).
func (e *Emitter) MessageRead(appID, userID, convID string, seq int64, at time.Time) {
	if e.Wants(appID, EventMessageRead) {
		key := userID + "\x00" + convID + ":" + strconv.FormatInt(seq, 10)
		e.Emit(appID, NewEvent(appID, EventMessageRead, key, at, ReadData{ConvID: convID, UserID: userID, Seq: seq, At: at}))
	}
}

// UserPresence reports that a user came online (its first session) or
// went offline (its last session ended and it stayed away).
func (e *Emitter) UserPresence(appID, userID string, online bool, at time.Time) {
	typ := EventUserOffline
	if online {
		typ = EventUserOnline
	}
	if e.Wants(appID, typ) {
		key := userID + "@" + strconv.FormatInt(at.UnixMilli(), 10)
		e.Emit(appID, NewEvent(appID, typ, key, at, PresenceData{UserID: userID, At: at}))
	}
}

func messageData(m store.Message, members []string) MessageData {
	d := MessageData{ConvID: m.ConvID, Seq: m.Seq, SenderID: m.SenderID, Members: members, ClientMsgID: m.ClientMsgID,
		Type: m.Type, Content: string(m.Body), CreatedAt: m.CreatedAt, Mentions: m.Mentions, MentionAll: m.MentionAll}
	if group, ok := strings.CutPrefix(m.ConvID, store.GroupConvPrefix); ok {
		d.GroupID, d.Members = group, nil
	}
	if !m.RecalledAt.IsZero() {
		at := m.RecalledAt
		d.RecalledAt, d.Content = &at, ""
	}
	return d
}

// Run publishes queued events until ctx ends, then publishes what is
// still queued, within a few seconds, and returns nil.
func (e *Emitter) Run(ctx context.Context) error {
	for {
		select {
		case q := <-e.queue:
			e.publish(ctx, e.batch(q))
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			defer cancel()
			for {
				select {
				case q := <-e.queue:
					e.publish(dctx, e.batch(q))
				default:
					return nil
				}
			}
		}
	}
}

// drainTimeout bounds the publication of queued events at shutdown.
const drainTimeout = 5 * time.Second

// batch returns first and the events queued behind it, up to MaxBatch.
func (e *Emitter) batch(first queued) []queued {
	b := []queued{first}
	for len(b) < e.cfg.MaxBatch {
		select {
		case q := <-e.queue:
			b = append(b, q)
		default:
			return b
		}
	}
	return b
}

// publish publishes a batch: one job per app, holding the events some
// endpoint of the app subscribed to. A failed publication is retried a few
// times, then dropped.
func (e *Emitter) publish(ctx context.Context, b []queued) {
	var order []string
	byApp := make(map[string][]Event)
	for _, q := range b {
		if _, ok := byApp[q.appID]; !ok {
			order = append(order, q.appID)
		}
		byApp[q.appID] = append(byApp[q.appID], q.ev)
	}
	for _, app := range order {
		s, err := e.subs.get(ctx, app)
		if err != nil {
			e.drop(ctx, app, len(byApp[app]), err)
			continue
		}
		var evs []Event
		for _, ev := range byApp[app] {
			if s.all || s.types[ev.Type] {
				evs = append(evs, ev)
			}
		}
		if len(evs) == 0 {
			continue
		}
		if err := e.publishRetry(ctx, app, evs); err != nil {
			e.drop(ctx, app, len(evs), err)
		}
	}
}

func (e *Emitter) publishRetry(ctx context.Context, app string, evs []Event) error {
	delay := 50 * time.Millisecond
	var err error
	for range publishAttempts {
		if err = publishEvents(ctx, e.pub, app, evs); err == nil {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay *= 4
	}
	return err
}

// publishAttempts bounds the publications of one batch.
const publishAttempts = 4

func (e *Emitter) drop(ctx context.Context, app string, n int, err error) {
	e.cfg.Metrics.WebhookEventsDropped(n)
	e.cfg.Logger.WarnContext(ctx, "webhook events dropped", "app_id", app, "events", n, "err", err)
}

// subscriptions caches, per app, the event types its enabled post-event
// endpoints subscribed to.
type subscriptions struct {
	st  Store
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex // guards apps
	apps map[string]appSubs
}

type appSubs struct {
	all    bool // some endpoint takes every type
	types  map[string]bool
	loaded time.Time
}

// maxCachedApps bounds the cache; when full it starts over.
const maxCachedApps = 1 << 16

// peek returns the app's subscriptions if known and fresh.
func (s *subscriptions) peek(appID string) (appSubs, bool) {
	s.mu.Lock()
	a, ok := s.apps[appID]
	s.mu.Unlock()
	if !ok || s.now().Sub(a.loaded) > s.ttl {
		return appSubs{}, false
	}
	return a, true
}

// get returns the app's subscriptions, reading them if not fresh.
func (s *subscriptions) get(ctx context.Context, appID string) (appSubs, error) {
	if a, ok := s.peek(appID); ok {
		return a, nil
	}
	hooks, err := s.st.App(appID).ListWebhooks(ctx)
	if err != nil {
		return appSubs{}, err
	}
	a := appSubs{types: make(map[string]bool), loaded: s.now()}
	for _, h := range hooks {
		if h.Kind != store.WebhookEvents || !h.Enabled {
			continue
		}
		if len(h.Events) == 0 {
			a.all = true
		}
		for _, t := range h.Events {
			a.types[t] = true
		}
	}
	s.mu.Lock()
	if len(s.apps) >= maxCachedApps {
		clear(s.apps)
	}
	s.apps[appID] = a
	s.mu.Unlock()
	return a, nil
}

func (s *subscriptions) forget(appID string) {
	s.mu.Lock()
	delete(s.apps, appID)
	s.mu.Unlock()
}

// PushFailures reports push.failed events (push.FailureReporter),
// publishing each at once: the push workers run where no Emitter does.
type PushFailures struct{ Pub Publisher }

// PushFailed implements push.FailureReporter.
func (p PushFailures) PushFailed(ctx context.Context, appID string, f push.Failure) error {
	key := f.UserID + "\x00" + f.DeviceID + "\x00" + f.ConvID + ":" + strconv.FormatInt(f.Seq, 10)
	return publishEvents(ctx, p.Pub, appID, []Event{NewEvent(appID, EventPushFailed, key, f.At, PushFailedData{
		UserID: f.UserID, DeviceID: f.DeviceID, Provider: f.Provider, ConvID: f.ConvID, Seq: f.Seq, Reason: f.Reason, At: f.At,
	})})
}
