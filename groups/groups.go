// Package groups owns an app's group chats: creating and dismissing them,
// their profiles and settings, their members and roles, join policies and
// requests, mutes, and the read counts of group messages. It checks who may
// do what (an Actor is a member acting over the client protocol, or the
// app's backend over the server API, which may do everything), writes
// through the app-scoped store, posts a notice into the group's
// conversation for every change members should see, and reports every
// change through Events so that each gateway node drops what it cached of
// the group.
//
// Group messages themselves go through the messaging core like any other
// (messaging.SendRequest.ToGroupID): stored once, one seq per group,
// delivered to every member's online devices.
//
// A Service is safe for concurrent use.
package groups

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// Error codes of *Error. They are the wire codes of the server API and the
// client protocol.
const (
	CodeInvalidArgument = "invalid_argument"
	CodeGroupNotFound   = "group_not_found"
	CodeGroupExists     = "group_exists"
	CodeUserNotFound    = "user_not_found"
	CodeForbidden       = "forbidden"
	CodeGroupFull       = "group_full"
	CodeNotFound        = "not_found"
)

// Error is a request the service refuses.
type Error struct {
	Code    string
	Message string
	// Field names the invalid input of an invalid_argument Error, as the
	// server API does ("name", "user_ids[2]").
	Field string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, reason string) *Error {
	return &Error{Code: CodeInvalidArgument, Message: field + ": " + reason, Field: field}
}

// Events is told about every change of a group, so that every gateway node
// drops what it cached of it.
type Events interface {
	GroupChanged(ctx context.Context, appID, groupID string) error
}

// Sender posts the notices of group changes; *messaging.Service is one.
type Sender interface {
	Send(ctx context.Context, req messaging.SendRequest) (store.Appended, error)
}

// Config configures a Service.
type Config struct {
	// MaxGroupSize returns an app's largest group (its limit); nil or 0
	// means DefaultMaxGroupSize.
	MaxGroupSize func(ctx context.Context, appID string) (int, error)
	// MaxReaderList is the largest group whose readers of a message may be
	// listed; zero means 500. Larger groups get counts only.
	MaxReaderList int
	// Events is told about every change. Nil tells no one but Local.
	Events Events
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
}

// DefaultMaxGroupSize is the members a group may have when the app sets no
// limit.
const DefaultMaxGroupSize = 3000

// Service manages the groups of apps.
type Service struct {
	store store.Store
	send  Sender
	cfg   Config
	log   *slog.Logger
}

