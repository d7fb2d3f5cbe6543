package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Presence subscriptions: a connection watches the presence of its user's
// friends (SubscribePresence) and gets a UserPresence push when one comes
// online or goes offline. The node that sees a user's first session begin,
// or its last one end (after the debounce of presenceWatch), hands the
// change to the hub's PresencePublisher, which records the last seen time
// and carries the change to every node (a broadcast on the bus in cluster
// mode); each node's ApplyPresence pushes it to the connections that watch
// the user there, after checking again that each may see it (contacts
// verdicts, cached).

// Bounds of presence subscriptions.
const (
	// defaultPresenceWatches is Config.MaxPresenceWatches' default.
	defaultPresenceWatches = 1000
	// maxPresenceQueue bounds the changes waiting to be published; beyond
	// it a change is dropped (logged): watchers see it at their next
	// SubscribePresence.
	maxPresenceQueue = 8192
	publishTimeout   = 5 * time.Second
)

// PresencePublisher carries a user's presence change to every gateway node,
// whose Hub.ApplyPresence hands it to the connections watching the user
// there; the gateway's also records when an offline user was last seen.
type PresencePublisher interface {
	PublishPresence(ctx context.Context, appID, userID string, online bool, at time.Time) error
}

// presenceSubs are a hub's presence subscriptions and the changes it has
// yet to publish. Its mu is taken alone: nothing is called while it is
// held.
type presenceSubs struct {
	pub PresencePublisher // nil: changes are not published; set before serving

	mu     sync.Mutex // guards the fields below
	byUser map[userKey]*watched
	byConn map[*conn]map[string]struct{} // user ids each connection watches
	queue  []presenceChange              // changes waiting to be published
	// publishing is set while a goroutine (counted in wg) drains queue.
	publishing bool
	stopped    bool
	wg         sync.WaitGroup
	// ctx bounds every publish; cancelled when a shutdown stops waiting
	// for the queue (stopPublishing), which then drops what is left.
	ctx    context.Context
	cancel context.CancelFunc
}

// watched is one user's watchers on this node, and the time of the last
// change pushed to them (older changes arriving late are dropped).
type watched struct {
	conns map[*conn]struct{}
	at    time.Time
}

type presenceChange struct {
	key    userKey
	online bool
	at     time.Time
}

// PublishPresence makes the hub hand its users' presence changes to pub.
// Call it before the hub serves connections.
func (h *Hub) PublishPresence(pub PresencePublisher) {
	h.watchPresence()
	h.subs.pub = pub
	h.subs.ctx, h.subs.cancel = context.WithCancel(context.Background())
}

// publishPresence queues a change for the publisher; a goroutine drains
// the queue while it is not empty.
func (h *Hub) publishPresence(k userKey, online bool, at time.Time) {
	s := &h.subs
	if s.pub == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if len(s.queue) >= maxPresenceQueue {
		h.log.Warn("drop presence change: queue full", "app_id", k.appID, "user_id", k.userID)
		return
	}
	s.queue = append(s.queue, presenceChange{key: k, online: online, at: at})
	if !s.publishing {
		s.publishing = true
		s.wg.Go(h.drainPresence)
	}
}

// drainPresence publishes the queued changes in order, then ends.
func (h *Hub) drainPresence() {
	s := &h.subs
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.publishing = false
			s.mu.Unlock()
			return
		}
		if s.ctx.Err() != nil {
			// A shutdown gave up on the queue (a store or bus that does
			// not answer would hold it for publishTimeout per change).
			h.log.Warn("presence changes dropped at shutdown", "count", len(s.queue))
			s.queue, s.publishing = nil, false
			s.mu.Unlock()
			return
		}
		ch := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.ctx, publishTimeout)
		err := s.pub.PublishPresence(ctx, ch.key.appID, ch.key.userID, ch.online, ch.at)
		cancel()
		if err != nil {
			h.log.Warn("publish presence change", "err", err, "app_id", ch.key.appID, "user_id", ch.key.userID)
		}
	}
}

