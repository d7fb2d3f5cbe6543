package client

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Group is a group chat's profile and settings.
type Group struct {
	ID        string
	Name      string
	AvatarURL string
	// Notice is the group's announcement.
	Notice   string
	Metadata map[string]string
	OwnerID  string
	// JoinPolicy is JoinOpen, JoinApproval or JoinInvite.
	JoinPolicy string
	// MuteAll: only the owner and admins may send.
	MuteAll bool
	// HistoryVisible: new members read the messages sent before they
	// joined.
	HistoryVisible bool
	MemberCount    int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ConvID returns the id of the group's conversation.
func (g Group) ConvID() string { return GroupConvID(g.ID) }

// GroupConvID returns the id of a group's conversation.
func GroupConvID(groupID string) string { return "g:" + groupID }

func groupOf(convID string) (string, bool) {
	return strings.CutPrefix(convID, "g:")
}

// Join policies of a group.
const (
	// JoinOpen: anyone in the app joins by itself; members invite.
	JoinOpen = "open"
	// JoinApproval: an admin approves joins and members' invitations.
	JoinApproval = "approval"
	// JoinInvite: only the owner and admins add members.
	JoinInvite = "invite"
)

// Group roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// GroupMember is one member of a group.
type GroupMember struct {
	UserID string
	// Role is RoleOwner, RoleAdmin or RoleMember.
	Role string
	// MutedUntil is zero unless the member may not send until then.
	MutedUntil time.Time
	JoinedAt   time.Time
}

// NewGroup is a group to create.
type NewGroup struct {
	// ID is the group id (1-64 letters, digits, '_', '.', '@' or '-');
	// empty lets the server pick one.
	ID             string
	Name           string
	AvatarURL      string
	Notice         string
	Metadata       map[string]string
	JoinPolicy     string // empty: JoinInvite
	HistoryVisible bool
	// MemberIDs are the first members besides the user, who owns the group.
	MemberIDs []string
}

// GroupUpdate changes a group's profile and settings; nil fields stay.
type GroupUpdate struct {
	Name           *string
	AvatarURL      *string
	Notice         *string
	Metadata       map[string]string // nil stays; an empty map clears
	JoinPolicy     *string
	HistoryVisible *bool
	MuteAll        *bool
}

// MembersResult says what a membership call did.
type MembersResult struct {
	// Added are the users who became members.
	Added []string
	// Pending are the users whose join request or invitation waits for an
	// admin's approval.
	Pending []string
	// Removed are the users who were removed.
	Removed []string
}

// JoinRequest is a request to join a group, or a member's invitation,
// waiting for an admin.
type JoinRequest struct {
	UserID string
	// InviterID is the member who invited the user; empty when the user
	// asked itself.
	InviterID string
	Message   string
	CreatedAt time.Time
}

// GroupReads is how many members read a group message.
type GroupReads struct {
	Seq  int64
	Read int
	// Of is how many members could read it (they joined before it).
	Of int
}

func toGroup(g *magpiev1.Group) Group {
	return Group{ID: g.GetId(), Name: g.GetName(), AvatarURL: g.GetAvatarUrl(), Notice: g.GetNotice(), Metadata: g.GetMetadata(),
		OwnerID: g.GetOwnerId(), JoinPolicy: g.GetJoinPolicy(), MuteAll: g.GetMuteAll(), HistoryVisible: g.GetHistoryVisible(),
		MemberCount: int(g.GetMemberCount()), CreatedAt: time.UnixMilli(g.GetCreatedAtMs()), UpdatedAt: time.UnixMilli(g.GetUpdatedAtMs())}
}

func toMembersResult(r *magpiev1.GroupMembersResult) MembersResult {
	return MembersResult{Added: r.GetAdded(), Pending: r.GetPending(), Removed: r.GetRemoved()}
}

func toGroupMember(m *magpiev1.GroupMember) GroupMember {
	out := GroupMember{UserID: m.GetUserId(), Role: m.GetRole(), JoinedAt: time.UnixMilli(m.GetJoinedAtMs())}
	if ms := m.GetMutedUntilMs(); ms != 0 {
		out.MutedUntil = time.UnixMilli(ms)
	}
	return out
}

func (c *Client) groupCall(ctx context.Context, f *magpiev1.Frame) (*magpiev1.Frame, error) {
	return c.request(ctx, f)
}

// CreateGroup creates a group owned by the user. Errors are *Error with
// codes such as invalid_argument, group_exists, user_not_found (a member)
// and group_full.
//
// With NewGroup.ID set, a call sent again after a lost connection may find
// the group it created: CreateGroup then returns that group if the user
// owns it. Without an ID it picks one itself, for the same reason.
func (c *Client) CreateGroup(ctx context.Context, g NewGroup) (Group, error) {
	if g.ID == "" {
		g.ID = "grp_" + randomID(10)
	}
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
		Id: g.ID, Name: g.Name, AvatarUrl: g.AvatarURL, Notice: g.Notice, Metadata: g.Metadata,
		JoinPolicy: g.JoinPolicy, HistoryVisible: g.HistoryVisible, MemberIds: g.MemberIDs,
	}}})
	var e *Error
	if errors.As(err, &e) && e.Code == wire.CodeGroupExists {
		if got, gerr := c.Group(ctx, g.ID); gerr == nil && got.OwnerID == c.me() && got.Name == g.Name {
			return got, nil
		}
	}
	if err != nil {
		return Group{}, err
	}
	return toGroup(r.GetGroupInfo()), nil
}