// New returns a Service that posts its notices through send.
func New(st store.Store, send Sender, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReaderList == 0 {
		cfg.MaxReaderList = 500
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, send: send, cfg: cfg, log: log}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Actor is who asks: a user over the client protocol, or the app's backend
// (Backend) over the server API, which may do everything and is no member.
type Actor struct {
	UserID  string
	Backend bool
}

// Backend is the app's backend as an Actor.
var Backend = Actor{Backend: true}

// User is a user as an Actor.
func User(id string) Actor { return Actor{UserID: id} }

// by names the actor in notices: "" for the backend.
func (a Actor) by() string { return a.UserID }

// Limits of inputs.
const (
	MaxNameBytes     = 128
	MaxNoticeBytes   = 4096
	MaxURLBytes      = 2048
	MaxMetadataBytes = 4096
	MaxBatch         = 500 // users one call adds or removes
	MaxPage          = 500
	DefaultPage      = 100
	MaxRequestBytes  = 512 // a join request's message
)

// Input is a new group.
type Input struct {
	// ID is the group id; empty picks one ("grp_" and 20 random
	// characters).
	ID        string
	Name      string
	AvatarURL string
	Notice    string
	Metadata  map[string]string
	// Policy is "open", "approval" or "invite" (empty: "invite").
	Policy         store.JoinPolicy
	HistoryVisible bool
	// OwnerID is the owner when the backend creates a group; a user who
	// creates one owns it.
	OwnerID string
	// MemberIDs are the first members besides the owner.
	MemberIDs []string
}

// Update changes a group's profile and settings; nil fields stay.
type Update struct {
	Name           *string
	AvatarURL      *string
	Notice         *string
	Metadata       map[string]string // nil stays; an empty map clears
	Policy         *store.JoinPolicy
	HistoryVisible *bool
	MuteAll        *bool
}

func validProfile(name, avatar, notice string, md map[string]string) *Error {
	switch {
	case len(name) > MaxNameBytes || !utf8.ValidString(name):
		return invalid("name", fmt.Sprintf("at most %d bytes of UTF-8", MaxNameBytes))
	case len(notice) > MaxNoticeBytes || !utf8.ValidString(notice):
		return invalid("notice", fmt.Sprintf("at most %d bytes of UTF-8", MaxNoticeBytes))
	case avatar != "" && !validURL(avatar):
		return invalid("avatar_url", fmt.Sprintf("an http or https URL of at most %d bytes", MaxURLBytes))
	}
	if md != nil {
		b, _ := json.Marshal(md)
		if len(b) > MaxMetadataBytes || !utf8.Valid(b) {
			return invalid("metadata", fmt.Sprintf("at most %d bytes as JSON", MaxMetadataBytes))
		}
	}
	return nil
}

func validURL(s string) bool {
	if len(s) > MaxURLBytes {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func validPolicy(p store.JoinPolicy) bool {
	return p == store.JoinOpen || p == store.JoinApproval || p == store.JoinInvite
}

// validUsers checks a list of user ids given in field.
func validUsers(field string, ids []string, max int) *Error {
	if len(ids) > max {
		return invalid(field, fmt.Sprintf("at most %d users", max))
	}
	for i, id := range ids {
		if !messaging.ValidUserID(id) {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "a user id of 1-64 letters, digits, '_', '.', '@' or '-'")
		}
	}
	return nil
}

// newGroupID returns a random group id.
func newGroupID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "grp_" + string(b)
}

// changed reports a change of a group to every node.
func (s *Service) changed(ctx context.Context, appID, groupID string) {
	if s.cfg.Events == nil {
		return
	}
	if err := s.cfg.Events.GroupChanged(ctx, appID, groupID); err != nil {
		s.log.ErrorContext(ctx, "publish group change", "err", err, "app_id", appID, "group_id", groupID)
	}
}

// Notice is the content of a "notice" message a group change posts into the
// group's conversation (JSON).
type Notice struct {
	// Event is one of the Notice* constants.
	Event string `json:"event"`
	// By is the member who made the change; empty for the app's backend.
	By string `json:"by,omitempty"`
	// UserIDs are the users the change is about (added, removed, muted...).
	UserIDs []string `json:"user_ids,omitempty"`
	// Role is the new role of a role change.
	Role string `json:"role,omitempty"`
	// MutedUntil is the end of a member's mute, in Unix milliseconds (0:
	// unmuted).
	MutedUntilMS int64 `json:"muted_until_ms,omitempty"`
	// Fields are the profile or setting fields an update changed.
	Fields []string `json:"fields,omitempty"`
	// Message is a join request's message.
	Message string `json:"message,omitempty"`
}

// Notice events.
const (
	NoticeCreated     = "group.created"
	NoticeUpdated     = "group.updated"
	NoticeDismissed   = "group.dismissed"
	NoticeAdded       = "members.added"
	NoticeJoined      = "member.joined"
	NoticeRemoved     = "members.removed"
	NoticeLeft        = "member.left"
	NoticeRole        = "member.role_changed"
	NoticeMuted       = "member.muted"
	NoticeTransferred = "owner.transferred"
	// NoticeJoinRequested goes to the system conversation of the group's
	// owner and admins, not into the group: a user asked to join (By is
	// the user) or a member invited users (By is the member) under the
	// approval policy, and UserIDs wait for an answer.
	NoticeJoinRequested = "join.requested"
)

// MaxNotifiedAdmins bounds how many of a group's owner and admins (the
// first by user id) a join request notifies.
const MaxNotifiedAdmins = 100

// notify posts a notice into the group. The change is stored already; a
// notice that cannot be posted is logged, and members see the change at
// their next look at the group.
func (s *Service) notify(ctx context.Context, appID, groupID string, n Notice) {
	s.changed(ctx, appID, groupID)
	body, _ := json.Marshal(n)
	_, err := s.send.Send(ctx, messaging.SendRequest{
		AppID: appID, ToGroupID: groupID, System: true, ClientMsgID: noticeID(),
		Type: messaging.TypeNotice, Content: string(body), ServerAPI: true,
	})
	if err != nil {
		s.log.WarnContext(ctx, "post group notice", "err", err, "app_id", appID, "group_id", groupID, "event", n.Event)
	}
}

// notifyUsers posts a notice into each user's system conversation: those no
// longer in the group learn that they left it.
func (s *Service) notifyUsers(ctx context.Context, appID, groupID string, users []string, n Notice) {
	body, _ := json.Marshal(struct {
		Notice
		GroupID string `json:"group_id"`
	}{n, groupID})
	for _, u := range users {
		_, err := s.send.Send(ctx, messaging.SendRequest{
			AppID: appID, ToUserID: u, System: true, ClientMsgID: noticeID(),
			Type: messaging.TypeNotice, Content: string(body), ServerAPI: true,
		})
		if err != nil {
			s.log.WarnContext(ctx, "post notice to user", "err", err, "app_id", appID, "group_id", groupID, "event", n.Event)
		}
	}
}

// notifyAdmins posts a notice into the system conversation of the group's
// owner and admins (at most MaxNotifiedAdmins), found through the store's
// index of members by role. Each gets it on its online devices, and
// offline through sync and push, as any message.
func (s *Service) notifyAdmins(ctx context.Context, appID, groupID string, n Notice) {
	ms, err := s.store.App(appID).ListGroupAdmins(ctx, groupID, "", MaxNotifiedAdmins)
	if err != nil {
		s.log.WarnContext(ctx, "list group admins", "err", err, "app_id", appID, "group_id", groupID, "event", n.Event)
		return
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	s.notifyUsers(ctx, appID, groupID, ids, n)
}

func noticeID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("notice_%x", b)
}

// group reads a live group; group_not_found if it does not exist or was
// dismissed.
func (s *Service) group(ctx context.Context, appID, id string) (store.Group, error) {
	if !messaging.ValidGroupID(id) {
		return store.Group{}, fail(CodeGroupNotFound, "no group %q in this app", id)
	}
	g, err := s.store.App(appID).GetGroup(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Dismissed()) {
		return store.Group{}, fail(CodeGroupNotFound, "no group %q in this app", id)
	}
	if err != nil {
		return store.Group{}, fmt.Errorf("get group: %w", err)
	}
	return g, nil
}

// role returns the actor's role in g: GroupRoleOwner for the backend, ""
// for a user who is not a member.
func (s *Service) role(ctx context.Context, appID string, g store.Group, a Actor) (store.GroupRole, error) {
	if a.Backend {
		return store.GroupRoleOwner, nil
	}
	m, err := s.store.App(appID).GetGroupMember(ctx, g.ID, a.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get member: %w", err)
	}
	return messaging.EffectiveRole(g, m), nil
}

func atLeastAdmin(r store.GroupRole) bool {
	return r == store.GroupRoleOwner || r == store.GroupRoleAdmin
}

// checkUsers reports the first of ids that is not a user of the app.
func (s *Service) checkUsers(ctx context.Context, appID string, ids []string) error {
	as := s.store.App(appID)
	for _, id := range ids {
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

func (s *Service) maxSize(ctx context.Context, appID string) (int, error) {
	if s.cfg.MaxGroupSize == nil {
		return DefaultMaxGroupSize, nil
	}
	n, err := s.cfg.MaxGroupSize(ctx, appID)
	if err != nil {
		return 0, fmt.Errorf("group size limit: %w", err)
	}
	if n <= 0 {
		n = DefaultMaxGroupSize
	}
	return n, nil
}

// Create creates a group owned by the actor (or, for the backend, by
// in.OwnerID) with the given first members.
func (s *Service) Create(ctx context.Context, appID string, a Actor, in Input) (store.Group, error) {
	owner := a.UserID
	if a.Backend {
		owner = in.OwnerID
		if !messaging.ValidUserID(owner) {
			return store.Group{}, invalid("owner_id", "the owner's user id is required")
		}
	}
	if in.ID == "" {
		in.ID = newGroupID()
	}
	if in.Policy == "" {
		in.Policy = store.JoinInvite
	}
	switch {
	case !messaging.ValidGroupID(in.ID):
		return store.Group{}, invalid("id", "1-64 letters, digits, '_', '.', '@' or '-'")
	case !validPolicy(in.Policy):
		return store.Group{}, invalid("join_policy", `"open", "approval" or "invite"`)
	}
	if e := validProfile(in.Name, in.AvatarURL, in.Notice, in.Metadata); e != nil {
		return store.Group{}, e
	}
	if e := validUsers("member_ids", in.MemberIDs, MaxBatch); e != nil {
		return store.Group{}, e
	}
	ids := append([]string{owner}, in.MemberIDs...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	max, err := s.maxSize(ctx, appID)
	if err != nil {
		return store.Group{}, err
	}
	if len(ids) > max {
		return store.Group{}, fail(CodeGroupFull, "%d members; the app's groups hold at most %d", len(ids), max)
	}
	if err := s.checkUsers(ctx, appID, ids); err != nil {
		return store.Group{}, err
	}
	now := s.now()
	g := store.Group{ID: in.ID, Name: in.Name, AvatarURL: in.AvatarURL, Notice: in.Notice, Metadata: in.Metadata,
		OwnerID: owner, Policy: in.Policy, HistoryVisible: in.HistoryVisible, MemberCount: len(ids),
		CreatedAt: now, UpdatedAt: now, Version: 1}
	ms := make([]store.GroupMember, len(ids))
	for i, id := range ids {
		ms[i] = store.GroupMember{UserID: id, Role: store.GroupRoleMember, JoinedAt: now}
		if id == owner {
			ms[i].Role = store.GroupRoleOwner
		}
	}
	err = s.store.App(appID).CreateGroup(ctx, g, ms)
	if errors.Is(err, store.ErrConflict) {
		return store.Group{}, fail(CodeGroupExists, "a group with id %q exists or existed", in.ID)
	}
	if err != nil {
		return store.Group{}, fmt.Errorf("create group: %w", err)
	}
	s.notify(ctx, appID, g.ID, Notice{Event: NoticeCreated, By: a.by(), UserIDs: ids})
	return g, nil
}

// Get returns a live group. Any user of the app may read a group's profile
// (to find one to join); members are listed to members only.
func (s *Service) Get(ctx context.Context, appID string, a Actor, id string) (store.Group, error) {
	return s.group(ctx, appID, id)
}

// Member returns one member of a group, for a member or the backend.
func (s *Service) Member(ctx context.Context, appID string, a Actor, id, userID string) (store.GroupMember, error) {
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return store.GroupMember{}, err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || r == "" {
		return store.GroupMember{}, orForbidden(err, "not a member of group %q", id)
	}
	m, err := s.store.App(appID).GetGroupMember(ctx, id, userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.GroupMember{}, fail(CodeNotFound, "%q is not a member of group %q", userID, id)
	}
	if err != nil {
		return store.GroupMember{}, fmt.Errorf("get member: %w", err)
	}
	m.Role = messaging.EffectiveRole(g, m)
	return m, nil
}

// orForbidden returns err, or a forbidden Error when err is nil.
func orForbidden(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	return fail(CodeForbidden, format, args...)
}

// Members returns a page of a group's members by user id, for a member or
// the backend, and the id to continue after ("" at the end).
func (s *Service) Members(ctx context.Context, appID string, a Actor, id, after string, limit int) ([]store.GroupMember, string, error) {
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return nil, "", err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || r == "" {
		return nil, "", orForbidden(err, "not a member of group %q", id)
	}
	limit = clampPage(limit)
	ms, err := s.store.App(appID).ListGroupMembers(ctx, id, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list members: %w", err)
	}
	next := ""
	if len(ms) > limit {
		ms = ms[:limit]
		next = ms[limit-1].UserID
	}
	for i := range ms {
		ms[i].Role = messaging.EffectiveRole(g, ms[i])
	}
	return ms, next, nil
}

func clampPage(n int) int {
	if n <= 0 {
		return DefaultPage
	}
	return min(n, MaxPage)
}

// Update changes a group's profile and settings: the owner and admins (and
// the backend) may.
func (s *Service) Update(ctx context.Context, appID string, a Actor, id string, u Update) (store.Group, error) {
	if e := validProfile(deref(u.Name), deref(u.AvatarURL), deref(u.Notice), u.Metadata); e != nil {
		return store.Group{}, e
	}
	if u.Policy != nil && !validPolicy(*u.Policy) {
		return store.Group{}, invalid("join_policy", `"open", "approval" or "invite"`)
	}
	for range 8 {
		g, err := s.group(ctx, appID, id)
		if err != nil {
			return store.Group{}, err
		}
		r, err := s.role(ctx, appID, g, a)
		if err != nil || !atLeastAdmin(r) {
			return store.Group{}, orForbidden(err, "only the owner and admins may change group %q", id)
		}
		var fields []string
		set := func(name string, apply func()) {
			fields = append(fields, name)
			apply()
		}
		if u.Name != nil {
			set("name", func() { g.Name = *u.Name })
		}
		if u.AvatarURL != nil {
			set("avatar_url", func() { g.AvatarURL = *u.AvatarURL })
		}
		if u.Notice != nil {
			set("notice", func() { g.Notice = *u.Notice })
		}
		if u.Metadata != nil {
			set("metadata", func() { g.Metadata = u.Metadata })
		}
		if u.Policy != nil {
			set("join_policy", func() { g.Policy = *u.Policy })
		}
		if u.HistoryVisible != nil {
			set("history_visible", func() { g.HistoryVisible = *u.HistoryVisible })
		}
		if u.MuteAll != nil {
			set("mute_all", func() { g.MuteAll = *u.MuteAll })
		}
		if len(fields) == 0 {
			return g, nil
		}
		g.UpdatedAt = s.now()
		err = s.store.App(appID).UpdateGroup(ctx, g)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return store.Group{}, fail(CodeGroupNotFound, "no group %q in this app", id)
		}
		if err != nil {
			return store.Group{}, fmt.Errorf("update group: %w", err)
		}
		g.Version++
		s.notify(ctx, appID, id, Notice{Event: NoticeUpdated, By: a.by(), Fields: fields})
		return g, nil
	}
	return store.Group{}, fmt.Errorf("update group %s: too many concurrent updates", id)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Dismiss ends a group: the owner (or the backend) may. Its members leave
// it; its history stays readable by no one but the server API.
func (s *Service) Dismiss(ctx context.Context, appID string, a Actor, id string) error {
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return err
	}
	r, err := s.role(ctx, appID, g, a)
	if err != nil || r != store.GroupRoleOwner {
		return orForbidden(err, "only the owner may dismiss group %q", id)
	}
	members, err := s.allMembers(ctx, appID, id)
	if err != nil {
		return err
	}
	// The members still in it see the dismissal in the conversation, in
	// order; its system notices tell them again, and those offline, once
	// the conversation is closed to them.
	s.notify(ctx, appID, id, Notice{Event: NoticeDismissed, By: a.by()})
	if err := s.store.App(appID).DismissGroup(ctx, id, s.now()); err != nil {
		return fmt.Errorf("dismiss group: %w", err)
	}
	s.changed(ctx, appID, id)
	s.notifyUsers(ctx, appID, id, members, Notice{Event: NoticeDismissed, By: a.by()})
	return nil
}

// allMembers returns the ids of every member.
func (s *Service) allMembers(ctx context.Context, appID, id string) ([]string, error) {
	var ids []string
	for after := ""; ; {
		ms, err := s.store.App(appID).ListGroupMembers(ctx, id, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		for _, m := range ms {
			ids = append(ids, m.UserID)
		}
		if len(ms) < 1000 {
			return ids, nil
		}
		after = ms[len(ms)-1].UserID
	}
}
