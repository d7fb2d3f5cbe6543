// Package rooms owns an app's chat rooms: live, presence-based audiences
// such as the viewers of a live stream. A room record (name, owner,
// settings, muted users) and its bans are durable in the store; everything
// else is live state that is never stored:
//
//   - Membership is the connections that joined the room. Each gateway
//     node keeps its own members in memory (node.Hub) and reports how many
//     it holds to the presence registry (State), which gives the room's
//     member count and the nodes to fan out to. A connection that ends
//     leaves every room it joined; a node that dies loses its members when
//     its presence heartbeat expires.
//   - Messages get a per-room seq from the State (shared by every node)
//     and the room keeps its last HistorySize messages there, returned on
//     join. There is no offline storage and no gap pull beyond that
//     history.
//
// Reliability contract: a message acknowledged to its sender is pushed at
// most once to each connection that is a member when it is fanned out, in
// seq order per sending node. It can be lost (a slow consumer closed, a
// relay lost, load shed), and a member notices a gap in seqs; it is never
// stored beyond the recent history.
//
// Load: each room has a token-bucket rate limit (messages per second) on
// each node, and a bounded fan-out queue per node. When the queue is over
// its bound, messages of ordinary members are refused and the ones queued
// are dropped, while the owner's and the app backend's messages keep
// priority (see Service.Send).
//
// A Service is safe for concurrent use.
package rooms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// Settings' defaults and bounds.
const (
	// DefaultHistorySize is a room's history size when its record says 0.
	DefaultHistorySize = 50
	// MaxHistorySize is the largest history size a room may have.
	MaxHistorySize = 500
	// DefaultRateLimit is a room's messages per second when its record
	// says 0.
	DefaultRateLimit = 100
	// MaxRateLimit is the largest rate limit a room may have.
	MaxRateLimit = 10000
)

// Error codes of *Error. They are the wire codes of the server API and the
// client protocol.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeRoomNotFound    = "room_not_found"
	CodeRoomExists      = "room_exists"
	CodeRoomFull        = "room_full"
	CodeMemberMuted     = "member_muted"
	CodeRateLimited     = "rate_limited"
	CodeRoomBanned      = "room_banned"
	CodeUserNotFound    = "user_not_found"
)

// Error is a request the service refuses.
type Error struct {
	Code    string
	Message string
	// Field names the invalid input of an invalid_argument Error.
	Field string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, reason string) *Error {
	return &Error{Code: CodeInvalidArgument, Message: field + ": " + reason, Field: field}
}

// State is the live state of rooms shared by the gateway nodes: member
// counts per node, seqs and recent history. presence.Presence is one
// (Memory in embedded mode, Redis in cluster mode).
type State interface {
	SetRoomMembers(ctx context.Context, appID, roomID, nodeID string, n int) error
	RoomMembers(ctx context.Context, appID, roomID string) (map[string]int, error)
	AppendRoomMessage(ctx context.Context, appID, roomID string, data []byte, keep int) (int64, error)
	RoomHistory(ctx context.Context, appID, roomID string, n int) ([]presence.RoomMessage, error)
	DeleteRoom(ctx context.Context, appID, roomID string) error
}

// LeaveReason says why connections left a room without asking.
type LeaveReason int

// Leave reasons.
const (
	// Closed: the room was destroyed.
	Closed LeaveReason = iota + 1
	// Kicked: the app's backend kicked the user; it may join again.
	Kicked
	// Banned: the app's backend banned the user; it may not join again
	// until the ban is lifted.
	Banned
)

// Router carries room traffic to the connections; the gateway node's Hub
// is one.
type Router interface {
	// DeliverRoom pushes msgs, of one room and in seq order, to this
	// node's members of the room, and relays them once to each of the
	// remote nodes.
	DeliverRoom(appID, roomID string, msgs []Message, remote []string)
	// LeaveRoom takes the room's members (userID empty) or one user's
	// connections out of the room, on this node and on the remote nodes,
	// and tells them why.
	LeaveRoom(appID, roomID, userID string, why LeaveReason, remote []string)
}

