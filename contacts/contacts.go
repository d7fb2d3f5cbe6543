// Package contacts owns an app's contacts: friend requests, friendships
// (with a remark per side, seen only by its owner), blocklists, and the
// app setting that lets only friends message each other
// (store.Settings.OnlyFriendsMessage).
//
// Rules, in one place:
//
//   - A user sends a friend request to another user of the app (with an
//     optional message); sending again replaces it. If the other user had
//     already asked this one, the two become friends at once. The recipient
//     accepts (friends both ways) or declines; the sender may cancel.
//   - A friend request between two users one of whom blocks the other is
//     refused (forbidden), and so is accepting one.
//   - Blocking does not remove a friendship: unblocking restores the
//     conversation as it was. What blocking does is refuse the blocked
//     user's one-to-one messages to the blocker (code blocked; they are not
//     stored). The blocker may still message the blocked user: only
//     "a blocked user's messages are refused".
//   - With OnlyFriendsMessage on, a one-to-one message between two users
//     who are not friends is refused (code not_friends). System messages
//     and group messages are never affected. Sends through the server API
//     on behalf of a user follow the same rules as the user's own.
//   - The app's backend (server API) may make two users friends directly.
//
// Every change posts a notice (a system message of type "notice", JSON
// {"event": "friend.requested"|"friend.accepted"|"friend.removed",
// "user_id": ...}) into the other user's system conversation, so that the
// user learns of it live, and is reported through Events so that every
// gateway node drops its cached verdicts about the users involved.
//
// The Service is the messaging core's messaging.ContactGate: CheckSend
// answers from an in-memory cache of relations (bounded, with a short TTL)
// that Forget invalidates.
//
// A Service is safe for concurrent use.
package contacts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// Error codes of *Error. They are the wire codes of the server API and the
// client protocol.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeUserNotFound    = "user_not_found"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeTooManyFriends  = "too_many_friends"
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

// Events is told about every change of a user's contacts, so that every
// gateway node drops its cached verdicts involving the user.
type Events interface {
	ContactsChanged(ctx context.Context, appID, userID string) error
}

// Sender posts the notices; *messaging.Service is one.
type Sender interface {
	Send(ctx context.Context, req messaging.SendRequest) (store.Appended, error)
}

// Limits and defaults.
const (
	// DefaultMaxFriends is the friends a user may have when Config.MaxFriends
	// says nothing.
	DefaultMaxFriends = 5000
	MaxMessageBytes   = 512 // a friend request's message
	MaxRemarkBytes    = 64
	MaxPage           = 500
	DefaultPage       = 100
	// DefaultCacheTTL and DefaultCacheSize bound the verdict cache.
	DefaultCacheTTL  = 30 * time.Second
	DefaultCacheSize = 1 << 16
)

// Config configures a Service.
type Config struct {
	// MaxFriends returns an app's largest friend list; nil or 0 means
	// DefaultMaxFriends.
	MaxFriends func(ctx context.Context, appID string) (int, error)
	// Settings returns an app's settings (for OnlyFriendsMessage); nil
	// reads the app from the store. The answer is cached for CacheTTL, and
	// dropped by ForgetApp.
	Settings func(ctx context.Context, appID string) (store.Settings, error)
	// Events is told about every change. Nil forgets on this Service only.
	Events Events
	// CacheTTL and CacheSize bound the cache of CheckSend; zero means the
	// defaults.
	CacheTTL  time.Duration
	CacheSize int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
}

// Service manages the contacts of apps' users.
type Service struct {
	store store.Store
	send  Sender
	cfg   Config
	log   *slog.Logger
	cache *verdictCache
}

var _ messaging.ContactGate = (*Service)(nil)

