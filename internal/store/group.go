package store

import (
	"context"
	"time"
)

// GroupConvPrefix starts the id of a group's conversation: "g:" and the
// group id. Group ids use the characters of user ids (no ':'), so the id
// cannot be confused with a one-to-one or system conversation's.
const GroupConvPrefix = "g:"

// GroupConvID returns the id of a group's conversation.
func GroupConvID(groupID string) string { return GroupConvPrefix + groupID }

// GroupStore persists an app's groups. It is part of AppStore, so every
// method is scoped to one app.
//
// A group's membership is data: each member has an entry in the group's
// conversation (the UserConversation of MessageStore, with its cursors),
// and that entry is the membership record: GroupMember reads it. A group
// message is stored once (read diffusion); nothing is written per member
// when one is appended, except the mention marks of the users it names.
//
// Engines without transactions (MongoDB) keep MemberCount with conditional
// counter updates: after a crash between a counter update and the entries
// it counts, MemberCount may be higher than the entries (it never is lower
// for long: a removal updates the counter after the entries), so a limit
// check errs on the side of refusing. ListGroupMembers is the truth.
type GroupStore interface {
	// CreateGroup stores g at Version 1 (whatever g.Version says), with
	// MemberCount the number of distinct members, its conversation (id
	// GroupConvID(g.ID), with no messages) and one entry per member, whose
	// FirstSeq is 1. ErrConflict if the app has a group with this id,
	// dismissed or not: a group id is never reused.
	CreateGroup(ctx context.Context, g Group, members []GroupMember) error
	// GetGroup returns a group, dismissed or not, or ErrNotFound.
	GetGroup(ctx context.Context, id string) (Group, error)
	// UpdateGroup replaces the mutable fields of a group (name, avatar URL,
	// notice, metadata, owner, join policy, mute-all, history visibility,
	// updated time) if its stored Version is still g.Version, and stores
	// Version+1. ErrConflict if the version changed, ErrNotFound if the
	// group does not exist or was dismissed.
	UpdateGroup(ctx context.Context, g Group) error
	// DismissGroup marks a group dismissed at the given time and removes
	// every member entry and join request; its messages stay. Dismissing a
	// dismissed group is not an error and keeps the first time.
	// ErrNotFound if the group does not exist.
	DismissGroup(ctx context.Context, id string, at time.Time) error

	// AddGroupMembers adds the given users who are not members yet (others
	// are skipped, and so are repeated ids), all or none: ErrLimit if the
	// group would then have more than maxMembers members (0: no limit), and
	// nothing is added. Each new entry's FirstSeq is 1 if the group's
	// HistoryVisible is set, else the conversation's max seq + 1; its read
	// and delivery cursors start at FirstSeq - 1. A join request of an
	// added user is removed. It returns the members it added, in input
	// order, with their FirstSeq. ErrNotFound if the group does not exist
	// or was dismissed.
	AddGroupMembers(ctx context.Context, groupID string, ms []GroupMember, maxMembers int) ([]GroupMember, error)
	// RemoveGroupMembers removes the entries (and device cursors) of the
	// given users who are members, and returns their ids in input order.
	// ErrNotFound if the group does not exist.
	RemoveGroupMembers(ctx context.Context, groupID string, userIDs []string) ([]string, error)
	// GetGroupMember returns a member, or ErrNotFound if the user is not a
	// member (or the group does not exist).
	GetGroupMember(ctx context.Context, groupID, userID string) (GroupMember, error)
	// UpdateGroupMember replaces a member's role and MutedUntil.
	// ErrNotFound if the user is not a member.
	UpdateGroupMember(ctx context.Context, groupID string, m GroupMember) error
	// ListGroupMembers returns up to limit members with user id > after, by
	// user id.
	ListGroupMembers(ctx context.Context, groupID, after string, limit int) ([]GroupMember, error)
	// ListGroupAdmins returns up to limit of the group's owner and admins
	// (members whose role is GroupRoleOwner or GroupRoleAdmin), by user
	// id, with user id > after. It reads an index of the members by role:
	// its cost follows the admins, not the members.
	ListGroupAdmins(ctx context.Context, groupID, after string, limit int) ([]GroupMember, error)
	// ListGroupReaders returns up to limit members with user id > after, by
	// user id, whose read cursor is at or past seq (read true) or before it
	// (read false); members who joined after seq (FirstSeq > seq) are in
	// neither list.
	ListGroupReaders(ctx context.Context, groupID string, seq int64, read bool, after string, limit int) ([]GroupMember, error)
	// CountGroupReaders returns how many members have read seq and how many
	// could have (their FirstSeq is at or before seq).
	CountGroupReaders(ctx context.Context, groupID string, seq int64) (read, of int, err error)

	// PutJoinRequest stores a user's request to join a group, replacing an
	// earlier one of the same user. ErrNotFound if the group does not exist
	// or was dismissed.
	PutJoinRequest(ctx context.Context, r JoinRequest) error
	// GetJoinRequest returns a user's request to join a group, or
	// ErrNotFound.
	GetJoinRequest(ctx context.Context, groupID, userID string) (JoinRequest, error)
	// ListJoinRequests returns up to limit requests with user id > after,
	// by user id.
	ListJoinRequests(ctx context.Context, groupID, after string, limit int) ([]JoinRequest, error)
	// DeleteJoinRequest removes a request; ErrNotFound if there is none.
	DeleteJoinRequest(ctx context.Context, groupID, userID string) error
}

