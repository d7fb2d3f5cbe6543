package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// Broadcaster is what BroadcastEvents needs of the bus: a broadcast that
// reaches every subscribed node.
type Broadcaster interface {
	Broadcast(ctx context.Context, event []byte) error
}

// BroadcastEvents is the Events of cluster mode: every event is broadcast
// over the bus, and every gateway node, subscribed with ApplyEvent as its
// handler, applies it (the node that published it too).
type BroadcastEvents struct {
	Bus Broadcaster
}

var _ Events = BroadcastEvents{}

// event is the wire form of a control-plane event (JSON, versioned by the
// kind names: a node ignores kinds it does not know).
type event struct {
	Kind    string `json:"kind"` // "user_changed", "app_changed", "group_changed", "contacts_changed" or "presence_changed"
	AppID   string `json:"app_id"`
	UserID  string `json:"user_id,omitempty"`
	GroupID string `json:"group_id,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Online and AtMS are a presence change's state and time (Unix ms).
	Online bool  `json:"online,omitempty"`
	AtMS   int64 `json:"at_ms,omitempty"`
}

// UserChanged implements Events.
func (b BroadcastEvents) UserChanged(ctx context.Context, appID, userID string, deleted bool) error {
	return b.send(ctx, event{Kind: "user_changed", AppID: appID, UserID: userID, Deleted: deleted})
}

// AppChanged implements Events.
func (b BroadcastEvents) AppChanged(ctx context.Context, appID string) error {
	return b.send(ctx, event{Kind: "app_changed", AppID: appID})
}

// ContactsChanged implements Events.
func (b BroadcastEvents) ContactsChanged(ctx context.Context, appID, userID string) error {
	return b.send(ctx, event{Kind: "contacts_changed", AppID: appID, UserID: userID})
}

// PresenceChanged implements Events.
func (b BroadcastEvents) PresenceChanged(ctx context.Context, appID, userID string, online bool, at time.Time) error {
	return b.send(ctx, event{Kind: "presence_changed", AppID: appID, UserID: userID, Online: online, AtMS: at.UnixMilli()})
}

// GroupChanged implements Events.
func (b BroadcastEvents) GroupChanged(ctx context.Context, appID, groupID string) error {
	return b.send(ctx, event{Kind: "group_changed", AppID: appID, GroupID: groupID})
}

func (b BroadcastEvents) send(ctx context.Context, e event) error {
	msg, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Kind, err)
	}
	if err := b.Bus.Broadcast(ctx, msg); err != nil {
		return fmt.Errorf("broadcast %s event: %w", e.Kind, err)
	}
	return nil
}

// ApplyEvent applies one event broadcast by BroadcastEvents on this node;
// it is the handler a node subscribes to the bus's broadcast with. An event
// it cannot decode or apply is logged and dropped: the sessions it would
// close are re-checked at their next login. A nil msg says the node was
// cut off from the broadcast and may have missed events (see
// bus.Bus.Subscribe): it resynchronises.
func (g *Gateway) ApplyEvent(ctx context.Context, msg []byte) {
	if msg == nil {
		g.resync(ctx)
		return
	}
	var e event
	if err := json.Unmarshal(msg, &e); err != nil {
		g.log.WarnContext(ctx, "drop undecodable control event", "err", err)
		return
	}
	switch e.Kind {
	case "user_changed":
		g.ApplyUserChanged(ctx, e.AppID, e.UserID, e.Deleted)
	case "app_changed":
		if err := g.ApplyAppChanged(ctx, e.AppID); err != nil {
			g.log.WarnContext(ctx, "apply app change", "err", err, "app_id", e.AppID)
		}
	case "group_changed":
		g.ApplyGroupChanged(ctx, e.AppID, e.GroupID)
	case "contacts_changed":
		g.ApplyContactsChanged(ctx, e.AppID, e.UserID)
	case "presence_changed":
		g.ApplyPresenceChanged(ctx, e.AppID, e.UserID, e.Online, time.UnixMilli(e.AtMS).UTC())
	default:
		g.log.DebugContext(ctx, "ignore unknown control event", "kind", e.Kind)
	}
}

// resync makes up for missed control events: it drops the cached app
// credentials, recipients and groups, and re-checks every app and user with a
// session on this node, as if each had changed.
func (g *Gateway) resync(ctx context.Context) {
	g.tenants.ForgetAll()
	g.hub.UsersMayHaveChanged()
	g.msgs.ForgetUsers()
	g.msgs.ForgetGroups()
	g.contacts.ForgetAll()
	users := g.hub.Users()
	g.log.WarnContext(ctx, "control events may have been missed; re-checking this node's sessions", "users", len(users))
	apps := map[string]bool{}
	for _, u := range users {
		if !apps[u.AppID] {
			apps[u.AppID] = true
			if err := g.ApplyAppChanged(ctx, u.AppID); err != nil {
				g.log.WarnContext(ctx, "re-check app", "err", err, "app_id", u.AppID)
			}
		}
	}
	// A read at a time would hold the control events back for as many
	// reads as there are users, each up to its timeout when the store is
	// slow.
	var eg errgroup.Group
	eg.SetLimit(resyncReads)
	for _, u := range users {
		eg.Go(func() error {
			g.hub.UserChanged(u.AppID, u.UserID)
			return nil
		})
	}
	_ = eg.Wait()
}

// resyncReads is how many users a resync reads at once.
const resyncReads = 16
