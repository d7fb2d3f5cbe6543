// Package presence is the cluster-wide registry of client sessions: which
// gateway node holds which WebSocket session of which user. The gateway
// registers a session when it logs in and unregisters it when it ends; the
// messaging fan-out looks up, once per batch of recipients, the nodes that
// hold their sessions. The registry also applies an app's device limit
// across nodes.
//
// Two implementations pass one conformance suite (package presencetest):
// Memory, in process, for embedded mode, and Redis for cluster mode.
//
// # Liveness
//
// A node is alive while its heartbeat, renewed by Refresh, has not expired:
// a Refresh at t with ttl keeps it alive before t+ttl, and no longer (Redis
// counts in milliseconds), whatever earlier refreshes said. Each node picks
// its TTL; it calls Refresh with DefaultTTL every DefaultRefreshInterval, so
// it survives two missed refreshes. Sessions of a node that is not alive are
// invisible to Lookup, do not count towards a device limit, and are deleted
// by Sweep, by the node's next Refresh, or lazily by Register; a node that
// crashes thus loses its routes at most one TTL after its last refresh. A
// node that is not alive cannot Register (ErrNodeDown). When its heartbeat
// has lapsed, or on its first call, Refresh deletes every session the node
// had registered, revives the node and reports false: the node must then
// register again the sessions it still serves (the limit applies again, so
// that may kick or refuse some). Expiry is Redis key expiry in the Redis
// implementation, and the injected clock in Memory; nothing else votes.
//
// # Rooms
//
// The registry also holds the live state of chat rooms (package rooms),
// which is never stored durably: how many members of each room every node
// holds (a node's entries follow its liveness exactly as its sessions do:
// invisible once it is not alive, deleted by Sweep or its next Refresh),
// each room's message sequence, shared by every node, and its last few
// messages.
//
// A node id names one run of a gateway process: a process that restarts
// takes a new id (say, host name plus a random suffix). One that reused its
// id within the TTL would find its previous run still alive and inherit its
// sessions as ghosts.
package presence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	// DefaultTTL is how long a node stays alive after a Refresh.
	DefaultTTL = 30 * time.Second
	// DefaultRefreshInterval is how often a node should call Refresh with
	// DefaultTTL: a third of it, so two refreshes may fail in a row.
	DefaultRefreshInterval = 10 * time.Second
)

// Errors returned by every implementation. Callers test them with errors.Is.
var (
	// ErrTooManyDevices means Register refused a session: the user already
	// has the maximum number of sessions and the policy is Refuse.
	ErrTooManyDevices = errors.New("presence: the user has the maximum number of devices online")
	// ErrNodeDown means the session's node is not alive: it has never
	// called Refresh, or its heartbeat has lapsed.
	ErrNodeDown = errors.New("presence: node not alive; refresh it first")
	// ErrInvalid means an argument is malformed (an empty id, an app id
	// with ':', an unknown policy, a NUL byte in an id).
	ErrInvalid = errors.New("presence: invalid argument")
)

// Session is one logged-in WebSocket session of a user's device, held by a
// node.
type Session struct {
	AppID    string
	UserID   string
	DeviceID string
	// SessionID is unique among all sessions, ever.
	SessionID string
	// NodeID names the gateway node that holds the session.
	NodeID string
	// ConnectedAt is when the session logged in, by the node's clock. The
	// registry keeps it at millisecond precision, in UTC.
	ConnectedAt time.Time
}

// Policy says what Register does when a user already has the maximum
// number of sessions. The zero value means KickOldest.
type Policy string

const (
	// KickOldest registers the new session and kicks the oldest ones (by
	// ConnectedAt) to make room.
	KickOldest Policy = "kick_oldest"
	// Refuse refuses the new session with ErrTooManyDevices.
	Refuse Policy = "refuse"
)

