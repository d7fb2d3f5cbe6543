package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Events carries the control-plane changes that must reach every gateway
// node, not only the one that served the request: a user blocked, deleted
// or whose tokens were revoked must lose its sessions wherever they are,
// and every node must drop its cached credentials of a changed app.
//
// In embedded mode there is one node and the events apply at once
// (the default, when Config.Events is nil). In cluster mode an
// implementation broadcasts each event to every node, which applies it
// with ApplyUserChanged, ApplyAppChanged, ApplyGroupChanged,
// ApplyContactsChanged and ApplyPresenceChanged.
//
// The users service publishes UserChanged (users.Events) and the management
// API AppChanged (manage.Events) through the Events of the gateway.
type Events interface {
	// UserChanged reports that a user was blocked, deleted or had its
	// tokens revoked.
	UserChanged(ctx context.Context, appID, userID string, deleted bool) error
	// AppChanged reports that an app's settings, state or secrets changed.
	AppChanged(ctx context.Context, appID string) error
	// GroupChanged reports that a group or its members changed: every node
	// drops what it cached of the group.
	GroupChanged(ctx context.Context, appID, groupID string) error
	// ContactsChanged reports that a user's contacts changed (a friend
	// added or removed, a block or unblock): every node drops its cached
	// contact verdicts involving the user.
	ContactsChanged(ctx context.Context, appID, userID string) error
	// PresenceChanged reports that a user came online or went offline (at
	// the node that saw it): every node pushes it to the connections that
	// watch the user (node.Hub.ApplyPresence).
	PresenceChanged(ctx context.Context, appID, userID string, online bool, at time.Time) error
}

// localEvents applies events on this node only: embedded mode.
type localEvents struct{ g *Gateway }

func (l localEvents) UserChanged(ctx context.Context, appID, userID string, deleted bool) error {
	l.g.ApplyUserChanged(ctx, appID, userID, deleted)
	return nil
}

func (l localEvents) AppChanged(ctx context.Context, appID string) error {
	return l.g.ApplyAppChanged(ctx, appID)
}

func (l localEvents) GroupChanged(ctx context.Context, appID, groupID string) error {
	l.g.ApplyGroupChanged(ctx, appID, groupID)
	return nil
}

func (l localEvents) ContactsChanged(ctx context.Context, appID, userID string) error {
	l.g.ApplyContactsChanged(ctx, appID, userID)
	return nil
}

func (l localEvents) PresenceChanged(ctx context.Context, appID, userID string, online bool, at time.Time) error {
	l.g.ApplyPresenceChanged(ctx, appID, userID, online, at)
	return nil
}

// ApplyPresenceChanged applies a PresenceChanged event to this node: the
// connections here that watch the user are told (node.Hub.ApplyPresence).
func (g *Gateway) ApplyPresenceChanged(ctx context.Context, appID, userID string, online bool, at time.Time) {
	g.hub.ApplyPresence(ctx, appID, userID, online, at)
}

// presencePublisher is the hub's node.PresencePublisher: it records when a
// user who went offline was last seen, then reports the change through
// Events to every node.
type presencePublisher struct{ g *Gateway }

func (p presencePublisher) PublishPresence(ctx context.Context, appID, userID string, online bool, at time.Time) error {
	if !online {
		err := p.g.store.App(appID).SetLastSeen(ctx, userID, at)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			// The change still goes out; the last seen time is lost.
			p.g.log.WarnContext(ctx, "record last seen", "err", err, "app_id", appID, "user_id", userID)
		}
	}
	return p.g.events.PresenceChanged(ctx, appID, userID, online, at)
}

// ApplyContactsChanged applies a ContactsChanged event to this node: the
// contacts service drops its cached verdicts involving the user, so the
// next one-to-one send from or to the user is checked against the store.
func (g *Gateway) ApplyContactsChanged(_ context.Context, appID, userID string) {
	g.contacts.Forget(appID, userID)
}

// ApplyGroupChanged applies a GroupChanged event to this node: the
// messaging core drops what it cached of the group (its members, roles and
// mutes), so the next send, ack or delivery reads them again.
func (g *Gateway) ApplyGroupChanged(_ context.Context, appID, groupID string) {
	g.msgs.GroupChanged(appID, groupID)
}

// ApplyUserChanged applies a UserChanged event to this node: a deleted
// user is forgotten by the messaging core's recipient cache, and the
// user's sessions here are re-checked (closed if the user is gone, blocked
// or its token revoked).
func (g *Gateway) ApplyUserChanged(_ context.Context, appID, userID string, deleted bool) {
	if deleted {
		g.msgs.UserDeleted(appID, userID)
	}
	g.hub.UserChanged(appID, userID)
}

// ApplyAppChanged applies an AppChanged event to this node: the app's
// cached credentials and what Config.Caches hold of it are dropped and its sessions closed if the app was
// disabled or the secret that signed their token was revoked.
func (g *Gateway) ApplyAppChanged(ctx context.Context, appID string) error {
	app, err := g.store.GetApp(ctx, appID)
	if err != nil {
		return fmt.Errorf("app changed: %w", err)
	}
	g.tenants.Forget(app.Key)
	g.contacts.ForgetApp(appID)
	for _, c := range g.cfg.Caches {
		c.Forget(appID)
	}
	creds, err := g.tenants.Resolve(ctx, app.Key)
	if err != nil {
		return fmt.Errorf("app changed: %w", err)
	}
	g.hub.AppChanged(appID, creds.App.Disabled)
	g.hub.SecretsChanged(appID, creds.Secrets)
	return nil
}