// stopPublishing lets the queued changes be published and waits for them,
// until ctx ends or publishTimeout has passed: then the publish in flight
// is cancelled and the rest of the queue dropped, so that a shutdown with
// a store that does not answer does not take publishTimeout per change.
func (h *Hub) stopPublishing(ctx context.Context) {
	s := &h.subs
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.cancel == nil {
		return // nothing is published
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(publishTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
	case <-t.C:
	}
	s.cancel()
	<-done
}

// ApplyPresence pushes a user's presence change to the connections of
// this node that watch the user and may still see it. A change older than
// the last one pushed for the user is dropped.
func (h *Hub) ApplyPresence(ctx context.Context, appID, userID string, online bool, at time.Time) {
	k := userKey{appID, userID}
	s := &h.subs
	s.mu.Lock()
	w := s.byUser[k]
	if w == nil || at.Before(w.at) {
		s.mu.Unlock()
		return
	}
	w.at = at
	conns := make([]*conn, 0, len(w.conns))
	for c := range w.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	conns = slices.DeleteFunc(conns, func(c *conn) bool { return !c.seesPresence(ctx, userID) })
	if len(conns) == 0 {
		return
	}
	h.push(conns, "", &magpiev1.Frame{Body: &magpiev1.Frame_UserPresence{UserPresence: wirePresence(userID, online, at, at)}}, pushPlain)
}

// wirePresence is a user's presence as the protocol says it.
func wirePresence(userID string, online bool, lastSeen, at time.Time) *magpiev1.UserPresence {
	p := &magpiev1.UserPresence{UserId: userID, Online: online, AtMs: at.UnixMilli()}
	if !online && !lastSeen.IsZero() {
		p.LastSeenMs = lastSeen.UnixMilli()
	}
	return p
}

// seesPresence reports whether c's user may see userID's presence; an
// error counts as no (and is logged).
func (c *conn) seesPresence(ctx context.Context, userID string) bool {
	svc := c.srv.cfg.Contacts
	if svc == nil {
		return false
	}
	ok, err := svc.SeesPresence(ctx, c.appID, c.userID, userID)
	if err != nil {
		c.srv.log.WarnContext(ctx, "presence check", "err", err, "conn_id", c.session, "app_id", c.appID)
		return false
	}
	return ok
}

// watch makes c watch the users, as many as stay within max watches per
// connection, and returns those beyond it.
func (h *Hub) watch(c *conn, userIDs []string, max int) (over []string) {
	s := &h.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := s.byConn[c]
	if mine == nil {
		mine = make(map[string]struct{})
		s.byConn[c] = mine
	}
	for _, u := range userIDs {
		if _, ok := mine[u]; ok {
			continue
		}
		if len(mine) >= max {
			over = append(over, u)
			continue
		}
		mine[u] = struct{}{}
		k := userKey{c.appID, u}
		w := s.byUser[k]
		if w == nil {
			w = &watched{conns: make(map[*conn]struct{})}
			s.byUser[k] = w
		}
		w.conns[c] = struct{}{}
	}
	if len(mine) == 0 {
		delete(s.byConn, c)
	}
	return over
}

// unwatch stops c watching the users, or all of them with all.
func (h *Hub) unwatch(c *conn, userIDs []string, all bool) {
	s := &h.subs
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := s.byConn[c]
	if all {
		userIDs = make([]string, 0, len(mine))
		for u := range mine {
			userIDs = append(userIDs, u)
		}
	}
	for _, u := range userIDs {
		if _, ok := mine[u]; !ok {
			continue
		}
		delete(mine, u)
		k := userKey{c.appID, u}
		if w := s.byUser[k]; w != nil {
			delete(w.conns, c)
			if len(w.conns) == 0 {
				delete(s.byUser, k)
			}
		}
	}
	if len(mine) == 0 {
		delete(s.byConn, c)
	}
}

// presenceFrame serves SubscribePresence and UnsubscribePresence.
func (c *conn) presenceFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	max := c.srv.cfg.MaxPresenceWatches
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_SubscribePresence:
		page, err := c.subscribePresence(ctx, b.SubscribePresence, max)
		var reply *magpiev1.Frame
		if err == nil {
			reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_PresencePage{PresencePage: page}}
		}
		c.replyResult(id, reply, err)
	case *magpiev1.Frame_UnsubscribePresence:
		r := b.UnsubscribePresence
		if len(r.GetUserIds()) > max {
			c.reply(wire.ErrorFrame(id, wire.CodeInvalidArgument, fmt.Sprintf("user_ids: at most %d", max)))
			return
		}
		c.srv.hub.unwatch(c, r.GetUserIds(), r.GetAll())
		c.reply(ok(id))
	}
}