// Message is one message of a room.
type Message struct {
	RoomID      string    `json:"-"`
	Seq         int64     `json:"-"`
	SenderID    string    `json:"f,omitempty"` // empty: a system message of the app's backend
	ClientMsgID string    `json:"i,omitempty"`
	Type        string    `json:"y"`
	Content     string    `json:"b"`
	CreatedAt   time.Time `json:"t"`
	// Priority: a message of the owner or the app's backend.
	Priority bool `json:"p,omitempty"`
}

// Config configures a Service. The zero value is usable, with a Router
// and a State set later (SetRouter) or in New.
type Config struct {
	// NodeID names this gateway node in the State. Empty means "local".
	NodeID string
	// QueueBound is how many messages of one room may wait for the
	// fan-out on this node before ordinary members' messages are shed.
	// Zero means 1024.
	QueueBound int
	// DedupWindow is how long a client message id is remembered per room
	// and sender, on this node. Zero means 5 minutes.
	DedupWindow time.Duration
	// CacheTTL is how long a node reuses a room record to check sends
	// (mutes, owner, rate limit): a change made on another node applies
	// there after at most this long. Zero means 2 seconds.
	CacheTTL time.Duration
	// Now returns the current time (message times, rate limits, the
	// cache). Nil means time.Now.
	Now func() time.Time
	// Logger receives fan-out errors. Nil discards them.
	Logger *slog.Logger
	// Metrics counts messages refused by a room's rate limit and those
	// refused or dropped while a room sheds load. Nil records nothing.
	Metrics *telemetry.Metrics
	// Moderator moderates room messages as the messaging core's other
	// messages: the app's keyword rules and pre-send hook. Nil moderates
	// nothing.
	Moderator messaging.Moderator
}

// Service manages rooms; see the package documentation.
type Service struct {
	cfg    Config
	store  store.Store
	state  State
	router Router
	log    *slog.Logger

	mu      sync.Mutex // guards lives, created and cache; taken before live.mu
	lives   map[roomKey]*live
	created int // lives created, for their sweeps
	cache   map[roomKey]cachedRoom

	workers sync.WaitGroup // fan-out workers
}

type roomKey struct{ appID, roomID string }

type cachedRoom struct {
	room  store.Room
	until time.Time
}

