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
	if debounce <= 0 {
		debounce = 5 * time.Second
	}
	h.presence = &presenceWatch{ev: ev, debounce: debounce, pending: make(map[userKey]*time.Timer)}
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

// loggedIn reports a session that registered: an online event unless the
// user has other sessions or was about to be reported offline.
func (h *Hub) reportLogin(ctx context.Context, c *conn) {
	p := h.presence
	if p == nil {
		return
	}
	k := userKey{c.appID, c.userID}
	p.mu.Lock()
	if t := p.pending[k]; t != nil {
		t.Stop()
		delete(p.pending, k)
		p.mu.Unlock()
		return // back within the debounce: it never went offline
	}
	p.mu.Unlock()
	if h.sessionsOf(ctx, k) == 1 {
		p.ev.UserPresence(k.appID, k.userID, true, c.srv.now())
	}
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
			p.ev.UserPresence(k.appID, k.userID, false, c.srv.now())
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