// JoinPolicy says who may add members to a group.
type JoinPolicy string

// Join policies.
const (
	// JoinOpen: any user of the app may join by itself; members may invite.
	JoinOpen JoinPolicy = "open"
	// JoinApproval: a user asks to join and an admin approves; members'
	// invitations need an admin's approval too.
	JoinApproval JoinPolicy = "approval"
	// JoinInvite: only the owner and admins add members.
	JoinInvite JoinPolicy = "invite"
)

// GroupRole is a member's role in a group. Group.OwnerID decides who owns
// a group; the groups service keeps the owner's entry at GroupRoleOwner in
// step, but where the two disagree (an engine without transactions, a
// crash mid-transfer) the group record wins.
type GroupRole string

// Group roles.
const (
	GroupRoleOwner  GroupRole = "owner"
	GroupRoleAdmin  GroupRole = "admin"
	GroupRoleMember GroupRole = "member"
)

// Group is a group chat's shared state.
type Group struct {
	ID        string
	Name      string
	AvatarURL string
	// Notice is the group's announcement.
	Notice   string
	Metadata map[string]string
	OwnerID  string
	Policy   JoinPolicy
	// MuteAll lets only the owner and admins send.
	MuteAll bool
	// HistoryVisible lets new members read the messages sent before they
	// joined.
	HistoryVisible bool
	// MemberCount is the number of members (see GroupStore on engines
	// without transactions).
	MemberCount int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// DismissedAt is zero unless the group was dismissed.
	DismissedAt time.Time
	// Version counts the group's updates, from 1; UpdateGroup writes only
	// if it is unchanged.
	Version int64
}

// Dismissed reports whether the group was dismissed.
func (g Group) Dismissed() bool { return !g.DismissedAt.IsZero() }

// GroupMember is one member of a group: its entry in the group's
// conversation.
type GroupMember struct {
	UserID string
	Role   GroupRole
	// MutedUntil: the member may not send before this time; zero if not
	// muted.
	MutedUntil time.Time
	JoinedAt   time.Time
	// FirstSeq is the first message the member may read (set by the
	// store); ReadSeq its read cursor (read only).
	FirstSeq int64
	ReadSeq  int64
}

// JoinRequest is a user's request to join a group (or a member's
// invitation of a user) waiting for an admin's approval.
type JoinRequest struct {
	GroupID string
	UserID  string
	// InviterID is the member who invited the user; empty when the user
	// asked itself.
	InviterID string
	Message   string
	CreatedAt time.Time
}