// New returns a Service on st and state, delivering through router (which
// may be set later with SetRouter, before the first send).
func New(st store.Store, state State, router Router, cfg Config) *Service {
	if cfg.NodeID == "" {
		cfg.NodeID = "local"
	}
	if cfg.QueueBound <= 0 {
		cfg.QueueBound = 1024
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = 5 * time.Minute
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, store: st, state: state, router: router, log: cfg.Logger,
		lives: make(map[roomKey]*live), cache: make(map[roomKey]cachedRoom)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// SetRouter sets the router; call it before serving.
func (s *Service) SetRouter(r Router) { s.router = r }

// NodeID returns the node's id in the State.
func (s *Service) NodeID() string { return s.cfg.NodeID }

// Wait waits for the fan-out workers to finish what is queued.
func (s *Service) Wait() { s.workers.Wait() }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Input is a room to create.
type Input struct {
	// ID is the room id (1-64 letters, digits, '_', '.', '@' or '-');
	// empty lets the service pick one.
	ID          string
	Name        string
	OwnerID     string
	HistorySize int
	RateLimit   float64
	MaxMembers  int
}

// Create creates a room. The owner, if set, must be a user of the app.
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.Room, error) {
	if in.ID == "" {
		in.ID = "room_" + strings.ToLower(rand.Text()[:16])
	}
	if !messaging.ValidGroupID(in.ID) {
		return store.Room{}, invalid("id", "1-64 letters, digits, '_', '.', '@' or '-'")
	}
	settings := store.RoomUpdate{Name: &in.Name, OwnerID: &in.OwnerID, HistorySize: &in.HistorySize,
		RateLimit: &in.RateLimit, MaxMembers: &in.MaxMembers}
	if err := s.checkSettings(ctx, appID, settings); err != nil {
		return store.Room{}, err
	}
	now := s.now()
	r := store.Room{ID: in.ID, Name: in.Name, OwnerID: in.OwnerID, HistorySize: in.HistorySize, RateLimit: in.RateLimit,
		MaxMembers: in.MaxMembers, CreatedAt: now, UpdatedAt: now}
	if err := s.store.App(appID).CreateRoom(ctx, r); errors.Is(err, store.ErrConflict) {
		return store.Room{}, fail(CodeRoomExists, "room %q exists", in.ID)
	} else if err != nil {
		return store.Room{}, err
	}
	return r, nil
}

// checkSettings validates the settings u sets; an owner must be a user of
// the app.
func (s *Service) checkSettings(ctx context.Context, appID string, u store.RoomUpdate) error {
	switch {
	case u.Name != nil && len(*u.Name) > 256:
		return invalid("name", "at most 256 bytes")
	case u.Name != nil && !utf8.ValidString(*u.Name):
		return invalid("name", "not valid UTF-8")
	case u.OwnerID != nil && *u.OwnerID != "" && !messaging.ValidUserID(*u.OwnerID):
		return invalid("owner_id", "not a valid user id")
	case u.HistorySize != nil && (*u.HistorySize < 0 || *u.HistorySize > MaxHistorySize):
		return invalid("history_size", fmt.Sprintf("0-%d (0: %d)", MaxHistorySize, DefaultHistorySize))
	case u.RateLimit != nil && (*u.RateLimit < 0 || *u.RateLimit > MaxRateLimit || math.IsNaN(*u.RateLimit)):
		return invalid("rate_limit", fmt.Sprintf("0-%d messages per second (0: %d)", MaxRateLimit, DefaultRateLimit))
	case u.MaxMembers != nil && *u.MaxMembers < 0:
		return invalid("max_members", "0 (no limit) or more")
	}
	if u.OwnerID != nil && *u.OwnerID != "" {
		return s.checkUser(ctx, appID, *u.OwnerID, "owner")
	}
	return nil
}

// checkUser checks that userID is a user of the app; what names the user
// in the error.
func (s *Service) checkUser(ctx context.Context, appID, userID, what string) error {
	if _, err := s.store.App(appID).GetUser(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return fail(CodeUserNotFound, "%s %q is not a user of the app", what, userID)
	} else if err != nil {
		return err
	}
	return nil
}

// Update changes a room's settings: the fields u sets, validated as
// Create's; the others stay. It applies to the room's members at once:
// on this node the next send reads the new settings (a new rate limit, the
// new owner's priority, the new history size); on other gateway nodes
// within CacheTTL. A lower MaxMembers refuses joins from then on and
// takes no member out.
func (s *Service) Update(ctx context.Context, appID, roomID string, u store.RoomUpdate) (store.Room, error) {
	if !messaging.ValidGroupID(roomID) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	if err := s.checkSettings(ctx, appID, u); err != nil {
		return store.Room{}, err
	}
	r, err := s.store.App(appID).UpdateRoom(ctx, roomID, u, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	if err != nil {
		return store.Room{}, err
	}
	s.forget(appID, roomID)
	return r, nil
}

// Get returns a room and its member count.
func (s *Service) Get(ctx context.Context, appID, roomID string) (store.Room, int, error) {
	r, err := s.room(ctx, appID, roomID)
	if err != nil {
		return store.Room{}, 0, err
	}
	n, err := s.MemberCount(ctx, appID, roomID)
	return r, n, err
}

// room reads a room from the store.
func (s *Service) room(ctx context.Context, appID, roomID string) (store.Room, error) {
	if !messaging.ValidGroupID(roomID) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	r, err := s.store.App(appID).GetRoom(ctx, roomID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	if err != nil {
		return store.Room{}, err
	}
	s.mu.Lock()
	s.cache[roomKey{appID, roomID}] = cachedRoom{room: r, until: s.cfg.Now().Add(s.cfg.CacheTTL)}
	s.mu.Unlock()
	return r, nil
}

// cachedRoom returns a room from the cache, or reads it.
func (s *Service) cachedRoom(ctx context.Context, appID, roomID string) (store.Room, error) {
	s.mu.Lock()
	c, ok := s.cache[roomKey{appID, roomID}]
	s.mu.Unlock()
	if ok && s.cfg.Now().Before(c.until) {
		return c.room, nil
	}
	return s.room(ctx, appID, roomID)
}

func (s *Service) forget(appID, roomID string) {
	s.mu.Lock()
	delete(s.cache, roomKey{appID, roomID})
	s.mu.Unlock()
}

// List returns up to limit rooms (1-200; 0 means 50) with id > after, and
// the id to continue after ("" on the last page).
func (s *Service) List(ctx context.Context, appID, after string, limit int) ([]store.Room, string, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 0 || limit > 200 {
		return nil, "", invalid("limit", "1-200")
	}
	rs, err := s.store.App(appID).ListRooms(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rs) > limit {
		rs, next = rs[:limit], rs[limit-1].ID
	}
	return rs, next, nil
}

// MemberCount returns the room's joined connections on every live node.
func (s *Service) MemberCount(ctx context.Context, appID, roomID string) (int, error) {
	nodes, err := s.state.RoomMembers(ctx, appID, roomID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range nodes {
		n += c
	}
	return n, nil
}

// remote returns the nodes other than this one that hold members of the
// room; a State error is logged and leaves the remote nodes out.
func (s *Service) remote(ctx context.Context, appID, roomID string) []string {
	nodes, err := s.state.RoomMembers(ctx, appID, roomID)
	if err != nil {
		s.log.WarnContext(ctx, "look up room members", "err", err, "app_id", appID, "room_id", roomID)
		return nil
	}
	out := make([]string, 0, len(nodes))
	for n := range nodes {
		if n != s.cfg.NodeID {
			out = append(out, n)
		}
	}
	return out
}

// Destroy deletes a room: its members, on every node, leave it (told it
// closed), and its live state is forgotten.
func (s *Service) Destroy(ctx context.Context, appID, roomID string) error {
	if _, err := s.room(ctx, appID, roomID); err != nil {
		return err
	}
	if err := s.store.App(appID).DeleteRoom(ctx, roomID); errors.Is(err, store.ErrNotFound) {
		return fail(CodeRoomNotFound, "no room %q", roomID)
	} else if err != nil {
		return err
	}
	s.forget(appID, roomID)
	s.router.LeaveRoom(appID, roomID, "", Closed, s.remote(ctx, appID, roomID))
	s.mu.Lock()
	delete(s.lives, roomKey{appID, roomID})
	s.mu.Unlock()
	return s.state.DeleteRoom(ctx, appID, roomID)
}

// SetMuted mutes or unmutes a user in a room.
func (s *Service) SetMuted(ctx context.Context, appID, roomID, userID string, muted bool) (store.Room, error) {
	if !messaging.ValidUserID(userID) {
		return store.Room{}, invalid("user_id", "not a valid user id")
	}
	if !messaging.ValidGroupID(roomID) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	r, err := s.store.App(appID).SetRoomMuted(ctx, roomID, userID, muted, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Room{}, fail(CodeRoomNotFound, "no room %q", roomID)
	}
	if err != nil {
		return store.Room{}, err
	}
	s.forget(appID, roomID)
	return r, nil
}

// Kick takes every connection of a user out of a room, on every node
// (they are told they were kicked). The user may join again.
func (s *Service) Kick(ctx context.Context, appID, roomID, userID string) error {
	if !messaging.ValidUserID(userID) {
		return invalid("user_id", "not a valid user id")
	}
	if _, err := s.room(ctx, appID, roomID); err != nil {
		return err
	}
	s.router.LeaveRoom(appID, roomID, userID, Kicked, s.remote(ctx, appID, roomID))
	return nil
}

// maxBanReason bounds a ban's reason, in bytes.
const maxBanReason = 256

// Ban bans a user of the app from a room: its connections leave the room
// on every node (told they were banned), and its joins are refused with
// room_banned until Unban, across reconnects and server restarts. Banning
// a banned user replaces the ban's reason and time.
func (s *Service) Ban(ctx context.Context, appID, roomID, userID, reason string) (store.RoomBan, error) {
	switch {
	case !messaging.ValidUserID(userID):
		return store.RoomBan{}, invalid("user_id", "not a valid user id")
	case len(reason) > maxBanReason || !utf8.ValidString(reason):
		return store.RoomBan{}, invalid("reason", fmt.Sprintf("at most %d bytes of UTF-8", maxBanReason))
	}
	if _, err := s.room(ctx, appID, roomID); err != nil {
		return store.RoomBan{}, err
	}
	if err := s.checkUser(ctx, appID, userID, "user"); err != nil {
		return store.RoomBan{}, err
	}
	b := store.RoomBan{RoomID: roomID, UserID: userID, Reason: reason, CreatedAt: s.now()}
	if err := s.store.App(appID).PutRoomBan(ctx, b); errors.Is(err, store.ErrNotFound) {
		return store.RoomBan{}, fail(CodeRoomNotFound, "no room %q", roomID)
	} else if err != nil {
		return store.RoomBan{}, err
	}
	// After the ban is stored: a join that did not see it added its
	// connection before it checked, so this finds the connection.
	s.router.LeaveRoom(appID, roomID, userID, Banned, s.remote(ctx, appID, roomID))
	return b, nil
}

// Unban lifts a user's ban of a room; lifting a ban that does not exist
// is not an error.
func (s *Service) Unban(ctx context.Context, appID, roomID, userID string) error {
	if !messaging.ValidUserID(userID) {
		return invalid("user_id", "not a valid user id")
	}
	if _, err := s.room(ctx, appID, roomID); err != nil {
		return err
	}
	if err := s.store.App(appID).DeleteRoomBan(ctx, roomID, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Bans returns up to limit bans of the room (1-200; 0 means 50) with user
// id > after, and the user id to continue after ("" on the last page).
func (s *Service) Bans(ctx context.Context, appID, roomID, after string, limit int) ([]store.RoomBan, string, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 0 || limit > 200 {
		return nil, "", invalid("limit", "1-200")
	}
	if _, err := s.room(ctx, appID, roomID); err != nil {
		return nil, "", err
	}
	bs, err := s.store.App(appID).ListRoomBans(ctx, roomID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(bs) > limit {
		bs, next = bs[:limit], bs[limit-1].UserID
	}
	return bs, next, nil
}

// CheckBan returns a room_banned *Error if the user is banned from the
// room.
func (s *Service) CheckBan(ctx context.Context, appID, roomID, userID string) error {
	_, err := s.store.App(appID).GetRoomBan(ctx, roomID, userID)
	switch {
	case err == nil:
		return fail(CodeRoomBanned, "you are banned from room %q", roomID)
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

// Join checks that a user's connection may join a room: it exists, the
// user is not banned from it, and it is not full. It returns the room and
// its member count before the join. The caller (the node) then adds the
// connection, reports its count with SetNodeMembers, and checks the ban
// again (CheckBan), for a Ban that ran meanwhile.
func (s *Service) Join(ctx context.Context, appID, roomID, userID string) (store.Room, int, error) {
	r, n, err := s.Get(ctx, appID, roomID)
	if err != nil {
		return store.Room{}, 0, err
	}
	if err := s.CheckBan(ctx, appID, roomID, userID); err != nil {
		return store.Room{}, 0, err
	}
	if r.MaxMembers > 0 && n >= r.MaxMembers {
		return store.Room{}, 0, fail(CodeRoomFull, "room %q has its maximum of %d members", roomID, r.MaxMembers)
	}
	return r, n, nil
}

// SetNodeMembers reports how many members of the room this node holds.
func (s *Service) SetNodeMembers(ctx context.Context, appID, roomID string, n int) error {
	return s.state.SetRoomMembers(ctx, appID, roomID, s.cfg.NodeID, n)
}

// HistorySize returns a room's effective history size.
func HistorySize(r store.Room) int {
	if r.HistorySize == 0 {
		return DefaultHistorySize
	}
	return r.HistorySize
}

// RateLimit returns a room's effective rate limit, in messages per second.
func RateLimit(r store.Room) float64 {
	if r.RateLimit == 0 {
		return DefaultRateLimit
	}
	return r.RateLimit
}
