package observe

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

func (a *appStore) PutFriendRequest(ctx context.Context, r store.FriendRequest) error {
	ctx, c := a.begin(ctx, "PutFriendRequest")
	return c.end(ctx, a.as.PutFriendRequest(ctx, r))
}

func (a *appStore) GetFriendRequest(ctx context.Context, fromID, toID string) (store.FriendRequest, error) {
	ctx, c := a.begin(ctx, "GetFriendRequest")
	r, err := a.as.GetFriendRequest(ctx, fromID, toID)
	return r, c.end(ctx, err)
}

func (a *appStore) DeleteFriendRequest(ctx context.Context, fromID, toID string) error {
	ctx, c := a.begin(ctx, "DeleteFriendRequest")
	return c.end(ctx, a.as.DeleteFriendRequest(ctx, fromID, toID))
}

func (a *appStore) ListFriendRequests(ctx context.Context, userID string, incoming bool, after string, limit int) ([]store.FriendRequest, error) {
	ctx, c := a.begin(ctx, "ListFriendRequests")
	rs, err := a.as.ListFriendRequests(ctx, userID, incoming, after, limit)
	return rs, c.end(ctx, err)
}

func (a *appStore) AddFriendship(ctx context.Context, userID, friendID string, at time.Time, maxFriends int) error {
	ctx, c := a.begin(ctx, "AddFriendship")
	return c.end(ctx, a.as.AddFriendship(ctx, userID, friendID, at, maxFriends))
}

func (a *appStore) RemoveFriendship(ctx context.Context, userID, friendID string) error {
	ctx, c := a.begin(ctx, "RemoveFriendship")
	return c.end(ctx, a.as.RemoveFriendship(ctx, userID, friendID))
}

func (a *appStore) GetFriend(ctx context.Context, userID, friendID string) (store.Friend, error) {
	ctx, c := a.begin(ctx, "GetFriend")
	f, err := a.as.GetFriend(ctx, userID, friendID)
	return f, c.end(ctx, err)
}

func (a *appStore) SetFriendRemark(ctx context.Context, userID, friendID, remark string) error {
	ctx, c := a.begin(ctx, "SetFriendRemark")
	return c.end(ctx, a.as.SetFriendRemark(ctx, userID, friendID, remark))
}

func (a *appStore) ListFriends(ctx context.Context, userID, after string, limit int) ([]store.Friend, error) {
	ctx, c := a.begin(ctx, "ListFriends")
	fs, err := a.as.ListFriends(ctx, userID, after, limit)
	return fs, c.end(ctx, err)
}

func (a *appStore) PutBlock(ctx context.Context, b store.Block) error {
	ctx, c := a.begin(ctx, "PutBlock")
	return c.end(ctx, a.as.PutBlock(ctx, b))
}

func (a *appStore) DeleteBlock(ctx context.Context, userID, targetID string) error {
	ctx, c := a.begin(ctx, "DeleteBlock")
	return c.end(ctx, a.as.DeleteBlock(ctx, userID, targetID))
}

func (a *appStore) ListBlocks(ctx context.Context, userID, after string, limit int) ([]store.Block, error) {
	ctx, c := a.begin(ctx, "ListBlocks")
	bs, err := a.as.ListBlocks(ctx, userID, after, limit)
	return bs, c.end(ctx, err)
}

func (a *appStore) GetRelation(ctx context.Context, fromID, toID string) (store.Relation, error) {
	ctx, c := a.begin(ctx, "GetRelation")
	r, err := a.as.GetRelation(ctx, fromID, toID)
	return r, c.end(ctx, err)
}