// Presence is the session registry. Implementations are safe for
// concurrent use. Register, Unregister and Refresh are atomic with respect
// to every other call, on any node; Lookup sees each user's sessions as of
// one instant (not necessarily the same instant for every user of a batch).
type Presence interface {
	// Register adds s for its user. A session of the same device is
	// replaced and returned in kicked. If the user's other live sessions
	// number maxDevices or more (below 1 counts as 1), Refuse fails with
	// ErrTooManyDevices and changes nothing, and KickOldest kicks the
	// oldest of them (by ConnectedAt, then SessionID) to make room,
	// returning them in kicked too: the same device's session first, then
	// the others oldest first. The caller closes the kicked sessions, on
	// their own nodes. Registering a session that is already registered
	// does nothing. It fails with ErrNodeDown if s.NodeID is not alive.
	Register(ctx context.Context, s Session, maxDevices int, policy Policy) (kicked []Session, err error)
	// Unregister removes s. It is idempotent, and never removes another
	// session of the same device (one that replaced s).
	Unregister(ctx context.Context, s Session) error
	// Lookup returns the live sessions of the app's users, by user id, in
	// one round trip. Users without a live session have no entry. Each
	// user's sessions are ordered by ConnectedAt, then SessionID.
	Lookup(ctx context.Context, appID string, userIDs []string) (map[string][]Session, error)
	// Refresh keeps node alive for ttl from now (zero means DefaultTTL).
	// It reports whether the node was alive before the call; if not, the
	// sessions the node had registered are gone and it must register again
	// those it still serves (see the package documentation).
	Refresh(ctx context.Context, nodeID string, ttl time.Duration) (wasAlive bool, err error)
	// Sweep deletes the sessions of nodes that are not alive. Any node
	// may call it now and then (every minute or so) and several may call
	// it at once; it only frees memory, since Lookup and Register already
	// ignore those sessions.
	Sweep(ctx context.Context) error

	// SetRoomMembers records that node holds n members of an app's room;
	// n 0 removes the node's entry. A positive n fails with ErrNodeDown
	// if the node is not alive.
	SetRoomMembers(ctx context.Context, appID, roomID, nodeID string, n int) error
	// RoomMembers returns how many members of the room each live node
	// holds. Nodes without members, and nodes that are not alive, have no
	// entry.
	RoomMembers(ctx context.Context, appID, roomID string) (map[string]int, error)
	// AppendRoomMessage gives data the room's next seq (from 1, strictly
	// increasing, the same sequence on every node), keeps it among the
	// room's last keep messages (at least 1) and returns the seq, in one
	// atomic step.
	AppendRoomMessage(ctx context.Context, appID, roomID string, data []byte, keep int) (int64, error)
	// RoomHistory returns up to n of the room's last messages kept by
	// AppendRoomMessage, oldest first.
	RoomHistory(ctx context.Context, appID, roomID string, n int) ([]RoomMessage, error)
	// DeleteRoom forgets a room's members, seq and history: a room
	// created again with its id starts at seq 1.
	DeleteRoom(ctx context.Context, appID, roomID string) error
}

// RoomMessage is one message of a room's recent history: its seq and the
// bytes given to AppendRoomMessage.
type RoomMessage struct {
	Seq  int64
	Data []byte
}

// checkRoom returns ErrInvalid unless the app and room ids are valid.
func checkRoom(appID, roomID string) error {
	if err := checkApp(appID); err != nil {
		return err
	}
	if !validID(roomID) {
		return fmt.Errorf("%w: room id %q", ErrInvalid, roomID)
	}
	return nil
}

// validate checks the ids of a session and returns it with ConnectedAt
// normalised.
func (s Session) validate() (Session, error) {
	switch {
	case !validAppID(s.AppID):
		return s, fmt.Errorf("%w: app id %q", ErrInvalid, s.AppID)
	case !validID(s.UserID):
		return s, fmt.Errorf("%w: user id %q", ErrInvalid, s.UserID)
	case s.DeviceID == "":
		return s, fmt.Errorf("%w: empty device id", ErrInvalid)
	case !validID(s.SessionID):
		return s, fmt.Errorf("%w: session id %q", ErrInvalid, s.SessionID)
	case !validID(s.NodeID):
		return s, fmt.Errorf("%w: node id %q", ErrInvalid, s.NodeID)
	}
	s.ConnectedAt = time.UnixMilli(s.ConnectedAt.UnixMilli()).UTC()
	return s, nil
}

// validID reports whether id is not empty and has no NUL byte (the Redis
// implementation separates ids with NUL).
func validID(id string) bool { return id != "" && !strings.Contains(id, "\x00") }

// validAppID also refuses ':', which would let two apps' keys collide.
func validAppID(id string) bool { return validID(id) && !strings.Contains(id, ":") }

// checkPolicy returns the policy's effective value, or ErrInvalid.
func checkPolicy(p Policy) (Policy, error) {
	switch p {
	case "", KickOldest:
		return KickOldest, nil
	case Refuse:
		return Refuse, nil
	}
	return "", fmt.Errorf("%w: device policy %q", ErrInvalid, p)
}

// ttlOrDefault returns ttl, DefaultTTL for zero or less, and at least a
// millisecond (the expiry precision).
func ttlOrDefault(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultTTL
	}
	return max(ttl, time.Millisecond)
}

// byAge orders sessions by ConnectedAt, then SessionID: oldest first.
func byAge(a, b Session) int {
	if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
		return c
	}
	return strings.Compare(a.SessionID, b.SessionID)
}

// checkApp returns ErrInvalid unless appID is valid.
func checkApp(appID string) error {
	if !validAppID(appID) {
		return fmt.Errorf("%w: app id %q", ErrInvalid, appID)
	}
	return nil
}

// uniqueIDs returns the user ids without duplicates or invalid ones (which
// have no sessions).
func uniqueIDs(userIDs []string) []string {
	ids := make([]string, 0, len(userIDs))
	for _, id := range userIDs {
		if validID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