// subscribePresence watches the friends the request names (and all the
// user's friends with friends set) and returns their state. Anyone else
// is refused alike, so the answer tells nothing of users who are not
// friends, nor of other apps.
func (c *conn) subscribePresence(ctx context.Context, r *magpiev1.SubscribePresence, max int) (*magpiev1.PresencePage, error) {
	svc := c.srv.cfg.Contacts
	if svc == nil {
		return nil, wireError(wire.CodeUnavailable, "presence subscriptions are not available on this server")
	}
	if len(r.GetUserIds()) > max {
		return nil, wireError(wire.CodeInvalidArgument, fmt.Sprintf("user_ids: at most %d", max))
	}
	if slices.Contains(r.GetUserIds(), "") {
		return nil, wireError(wire.CodeInvalidArgument, "user_ids: an empty id")
	}
	want := slices.Clone(r.GetUserIds())
	if r.GetFriends() {
		friends, err := c.friendIDs(ctx, svc, max)
		if err != nil {
			return nil, err
		}
		want = append(want, friends...)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	var allowed, refused []string
	for _, u := range want {
		ok, err := svc.SeesPresence(ctx, c.appID, c.userID, u)
		if err != nil {
			return nil, err
		}
		if ok {
			allowed = append(allowed, u)
		} else {
			refused = append(refused, u)
		}
	}
	over := c.srv.hub.watch(c, allowed, max)
	allowed = slices.DeleteFunc(allowed, func(u string) bool { return slices.Contains(over, u) })
	refused = append(refused, over...)
	slices.Sort(refused)
	users, err := c.presenceOf(ctx, allowed)
	if err != nil {
		return nil, err
	}
	return &magpiev1.PresencePage{Users: users, Refused: refused}, nil
}

// friendIDs returns the first max friends of the user, by id.
func (c *conn) friendIDs(ctx context.Context, svc *contacts.Service, max int) ([]string, error) {
	var out []string
	after := ""
	for len(out) < max {
		fs, next, err := svc.Friends(ctx, c.appID, c.userID, after, min(contacts.MaxPage, max-len(out)))
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			out = append(out, f.FriendID)
		}
		if next == "" {
			break
		}
		after = next
	}
	return out, nil
}

// presenceOf reads the present state of the users: online per the hub (the
// presence registry in cluster mode), last seen per the store.
func (c *conn) presenceOf(ctx context.Context, userIDs []string) ([]*magpiev1.UserPresence, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	online, err := c.srv.hub.UsersOnline(ctx, c.appID, userIDs)
	if err != nil {
		return nil, err
	}
	now := c.srv.now()
	as := c.srv.store.App(c.appID)
	out := make([]*magpiev1.UserPresence, 0, len(userIDs))
	for _, u := range userIDs {
		var seen time.Time
		if !online[u] {
			user, err := as.GetUser(ctx, u)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("get user: %w", err)
			}
			seen = user.LastSeenAt
		}
		out = append(out, wirePresence(u, online[u], seen, now))
	}
	return out, nil
}

// codedError is an error the connection answers with an Error frame of
// its code.
type codedError struct{ code, msg string }

func (e *codedError) Error() string { return e.code + ": " + e.msg }

// wireError returns a codedError.
func wireError(code, msg string) error { return &codedError{code: code, msg: msg} }
