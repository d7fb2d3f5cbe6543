package node

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// groupFrame serves a group frame of the logged-in user, who acts as
// itself: the groups service checks what its role allows.
func (c *conn) groupFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.cfg.Groups
	if svc == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "groups are not available on this server"))
		return
	}
	me := groups.User(c.userID)
	var reply *magpiev1.Frame
	var err error
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_CreateGroup:
		r := b.CreateGroup
		var g store.Group
		g, err = svc.Create(ctx, c.appID, me, groups.Input{
			ID: r.GetId(), Name: r.GetName(), AvatarURL: r.GetAvatarUrl(), Notice: r.GetNotice(), Metadata: r.GetMetadata(),
			Policy: store.JoinPolicy(r.GetJoinPolicy()), HistoryVisible: r.GetHistoryVisible(), MemberIDs: r.GetMemberIds(),
		})
		reply = groupReply(id, g)
	case *magpiev1.Frame_GetGroup:
		var g store.Group
		g, err = svc.Get(ctx, c.appID, me, b.GetGroup.GetGroupId())
		reply = groupReply(id, g)
	case *magpiev1.Frame_UpdateGroup:
		r := b.UpdateGroup
		u := groups.Update{Name: r.Name, AvatarURL: r.AvatarUrl, Notice: r.Notice, HistoryVisible: r.HistoryVisible, MuteAll: r.MuteAll}
		if r.SetMetadata {
			u.Metadata = r.GetMetadata()
			if u.Metadata == nil {
				u.Metadata = map[string]string{}
			}
		}
		if r.JoinPolicy != nil {
			p := store.JoinPolicy(r.GetJoinPolicy())
			u.Policy = &p
		}
		var g store.Group
		g, err = svc.Update(ctx, c.appID, me, r.GetGroupId(), u)
		reply = groupReply(id, g)
	case *magpiev1.Frame_DismissGroup:
		err = svc.Dismiss(ctx, c.appID, me, b.DismissGroup.GetGroupId())
		reply = ok(id)
	case *magpiev1.Frame_AddGroupMembers:
		var a groups.Added
		a, err = svc.AddMembers(ctx, c.appID, me, b.AddGroupMembers.GetGroupId(), b.AddGroupMembers.GetUserIds())
		reply = membersResult(id, b.AddGroupMembers.GetGroupId(), a, nil)
	case *magpiev1.Frame_RemoveGroupMembers:
		var removed []string
		removed, err = svc.RemoveMembers(ctx, c.appID, me, b.RemoveGroupMembers.GetGroupId(), b.RemoveGroupMembers.GetUserIds())
		reply = membersResult(id, b.RemoveGroupMembers.GetGroupId(), groups.Added{}, removed)
	case *magpiev1.Frame_JoinGroup:
		var a groups.Added
		a, err = svc.Join(ctx, c.appID, me, b.JoinGroup.GetGroupId(), b.JoinGroup.GetMessage())
		reply = membersResult(id, b.JoinGroup.GetGroupId(), a, nil)
	case *magpiev1.Frame_LeaveGroup:
		err = svc.Leave(ctx, c.appID, me, b.LeaveGroup.GetGroupId())
		reply = ok(id)
	case *magpiev1.Frame_ListGroupMembers:
		reply, err = c.listGroupMembers(ctx, id, svc, b.ListGroupMembers)
	case *magpiev1.Frame_SetGroupMember:
		reply, err = c.setGroupMember(ctx, id, svc, b.SetGroupMember)
	case *magpiev1.Frame_TransferGroup:
		var g store.Group
		g, err = svc.Transfer(ctx, c.appID, me, b.TransferGroup.GetGroupId(), b.TransferGroup.GetUserId())
		reply = groupReply(id, g)
	case *magpiev1.Frame_ListJoinRequests:
		reply, err = c.listJoinRequests(ctx, id, svc, b.ListJoinRequests)
	case *magpiev1.Frame_ResolveJoinRequest:
		r := b.ResolveJoinRequest
		var a groups.Added
		a, err = svc.Resolve(ctx, c.appID, me, r.GetGroupId(), r.GetUserId(), r.GetApprove())
		reply = membersResult(id, r.GetGroupId(), a, nil)
	case *magpiev1.Frame_GetGroupReads:
		r := b.GetGroupReads
		var reads []groups.Reads
		reads, err = svc.ReadCounts(ctx, c.appID, me, r.GetGroupId(), r.GetSeqs())
		out := &magpiev1.GroupReadCounts{GroupId: r.GetGroupId()}
		for _, rd := range reads {
			out.Reads = append(out.Reads, &magpiev1.GroupReads{Seq: rd.Seq, Read: int32(rd.Read), Of: int32(rd.Of)})
		}
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GroupReadCounts{GroupReadCounts: out}}
	}
	c.replyResult(id, reply, err)
}

