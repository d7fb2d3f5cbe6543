package node

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// PresenceEvents is told when a user comes online (its first session,
// across the cluster) and when it goes offline (its last session ended
// and it did not come back within the debounce). The calls must not
// block: they queue the event.
type PresenceEvents interface {
	UserPresence(appID, userID string, online bool, at time.Time)
}

// presenceWatch turns a hub's logins and logouts into presence events,
// holding each offline event back for the debounce so that a reconnect
// (a phone switching networks) reports nothing.
type presenceWatch struct {
	ev       PresenceEvents
	debounce time.Duration

	mu      sync.Mutex // guards the following fields
	pending map[userKey]*time.Timer
	stopped bool
}

// WatchPresence makes the hub report users coming online and going
// offline to ev, an offline only once the user has had no session for
// debounce (zero means 5 seconds). Call it before the hub serves
// connections.
func (h *Hub) WatchPresence(ev PresenceEvents, debounce time.Duration) {
	p := h.watchPresence()
	p.ev = ev
	if debounce > 0 {
		p.debounce = debounce
	}
}

// watchPresence returns the hub's presenceWatch, made on first use with
// the default debounce and no PresenceEvents (presence subscriptions need
// it too). Called before serving.
func (h *Hub) watchPresence() *presenceWatch {
	if h.presence == nil {
		h.presence = &presenceWatch{debounce: 5 * time.Second, pending: make(map[userKey]*time.Timer)}
	}
	return h.presence
}

// sessionsOf counts the sessions of a user: this node's, or, in cluster
// mode, the presence registry's (this node's if it cannot be reached).
func (h *Hub) sessionsOf(ctx context.Context, k userKey) int {
	if h.cl != nil {
		ctx, cancel := context.WithTimeout(ctx, registerTimeout)
		defer cancel()
		m, err := h.cl.Presence.Lookup(ctx, k.appID, []string{k.userID})
		if err == nil {
			return len(m[k.userID])
		}
	}
	return len(h.conns(k.appID, k.userID))
}

// reportLogin reports a session that registered: an online event unless
// the user has other sessions or was about to be reported offline. The
// presence subscribers are told in that last case too (the user's watchers
// may have read it offline from the registry meanwhile); they keep the
// latest state.
func (h *Hub) reportLogin(ctx context.Context, c *conn) {
	p := h.presence
	if p == nil {
		return
	}
	k := userKey{c.appID, c.userID}
	p.mu.Lock()
	back := false
	if t := p.pending[k]; t != nil {
		t.Stop()
		delete(p.pending, k)
		back = true // back within the debounce: it never went offline
	}
	p.mu.Unlock()
	if back && h.subs.pub == nil {
		return
	}
	if h.sessionsOf(ctx, k) != 1 {
		return
	}
	at := c.srv.now()
	if !back && p.ev != nil {
		p.ev.UserPresence(k.appID, k.userID, true, at)
	}
	h.publishPresence(k, true, at)
}

// reportLogout reports a session that ended: if it was the user's last,
// an offline event after the debounce, unless the user came back.
func (h *Hub) reportLogout(c *conn) {
	p := h.presence
	if p == nil {
		return
	}
	k := userKey{c.appID, c.userID}
	if h.sessionsOf(context.Background(), k) > 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.pending[k] != nil {
		return
	}
	p.pending[k] = time.AfterFunc(p.debounce, func() {
		p.mu.Lock()
		if p.stopped || p.pending[k] == nil {
			p.mu.Unlock()
			return
		}
		delete(p.pending, k)
		p.mu.Unlock()
		if h.sessionsOf(context.Background(), k) == 0 {
			at := c.srv.now()
			if p.ev != nil {
				p.ev.UserPresence(k.appID, k.userID, false, at)
			}
			h.publishPresence(k, false, at)
		}
	})
}

// stopPresence cancels the pending offline events: at shutdown the users
// reconnect elsewhere.
func (h *Hub) stopPresence() {
	p := h.presence
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for k, t := range p.pending {
		t.Stop()
		delete(p.pending, k)
	}
}

// UsersOnline reports which of userIDs have a session: on this node, or,
// in cluster mode, on any node (per the presence registry).
func (h *Hub) UsersOnline(ctx context.Context, appID string, userIDs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(userIDs))
	if h.cl != nil {
		ctx, cancel := context.WithTimeout(ctx, registerTimeout)
		defer cancel()
		m, err := h.cl.Presence.Lookup(ctx, appID, userIDs)
		if err != nil {
			return nil, fmt.Errorf("presence lookup: %w", err)
		}
		for _, u := range userIDs {
			out[u] = len(m[u]) > 0
		}
		return out, nil
	}
	for _, u := range userIDs {
		out[u] = len(h.conns(appID, u)) > 0
	}
	return out, nil
}