// Group returns a group's profile; any user of the app may read it.
func (c *Client) Group(ctx context.Context, groupID string) (Group, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_GetGroup{GetGroup: &magpiev1.GetGroup{GroupId: groupID}}})
	if err != nil {
		return Group{}, err
	}
	return toGroup(r.GetGroupInfo()), nil
}

// UpdateGroup changes a group's profile and settings (owner, admins).
func (c *Client) UpdateGroup(ctx context.Context, groupID string, u GroupUpdate) (Group, error) {
	req := &magpiev1.UpdateGroup{GroupId: groupID, Name: u.Name, AvatarUrl: u.AvatarURL, Notice: u.Notice,
		JoinPolicy: u.JoinPolicy, HistoryVisible: u.HistoryVisible, MuteAll: u.MuteAll}
	if u.Metadata != nil {
		req.Metadata, req.SetMetadata = u.Metadata, true
	}
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_UpdateGroup{UpdateGroup: req}})
	if err != nil {
		return Group{}, err
	}
	return toGroup(r.GetGroupInfo()), nil
}

// DismissGroup ends a group (the owner); its members leave it.
func (c *Client) DismissGroup(ctx context.Context, groupID string) error {
	_, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_DismissGroup{DismissGroup: &magpiev1.DismissGroup{GroupId: groupID}}})
	return err
}

// AddGroupMembers adds users to a group: the owner and admins always,
// members when the group is JoinOpen; under JoinApproval a member's
// invitations wait for an admin (MembersResult.Pending).
func (c *Client) AddGroupMembers(ctx context.Context, groupID string, userIDs ...string) (MembersResult, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{
		GroupId: groupID, UserIds: userIDs}}})
	if err != nil {
		return MembersResult{}, err
	}
	return toMembersResult(r.GetGroupMembersResult()), nil
}

// RemoveGroupMembers removes members: the owner anyone but itself, admins
// plain members.
func (c *Client) RemoveGroupMembers(ctx context.Context, groupID string, userIDs ...string) (MembersResult, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_RemoveGroupMembers{RemoveGroupMembers: &magpiev1.RemoveGroupMembers{
		GroupId: groupID, UserIds: userIDs}}})
	if err != nil {
		return MembersResult{}, err
	}
	return toMembersResult(r.GetGroupMembersResult()), nil
}

// JoinGroup joins a group: at once when it is JoinOpen, as a join request
// (MembersResult.Pending) when it is JoinApproval; a JoinInvite group
// refuses (forbidden).
func (c *Client) JoinGroup(ctx context.Context, groupID, message string) (MembersResult, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_JoinGroup{JoinGroup: &magpiev1.JoinGroup{
		GroupId: groupID, Message: message}}})
	if err != nil {
		return MembersResult{}, err
	}
	return toMembersResult(r.GetGroupMembersResult()), nil
}

// LeaveGroup leaves a group. The owner transfers it or dismisses it
// instead.
func (c *Client) LeaveGroup(ctx context.Context, groupID string) error {
	_, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_LeaveGroup{LeaveGroup: &magpiev1.LeaveGroup{GroupId: groupID}}})
	return err
}

