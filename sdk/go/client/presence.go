package client

import (
	"context"
	"slices"
	"sync"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Presence is a user's presence: what SubscribePresence returns for each
// watched user, and an event (Next) each time one comes online or goes
// offline, until UnsubscribePresence. Only friends who do not block the
// user can be watched (docs/protocol.md, "Presence").
type Presence struct {
	UserID string
	// Online is set while the user has a session on any device. Offline
	// means it has had none for the server's debounce (5 s by default).
	Online bool
	// LastSeen is when the user went offline; zero while it is online, or
	// if it never was.
	LastSeen time.Time
	// At is when the change happened (or when the server read the state).
	// The same state may come twice; keep the one with the latest At.
	At time.Time
}

func (Presence) event() {}

// presenceSubs is what the client watches, to watch it again on every new
// session (the server forgets a connection's subscriptions when it ends).
type presenceSubs struct {
	mu      sync.Mutex // guards the fields below
	users   map[string]struct{}
	friends bool
}

// SubscribePresence watches the presence of userIDs and, with friends, of
// all the user's friends (the first 1,000, as of now). It returns the
// present state of every watched user, by user id, and the user ids the
// server refused: users who are not friends, or who block the user, or
// any beyond the bound of 1,000 per connection. Every later change comes
// as a Presence event. After a reconnect the client watches the same
// users again and hands out their state as Presence events. Errors are
// *Error with codes such as invalid_argument.
func (c *Client) SubscribePresence(ctx context.Context, userIDs []string, friends bool) ([]Presence, []string, error) {
	r, err := c.request(ctx, subscribePresenceFrame(userIDs, friends))
	if err != nil {
		return nil, nil, err
	}
	page := r.GetPresencePage()
	c.presence.mu.Lock()
	if c.presence.users == nil {
		c.presence.users = make(map[string]struct{})
	}
	for _, p := range page.GetUsers() {
		c.presence.users[p.GetUserId()] = struct{}{}
	}
	c.presence.friends = c.presence.friends || friends
	c.presence.mu.Unlock()
	return toPresences(page.GetUsers()), page.GetRefused(), nil
}

// UnsubscribePresence stops watching userIDs, or every user with all.
func (c *Client) UnsubscribePresence(ctx context.Context, userIDs []string, all bool) error {
	c.presence.mu.Lock()
	if all {
		c.presence.users, c.presence.friends = nil, false
	}
	for _, u := range userIDs {
		delete(c.presence.users, u)
	}
	c.presence.mu.Unlock()
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_UnsubscribePresence{
		UnsubscribePresence: &magpiev1.UnsubscribePresence{UserIds: userIDs, All: all}}})
	return err
}

func subscribePresenceFrame(userIDs []string, friends bool) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SubscribePresence{
		SubscribePresence: &magpiev1.SubscribePresence{UserIds: userIDs, Friends: friends}}}
}

func toPresence(p *magpiev1.UserPresence) Presence {
	out := Presence{UserID: p.GetUserId(), Online: p.GetOnline(), At: time.UnixMilli(p.GetAtMs())}
	if ms := p.GetLastSeenMs(); ms != 0 {
		out.LastSeen = time.UnixMilli(ms)
	}
	return out
}

func toPresences(ps []*magpiev1.UserPresence) []Presence {
	out := make([]Presence, len(ps))
	for i, p := range ps {
		out[i] = toPresence(p)
	}
	return out
}

// onPresence handles a UserPresence push.
func (c *Client) onPresence(_ *session, p *magpiev1.UserPresence) {
	c.events.push(toPresence(p))
}

// resubscribePresence watches the client's users again on a new session
// and hands out their state as events.
func (c *Client) resubscribePresence(ctx context.Context, s *session) {
	c.presence.mu.Lock()
	ids := make([]string, 0, len(c.presence.users))
	for u := range c.presence.users {
		ids = append(ids, u)
	}
	friends := c.presence.friends
	c.presence.mu.Unlock()
	if len(ids) == 0 && !friends {
		return
	}
	slices.Sort(ids)
	r, err := c.callSession(ctx, s, subscribePresenceFrame(ids, friends))
	if err != nil {
		c.log.Warn("subscribe presence again", "err", err)
		return
	}
	for _, p := range r.GetPresencePage().GetUsers() {
		c.events.push(toPresence(p))
	}
}
