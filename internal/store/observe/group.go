package observe

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

func (a *appStore) CreateGroup(ctx context.Context, g store.Group, ms []store.GroupMember) error {
	ctx, c := a.begin(ctx, "CreateGroup")
	return c.end(ctx, a.as.CreateGroup(ctx, g, ms))
}

func (a *appStore) GetGroup(ctx context.Context, id string) (store.Group, error) {
	ctx, c := a.begin(ctx, "GetGroup")
	g, err := a.as.GetGroup(ctx, id)
	return g, c.end(ctx, err)
}

func (a *appStore) UpdateGroup(ctx context.Context, g store.Group) error {
	ctx, c := a.begin(ctx, "UpdateGroup")
	return c.end(ctx, a.as.UpdateGroup(ctx, g))
}

func (a *appStore) DismissGroup(ctx context.Context, id string, at time.Time) error {
	ctx, c := a.begin(ctx, "DismissGroup")
	return c.end(ctx, a.as.DismissGroup(ctx, id, at))
}

func (a *appStore) AddGroupMembers(ctx context.Context, groupID string, ms []store.GroupMember, maxMembers int) ([]store.GroupMember, error) {
	ctx, c := a.begin(ctx, "AddGroupMembers")
	added, err := a.as.AddGroupMembers(ctx, groupID, ms, maxMembers)
	return added, c.end(ctx, err)
}

func (a *appStore) RemoveGroupMembers(ctx context.Context, groupID string, userIDs []string) ([]string, error) {
	ctx, c := a.begin(ctx, "RemoveGroupMembers")
	removed, err := a.as.RemoveGroupMembers(ctx, groupID, userIDs)
	return removed, c.end(ctx, err)
}

func (a *appStore) GetGroupMember(ctx context.Context, groupID, userID string) (store.GroupMember, error) {
	ctx, c := a.begin(ctx, "GetGroupMember")
	m, err := a.as.GetGroupMember(ctx, groupID, userID)
	return m, c.end(ctx, err)
}

func (a *appStore) UpdateGroupMember(ctx context.Context, groupID string, m store.GroupMember) error {
	ctx, c := a.begin(ctx, "UpdateGroupMember")
	return c.end(ctx, a.as.UpdateGroupMember(ctx, groupID, m))
}

func (a *appStore) ListGroupMembers(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	ctx, c := a.begin(ctx, "ListGroupMembers")
	ms, err := a.as.ListGroupMembers(ctx, groupID, after, limit)
	return ms, c.end(ctx, err)
}

func (a *appStore) ListGroupAdmins(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	ctx, c := a.begin(ctx, "ListGroupAdmins")
	ms, err := a.as.ListGroupAdmins(ctx, groupID, after, limit)
	return ms, c.end(ctx, err)
}

func (a *appStore) ListGroupReaders(ctx context.Context, groupID string, seq int64, read bool, after string, limit int) ([]store.GroupMember, error) {
	ctx, c := a.begin(ctx, "ListGroupReaders")
	ms, err := a.as.ListGroupReaders(ctx, groupID, seq, read, after, limit)
	return ms, c.end(ctx, err)
}

func (a *appStore) CountGroupReaders(ctx context.Context, groupID string, seq int64) (int, int, error) {
	ctx, c := a.begin(ctx, "CountGroupReaders")
	read, of, err := a.as.CountGroupReaders(ctx, groupID, seq)
	return read, of, c.end(ctx, err)
}

func (a *appStore) PutJoinRequest(ctx context.Context, r store.JoinRequest) error {
	ctx, c := a.begin(ctx, "PutJoinRequest")
	return c.end(ctx, a.as.PutJoinRequest(ctx, r))
}

func (a *appStore) GetJoinRequest(ctx context.Context, groupID, userID string) (store.JoinRequest, error) {
	ctx, c := a.begin(ctx, "GetJoinRequest")
	r, err := a.as.GetJoinRequest(ctx, groupID, userID)
	return r, c.end(ctx, err)
}

func (a *appStore) ListJoinRequests(ctx context.Context, groupID, after string, limit int) ([]store.JoinRequest, error) {
	ctx, c := a.begin(ctx, "ListJoinRequests")
	rs, err := a.as.ListJoinRequests(ctx, groupID, after, limit)
	return rs, c.end(ctx, err)
}

func (a *appStore) DeleteJoinRequest(ctx context.Context, groupID, userID string) error {
	ctx, c := a.begin(ctx, "DeleteJoinRequest")
	return c.end(ctx, a.as.DeleteJoinRequest(ctx, groupID, userID))
}