// GroupMembers returns a page of a group's members by user id (members
// only) and the cursor of the next page ("" on the last). limit 0 means
// 100.
func (c *Client) GroupMembers(ctx context.Context, groupID, cursor string, limit int) ([]GroupMember, string, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ListGroupMembers{ListGroupMembers: &magpiev1.ListGroupMembers{
		GroupId: groupID, Cursor: cursor, Limit: int32(limit)}}})
	if err != nil {
		return nil, "", err
	}
	page := r.GetGroupMemberPage()
	out := make([]GroupMember, len(page.GetMembers()))
	for i, m := range page.GetMembers() {
		out[i] = toGroupMember(m)
	}
	return out, page.GetNextCursor(), nil
}

// SetGroupRole makes a member an admin (RoleAdmin) or a plain member
// (RoleMember): the owner may.
func (c *Client) SetGroupRole(ctx context.Context, groupID, userID, role string) (GroupMember, error) {
	return c.setGroupMember(ctx, &magpiev1.SetGroupMember{GroupId: groupID, UserId: userID, Role: role})
}

// MuteGroupMember keeps a member from sending for d (0 unmutes): the owner
// may mute anyone but itself, admins plain members.
func (c *Client) MuteGroupMember(ctx context.Context, groupID, userID string, d time.Duration) (GroupMember, error) {
	secs := int64(d / time.Second)
	return c.setGroupMember(ctx, &magpiev1.SetGroupMember{GroupId: groupID, UserId: userID, MuteSeconds: &secs})
}

func (c *Client) setGroupMember(ctx context.Context, req *magpiev1.SetGroupMember) (GroupMember, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SetGroupMember{SetGroupMember: req}})
	if err != nil {
		return GroupMember{}, err
	}
	return toGroupMember(r.GetGroupMember()), nil
}

// TransferGroup makes another member the owner (the owner may); the user
// stays as an admin.
func (c *Client) TransferGroup(ctx context.Context, groupID, userID string) (Group, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_TransferGroup{TransferGroup: &magpiev1.TransferGroup{
		GroupId: groupID, UserId: userID}}})
	if err != nil {
		return Group{}, err
	}
	return toGroup(r.GetGroupInfo()), nil
}

// JoinRequests returns a page of a group's join requests (owner, admins)
// and the cursor of the next page.
func (c *Client) JoinRequests(ctx context.Context, groupID, cursor string, limit int) ([]JoinRequest, string, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ListJoinRequests{ListJoinRequests: &magpiev1.ListJoinRequests{
		GroupId: groupID, Cursor: cursor, Limit: int32(limit)}}})
	if err != nil {
		return nil, "", err
	}
	page := r.GetJoinRequestPage()
	out := make([]JoinRequest, len(page.GetRequests()))
	for i, jr := range page.GetRequests() {
		out[i] = JoinRequest{UserID: jr.GetUserId(), InviterID: jr.GetInviterId(), Message: jr.GetMessage(),
			CreatedAt: time.UnixMilli(jr.GetCreatedAtMs())}
	}
	return out, page.GetNextCursor(), nil
}

// ResolveJoinRequest approves (adding the user) or declines a join
// request (owner, admins).
func (c *Client) ResolveJoinRequest(ctx context.Context, groupID, userID string, approve bool) (MembersResult, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ResolveJoinRequest{ResolveJoinRequest: &magpiev1.ResolveJoinRequest{
		GroupId: groupID, UserId: userID, Approve: approve}}})
	if err != nil {
		return MembersResult{}, err
	}
	return toMembersResult(r.GetGroupMembersResult()), nil
}

// GroupReads returns how many members read each of the group's messages
// seqs (1 to 100 of them).
func (c *Client) GroupReads(ctx context.Context, groupID string, seqs ...int64) ([]GroupReads, error) {
	r, err := c.groupCall(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_GetGroupReads{GetGroupReads: &magpiev1.GetGroupReads{
		GroupId: groupID, Seqs: seqs}}})
	if err != nil {
		return nil, err
	}
	rc := r.GetGroupReadCounts()
	out := make([]GroupReads, len(rc.GetReads()))
	for i, rd := range rc.GetReads() {
		out[i] = GroupReads{Seq: rd.GetSeq(), Read: int(rd.GetRead()), Of: int(rd.GetOf())}
	}
	return out, nil
}
