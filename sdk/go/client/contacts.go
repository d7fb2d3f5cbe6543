package client

import (
	"context"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Contacts (docs/contacts.md): friend requests, friends with remarks and
// the blocklist of the logged-in user. Changes made by other users arrive
// as notices (Message.Type "notice") in the user's system conversation,
// with JSON content {"event": "friend.requested"|"friend.accepted"|
// "friend.removed", "user_id": ...}. Errors are *Error with codes such as
// invalid_argument, user_not_found, not_found, forbidden (a request
// between users one of whom blocks the other) and too_many_friends.

// Outcomes of SendFriendRequest.
const (
	// FriendRequested: the request waits for the other user's answer.
	FriendRequested = "requested"
	// FriendsNow: the two users are friends (the other user had asked
	// already, or they were friends before).
	FriendsNow = "friends"
)

// FriendRequest is a pending friend request.
type FriendRequest struct {
	FromID    string
	ToID      string
	Message   string
	CreatedAt time.Time
}

// Friend is one of the user's friends.
type Friend struct {
	UserID string
	// Remark is the user's own name for the friend; no one else sees it.
	Remark    string
	CreatedAt time.Time
}

// BlockedUser is a user the user blocks.
type BlockedUser struct {
	UserID    string
	CreatedAt time.Time
}

// SendFriendRequest asks userID to be friends, with an optional message
// (at most 512 bytes), replacing an earlier request to the same user. It
// returns FriendRequested, or FriendsNow when userID had asked already.
func (c *Client) SendFriendRequest(ctx context.Context, userID, message string) (string, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{
		UserId: userID, Message: message}}})
	if err != nil {
		return "", err
	}
	return r.GetFriendRequestResult().GetStatus(), nil
}

// AcceptFriendRequest accepts fromID's request: the two are friends.
func (c *Client) AcceptFriendRequest(ctx context.Context, fromID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{
		UserId: fromID, Accept: true}}})
}

// DeclineFriendRequest declines fromID's request.
func (c *Client) DeclineFriendRequest(ctx context.Context, fromID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{
		UserId: fromID}}})
}

// CancelFriendRequest withdraws the user's request to toID.
func (c *Client) CancelFriendRequest(ctx context.Context, toID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_CancelFriendRequest{CancelFriendRequest: &magpiev1.CancelFriendRequest{
		UserId: toID}}})
}

func (c *Client) contactOK(ctx context.Context, f *magpiev1.Frame) error {
	_, err := c.request(ctx, f)
	return err
}

// FriendRequests returns a page of the user's pending requests, received
// (outgoing false; by sender) or sent (outgoing true; by recipient), and
// the cursor of the next page ("" on the last). limit 0 means 100.
func (c *Client) FriendRequests(ctx context.Context, outgoing bool, cursor string, limit int) ([]FriendRequest, string, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ListFriendRequests{ListFriendRequests: &magpiev1.ListFriendRequests{
		Outgoing: outgoing, Cursor: cursor, Limit: int32(limit)}}})
	if err != nil {
		return nil, "", err
	}
	page := r.GetFriendRequestPage()
	out := make([]FriendRequest, len(page.GetRequests()))
	for i, x := range page.GetRequests() {
		out[i] = FriendRequest{FromID: x.GetFromId(), ToID: x.GetToId(), Message: x.GetMessage(), CreatedAt: time.UnixMilli(x.GetCreatedAtMs())}
	}
	return out, page.GetNextCursor(), nil
}

// Friends returns a page of the user's friends by id, and the cursor of
// the next page. limit 0 means 100.
func (c *Client) Friends(ctx context.Context, cursor string, limit int) ([]Friend, string, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{
		Cursor: cursor, Limit: int32(limit)}}})
	if err != nil {
		return nil, "", err
	}
	page := r.GetFriendPage()
	out := make([]Friend, len(page.GetFriends()))
	for i, x := range page.GetFriends() {
		out[i] = toFriend(x)
	}
	return out, page.GetNextCursor(), nil
}

func toFriend(x *magpiev1.Friend) Friend {
	return Friend{UserID: x.GetUserId(), Remark: x.GetRemark(), CreatedAt: time.UnixMilli(x.GetCreatedAtMs())}
}

// SetFriendRemark sets the user's remark of a friend (at most 64 bytes;
// empty clears it).
func (c *Client) SetFriendRemark(ctx context.Context, friendID, remark string) (Friend, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SetFriendRemark{SetFriendRemark: &magpiev1.SetFriendRemark{
		UserId: friendID, Remark: remark}}})
	if err != nil {
		return Friend{}, err
	}
	return toFriend(r.GetFriendInfo()), nil
}

// RemoveFriend ends a friendship, both sides.
func (c *Client) RemoveFriend(ctx context.Context, friendID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_RemoveFriend{RemoveFriend: &magpiev1.RemoveFriend{UserId: friendID}}})
}

// Block blocks a user: its one-to-one messages to this user are refused
// (code "blocked"). A friendship stays.
func (c *Client) Block(ctx context.Context, userID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_BlockUser{BlockUser: &magpiev1.BlockUser{UserId: userID}}})
}

// Unblock removes a block.
func (c *Client) Unblock(ctx context.Context, userID string) error {
	return c.contactOK(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_UnblockUser{UnblockUser: &magpiev1.UnblockUser{UserId: userID}}})
}

// Blocked returns a page of the users the user blocks, by id, and the
// cursor of the next page. limit 0 means 100.
func (c *Client) Blocked(ctx context.Context, cursor string, limit int) ([]BlockedUser, string, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_ListBlocked{ListBlocked: &magpiev1.ListBlocked{
		Cursor: cursor, Limit: int32(limit)}}})
	if err != nil {
		return nil, "", err
	}
	page := r.GetBlockedPage()
	out := make([]BlockedUser, len(page.GetUsers()))
	for i, x := range page.GetUsers() {
		out[i] = BlockedUser{UserID: x.GetUserId(), CreatedAt: time.UnixMilli(x.GetCreatedAtMs())}
	}
	return out, page.GetNextCursor(), nil
}