// ToWireGroup encodes a group.
func ToWireGroup(g store.Group) *magpiev1.Group {
	return &magpiev1.Group{
		Id: g.ID, Name: g.Name, AvatarUrl: g.AvatarURL, Notice: g.Notice, Metadata: g.Metadata, OwnerId: g.OwnerID,
		JoinPolicy: string(g.Policy), MuteAll: g.MuteAll, HistoryVisible: g.HistoryVisible, MemberCount: int32(g.MemberCount),
		CreatedAtMs: g.CreatedAt.UnixMilli(), UpdatedAtMs: g.UpdatedAt.UnixMilli(),
	}
}

func groupReply(id uint64, g store.Group) *magpiev1.Frame {
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GroupInfo{GroupInfo: ToWireGroup(g)}}
}

func membersResult(id uint64, group string, a groups.Added, removed []string) *magpiev1.Frame {
	r := &magpiev1.GroupMembersResult{GroupId: group, Pending: a.Pending, Removed: removed}
	for _, m := range a.Added {
		r.Added = append(r.Added, m.UserID)
	}
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GroupMembersResult{GroupMembersResult: r}}
}

// pageCursor decodes a page cursor the server gave.
func pageCursor(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil
}

func nextCursor(next string) string {
	if next == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(next))
}

func (c *conn) listGroupMembers(ctx context.Context, id uint64, svc *groups.Service, r *magpiev1.ListGroupMembers) (*magpiev1.Frame, error) {
	after, ok := pageCursor(r.GetCursor())
	if !ok {
		return nil, &groups.Error{Code: wire.CodeInvalidArgument, Message: "cursor is not one returned by the server", Field: "cursor"}
	}
	ms, next, err := svc.Members(ctx, c.appID, groups.User(c.userID), r.GetGroupId(), after, int(r.GetLimit()))
	page := &magpiev1.GroupMemberPage{GroupId: r.GetGroupId(), NextCursor: nextCursor(next)}
	for _, m := range ms {
		page.Members = append(page.Members, ToWireMember(m))
	}
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GroupMemberPage{GroupMemberPage: page}}, err
}

// ToWireMember encodes a group member.
func ToWireMember(m store.GroupMember) *magpiev1.GroupMember {
	w := &magpiev1.GroupMember{UserId: m.UserID, Role: string(m.Role), JoinedAtMs: m.JoinedAt.UnixMilli()}
	if !m.MutedUntil.IsZero() {
		w.MutedUntilMs = m.MutedUntil.UnixMilli()
	}
	return w
}

func (c *conn) setGroupMember(ctx context.Context, id uint64, svc *groups.Service, r *magpiev1.SetGroupMember) (*magpiev1.Frame, error) {
	me := groups.User(c.userID)
	var m store.GroupMember
	var err error
	switch {
	case r.GetRole() != "" && r.MuteSeconds != nil:
		return nil, &groups.Error{Code: wire.CodeInvalidArgument, Message: "set role or mute_seconds, not both", Field: "role"}
	case r.GetRole() != "":
		m, err = svc.SetRole(ctx, c.appID, me, r.GetGroupId(), r.GetUserId(), store.GroupRole(r.GetRole()))
	case r.MuteSeconds != nil:
		secs := r.GetMuteSeconds()
		if secs < 0 || secs > int64(groups.MaxMute/time.Second) {
			return nil, &groups.Error{Code: wire.CodeInvalidArgument, Message: "mute_seconds: 0 (unmute) to 366 days", Field: "mute_seconds"}
		}
		m, err = svc.Mute(ctx, c.appID, me, r.GetGroupId(), r.GetUserId(), time.Duration(secs)*time.Second)
	default:
		return nil, &groups.Error{Code: wire.CodeInvalidArgument, Message: "set role or mute_seconds", Field: "role"}
	}
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_GroupMember{GroupMember: ToWireMember(m)}}, err
}

func (c *conn) listJoinRequests(ctx context.Context, id uint64, svc *groups.Service, r *magpiev1.ListJoinRequests) (*magpiev1.Frame, error) {
	after, ok := pageCursor(r.GetCursor())
	if !ok {
		return nil, &groups.Error{Code: wire.CodeInvalidArgument, Message: "cursor is not one returned by the server", Field: "cursor"}
	}
	rs, next, err := svc.JoinRequests(ctx, c.appID, groups.User(c.userID), r.GetGroupId(), after, int(r.GetLimit()))
	page := &magpiev1.JoinRequestPage{GroupId: r.GetGroupId(), NextCursor: nextCursor(next)}
	for _, jr := range rs {
		page.Requests = append(page.Requests, &magpiev1.JoinRequest{UserId: jr.UserID, InviterId: jr.InviterID,
			Message: jr.Message, CreatedAtMs: jr.CreatedAt.UnixMilli()})
	}
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_JoinRequestPage{JoinRequestPage: page}}, err
}