// New returns a Service that posts its notices through send.
func New(st store.Store, send Sender, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Settings == nil {
		cfg.Settings = func(ctx context.Context, appID string) (store.Settings, error) {
			app, err := st.GetApp(ctx, appID)
			return app.Settings, err
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, send: send, cfg: cfg, log: log, cache: newVerdictCache(cfg.CacheSize, cfg.CacheTTL, cfg.Now)}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Notice events.
const (
	NoticeRequested = "friend.requested"
	NoticeAccepted  = "friend.accepted"
	NoticeRemoved   = "friend.removed"
)

// Notice is the content of the "notice" message a change posts into the
// other user's system conversation (JSON).
type Notice struct {
	Event string `json:"event"`
	// UserID is the user who made the change.
	UserID string `json:"user_id"`
	// Message is a friend request's message.
	Message string `json:"message,omitempty"`
}

// notify posts a notice to a user; a failure is logged (the change is
// made, and the user sees it in its lists).
func (s *Service) notify(ctx context.Context, appID, to string, n Notice) {
	if s.send == nil {
		return
	}
	body, _ := json.Marshal(n)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	_, err := s.send.Send(ctx, messaging.SendRequest{
		AppID: appID, ToUserID: to, System: true, ClientMsgID: fmt.Sprintf("notice_%x", b),
		Type: messaging.TypeNotice, Content: string(body), ServerAPI: true,
	})
	if err != nil {
		s.log.WarnContext(ctx, "post contacts notice", "err", err, "app_id", appID, "user_id", to, "event", n.Event)
	}
}

// changed reports a change of users' contacts to every node (this one
// included).
func (s *Service) changed(ctx context.Context, appID string, userIDs ...string) {
	for _, u := range userIDs {
		if s.cfg.Events == nil {
			s.Forget(appID, u)
			continue
		}
		if err := s.cfg.Events.ContactsChanged(ctx, appID, u); err != nil {
			// At least this node forgets; the others' verdicts expire.
			s.Forget(appID, u)
			s.log.ErrorContext(ctx, "publish contacts change", "err", err, "app_id", appID, "user_id", u)
		}
	}
}

// Forget drops the cached verdicts involving a user (ApplyContactsChanged
// of every gateway node calls it).
func (s *Service) Forget(appID, userID string) { s.cache.forgetUser(appID, userID) }

// ForgetApp drops the cached settings of an app (its settings changed).
func (s *Service) ForgetApp(appID string) { s.cache.forgetApp(appID) }

// ForgetAll drops everything cached (a node that may have missed events).
func (s *Service) ForgetAll() { s.cache.forgetAll() }

// CheckSend implements messaging.ContactGate: it refuses a one-to-one
// message from a user the recipient blocks (blocked) and, when the app lets
// only friends message each other, one between users who are not friends
// (not_friends).
func (s *Service) CheckSend(ctx context.Context, appID, fromID, toID string) error {
	rel, err := s.cache.relation(ctx, appID, fromID, toID, s.store.App(appID).GetRelation)
	if err != nil {
		return fmt.Errorf("contacts check: %w", err)
	}
	if rel.Blocked {
		return messaging.NewError(messaging.CodeBlocked, fmt.Sprintf("%s blocks you", toID))
	}
	if rel.Friends {
		return nil
	}
	only, err := s.cache.onlyFriends(ctx, appID, s.cfg.Settings)
	if err != nil {
		return fmt.Errorf("contacts check: %w", err)
	}
	if only {
		return messaging.NewError(messaging.CodeNotFriends, fmt.Sprintf("this app lets only friends message each other, and %s is not your friend", toID))
	}
	return nil
}

// SeesPresence reports whether viewer may watch the presence of target
// (node's presence subscriptions): target is the viewer's friend and does
// not block it. Another app's user, an unknown one or the viewer itself
// is no friend. The verdicts are CheckSend's, cached the same way, so a
// friendship that ends or a block stops the next presence event.
func (s *Service) SeesPresence(ctx context.Context, appID, viewerID, targetID string) (bool, error) {
	if viewerID == targetID || !messaging.ValidUserID(targetID) {
		return false, nil
	}
	rel, err := s.cache.relation(ctx, appID, viewerID, targetID, s.store.App(appID).GetRelation)
	if err != nil {
		return false, fmt.Errorf("presence check: %w", err)
	}
	return rel.Friends && !rel.Blocked, nil
}

// checkUsers reports the first of ids that is not a user of the app
// (user_not_found): another app's user ids name nothing.
func (s *Service) checkUsers(ctx context.Context, appID string, ids ...string) error {
	as := s.store.App(appID)
	for _, id := range ids {
		if !messaging.ValidUserID(id) {
			return fail(CodeUserNotFound, "no user %q in this app", id)
		}
		_, err := as.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fail(CodeUserNotFound, "no user %q in this app", id)
		}
		if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
	}
	return nil
}

// pair checks a user and another (distinct) user of the app.
func (s *Service) pair(ctx context.Context, appID, userID, otherID, field string) error {
	if userID == otherID {
		return invalid(field, "not the user itself")
	}
	return s.checkUsers(ctx, appID, userID, otherID)
}

func (s *Service) maxFriends(ctx context.Context, appID string) (int, error) {
	if s.cfg.MaxFriends == nil {
		return DefaultMaxFriends, nil
	}
	n, err := s.cfg.MaxFriends(ctx, appID)
	if err != nil {
		return 0, fmt.Errorf("friend limit: %w", err)
	}
	if n <= 0 {
		n = DefaultMaxFriends
	}
	return n, nil
}

// page checks a page size: 0 is DefaultPage.
func page(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPage, nil
	case limit < 0 || limit > MaxPage:
		return 0, invalid("limit", fmt.Sprintf("between 1 and %d", MaxPage))
	}
	return limit, nil
}

// next returns the cursor after a page: the last id if the page is full.
func next(n, limit int, last func() string) string {
	if n < limit || n == 0 {
		return ""
	}
	return last()
}

func validText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return invalid(field, fmt.Sprintf("at most %d bytes of UTF-8", max))
	}
	return nil
}
