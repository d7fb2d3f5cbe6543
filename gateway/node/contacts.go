package node

import (
	"context"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// contactFrame serves a contact frame of the logged-in user, who acts on
// its own contacts only.
func (c *conn) contactFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.cfg.Contacts
	if svc == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "contacts are not available on this server"))
		return
	}
	var reply *magpiev1.Frame
	var err error
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_SendFriendRequest:
		r := b.SendFriendRequest
		var status string
		status, err = svc.SendRequest(ctx, c.appID, c.userID, r.GetUserId(), r.GetMessage())
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_FriendRequestResult{
			FriendRequestResult: &magpiev1.FriendRequestResult{UserId: r.GetUserId(), Status: status}}}
	case *magpiev1.Frame_AnswerFriendRequest:
		r := b.AnswerFriendRequest
		if r.GetAccept() {
			err = svc.Accept(ctx, c.appID, c.userID, r.GetUserId())
		} else {
			err = svc.Decline(ctx, c.appID, c.userID, r.GetUserId())
		}
		reply = ok(id)
	case *magpiev1.Frame_CancelFriendRequest:
		err = svc.Cancel(ctx, c.appID, c.userID, b.CancelFriendRequest.GetUserId())
		reply = ok(id)
	case *magpiev1.Frame_ListFriendRequests:
		r := b.ListFriendRequests
		after, good := pageCursor(r.GetCursor())
		if !good {
			err = badCursor()
			break
		}
		rs, next, lerr := svc.Requests(ctx, c.appID, c.userID, !r.GetOutgoing(), after, int(r.GetLimit()))
		page := &magpiev1.FriendRequestPage{NextCursor: nextCursor(next)}
		for _, x := range rs {
			page.Requests = append(page.Requests, &magpiev1.FriendRequest{FromId: x.FromID, ToId: x.ToID,
				Message: x.Message, CreatedAtMs: x.CreatedAt.UnixMilli()})
		}
		reply, err = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_FriendRequestPage{FriendRequestPage: page}}, lerr
	case *magpiev1.Frame_ListFriends:
		r := b.ListFriends
		after, good := pageCursor(r.GetCursor())
		if !good {
			err = badCursor()
			break
		}
		fs, next, lerr := svc.Friends(ctx, c.appID, c.userID, after, int(r.GetLimit()))
		page := &magpiev1.FriendPage{NextCursor: nextCursor(next)}
		for _, x := range fs {
			page.Friends = append(page.Friends, &magpiev1.Friend{UserId: x.FriendID, Remark: x.Remark, CreatedAtMs: x.CreatedAt.UnixMilli()})
		}
		reply, err = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_FriendPage{FriendPage: page}}, lerr
	case *magpiev1.Frame_SetFriendRemark:
		r := b.SetFriendRemark
		fr, serr := svc.SetRemark(ctx, c.appID, c.userID, r.GetUserId(), r.GetRemark())
		reply, err = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_FriendInfo{FriendInfo: &magpiev1.Friend{
			UserId: fr.FriendID, Remark: fr.Remark, CreatedAtMs: fr.CreatedAt.UnixMilli()}}}, serr
	case *magpiev1.Frame_RemoveFriend:
		err = svc.RemoveFriend(ctx, c.appID, c.userID, b.RemoveFriend.GetUserId())
		reply = ok(id)
	case *magpiev1.Frame_BlockUser:
		_, err = svc.Block(ctx, c.appID, c.userID, b.BlockUser.GetUserId())
		reply = ok(id)
	case *magpiev1.Frame_UnblockUser:
		err = svc.Unblock(ctx, c.appID, c.userID, b.UnblockUser.GetUserId())
		reply = ok(id)
	case *magpiev1.Frame_ListBlocked:
		r := b.ListBlocked
		after, good := pageCursor(r.GetCursor())
		if !good {
			err = badCursor()
			break
		}
		bs, next, lerr := svc.Blocks(ctx, c.appID, c.userID, after, int(r.GetLimit()))
		page := &magpiev1.BlockedPage{NextCursor: nextCursor(next)}
		for _, x := range bs {
			page.Users = append(page.Users, &magpiev1.Blocked{UserId: x.TargetID, CreatedAtMs: x.CreatedAt.UnixMilli()})
		}
		reply, err = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_BlockedPage{BlockedPage: page}}, lerr
	}
	c.replyResult(id, reply, err)
}

func badCursor() error {
	return &contacts.Error{Code: wire.CodeInvalidArgument, Message: "cursor is not one returned by the server", Field: "cursor"}
}
