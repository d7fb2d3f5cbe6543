package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Groups without transactions. A group is a document of the groups
// collection (_id {app, id}); its membership is the entries of its
// conversation (store.GroupConvID), one per member, with the member's role,
// mute and join time; its conversation document has no member list.
//
// MemberCount (member_count) is kept with conditional counter updates, in
// the style of the agents' capacity (support.go):
//
//   - AddGroupMembers reads which of the users already have entries, then
//     takes places for the others with one $inc of member_count that
//     matches only while the group is not dismissed and the count stays
//     within the limit, then inserts the entries (an unordered insert; a
//     duplicate key is a user another call added meanwhile) and gives back
//     the places of the entries it did not insert.
//   - RemoveGroupMembers and DeleteUser delete entries first, then take
//     from the count as many as they deleted.
//   - DismissGroup sets dismissed_at (and member_count 0) first, then
//     deletes the entries and join requests; a call that finds the group
//     dismissed already finishes that cleanup.
//
// No interleaving of calls, in any number of processes, lets the entries
// outnumber the limit: every entry is inserted under a place taken by the
// conditional $inc. A crash between a counter update and the entries it
// counts leaves MemberCount too high (never too low for long), which the
// contract allows; giving back never takes the count below 0.

// groupDoc is a group (_id.id is its id). DismissedAt is left out until
// the group is dismissed.
type groupDoc struct {
	ID        appKey `bson:"_id"`
	Name      string `bson:"name"`
	AvatarURL string `bson:"avatar_url,omitempty"`
	Notice    string `bson:"notice,omitempty"`
	// Metadata is a list of pairs, as a user's (keys may hold dots).
	Metadata       []pair           `bson:"metadata,omitempty"`
	OwnerID        string           `bson:"owner_id"`
	Policy         store.JoinPolicy `bson:"policy"`
	MuteAll        bool             `bson:"mute_all"`
	HistoryVisible bool             `bson:"history_visible"`
	MemberCount    int              `bson:"member_count"`
	CreatedAt      time.Time        `bson:"created_at"`
	UpdatedAt      time.Time        `bson:"updated_at"`
	DismissedAt    time.Time        `bson:"dismissed_at,omitempty"`
	Version        int64            `bson:"version"`
}

// joinKey is the _id of a join request.
type joinKey struct {
	App   string `bson:"app"`
	Group string `bson:"group"`
	User  string `bson:"user"`
}

// joinRequestDoc is a user's request to join a group.
type joinRequestDoc struct {
	ID        joinKey   `bson:"_id"`
	InviterID string    `bson:"inviter,omitempty"`
	Message   string    `bson:"message,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

func (a *appStore) joinKey(group, user string) joinKey {
	return joinKey{App: a.id, Group: group, User: user}
}

func (d groupDoc) record() store.Group {
	return store.Group{
		ID: d.ID.ID, Name: d.Name, AvatarURL: d.AvatarURL, Notice: d.Notice, Metadata: metadata(d.Metadata),
		OwnerID: d.OwnerID, Policy: d.Policy, MuteAll: d.MuteAll, HistoryVisible: d.HistoryVisible,
		MemberCount: d.MemberCount, CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
		DismissedAt: utc(d.DismissedAt), Version: d.Version,
	}
}

func (d joinRequestDoc) record() store.JoinRequest {
	return store.JoinRequest{GroupID: d.ID.Group, UserID: d.ID.User, InviterID: d.InviterID,
		Message: d.Message, CreatedAt: utc(d.CreatedAt)}
}

// memberRecord is the membership an entry of a group's conversation holds.
func memberRecord(e entryDoc) store.GroupMember {
	return store.GroupMember{UserID: e.ID.User, Role: store.GroupRole(e.Role), MutedUntil: utc(e.MutedUntil),
		JoinedAt: utc(e.JoinedAt), FirstSeq: e.FirstSeq, ReadSeq: e.ReadSeq}
}

// memberEntry is the entry of a new member of group conversation conv,
// its cursors before first.
func (a *appStore) memberEntry(conv string, m store.GroupMember, first int64) entryDoc {
	return entryDoc{ID: a.entryKey(m.UserID, conv), ReadSeq: first - 1, DeliveredSeq: first - 1, FirstSeq: first,
		Role: string(m.Role), MutedUntil: m.MutedUntil, JoinedAt: m.JoinedAt}
}

// distinctMembers drops the repeats of a user id, keeping the first.
func distinctMembers(ms []store.GroupMember) []store.GroupMember {
	seen := make(map[string]bool, len(ms))
	out := make([]store.GroupMember, 0, len(ms))
	for _, m := range ms {
		if !seen[m.UserID] {
			seen[m.UserID] = true
			out = append(out, m)
		}
	}
	return out
}

// distinctIDs drops the repeats of an id, keeping the first.
func distinctIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// CreateGroup stores a group, its conversation and its members' entries:
// the conversation first (an upsert that only ever inserts, so that a
// retry, or an append, finds it), then the group document, whose duplicate
// key is store.ErrConflict, then the entries.
func (a *appStore) CreateGroup(ctx context.Context, g store.Group, members []store.GroupMember) error {
	if err := a.createGroup(ctx, g, members); err != nil {
		return fmt.Errorf("create group %s: %w", g.ID, err)
	}
	return nil
}

func (a *appStore) createGroup(ctx context.Context, g store.Group, members []store.GroupMember) error {
	conv := store.GroupConvID(g.ID)
	ms := distinctMembers(members)
	update := bson.D{{Key: "$setOnInsert", Value: bson.D{
		{Key: "members", Value: bson.A{}},
		{Key: "max_seq", Value: int64(0)},
		{Key: "created_at", Value: g.CreatedAt},
		{Key: "updated_at", Value: g.CreatedAt},
	}}}
	var err error
	for range 2 { // two upserts at once: one inserts, the other finds it on retry
		_, err = a.s.c.conversations.UpdateOne(ctx, byID(a.key(conv)), update, options.UpdateOne().SetUpsert(true))
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return errorf(err, "create conversation")
	}
	_, err = a.s.c.groups.InsertOne(ctx, groupDoc{
		ID: a.key(g.ID), Name: g.Name, AvatarURL: g.AvatarURL, Notice: g.Notice, Metadata: pairs(g.Metadata),
		OwnerID: g.OwnerID, Policy: g.Policy, MuteAll: g.MuteAll, HistoryVisible: g.HistoryVisible,
		MemberCount: len(ms), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, Version: 1,
	})
	if err != nil {
		return errorf(err, "insert group")
	}
	if len(ms) == 0 {
		return nil
	}
	docs := make([]any, len(ms))
	for i, m := range ms {
		docs[i] = a.memberEntry(conv, m, 1)
	}
	_, err = a.insertEntries(ctx, docs)
	return err
}

// insertEntries inserts entries in one unordered insert and reports which
// of them (by index) were duplicate keys: entries that exist.
func (a *appStore) insertEntries(ctx context.Context, docs []any) (map[int]bool, error) {
	_, err := a.s.c.entries.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil, nil
	}
	wes, err := writeErrors(err)
	if err != nil {
		return nil, errorf(err, "insert member entries")
	}
	dup := make(map[int]bool, len(wes))
	for _, we := range wes {
		if !isDuplicate(we.WriteError) {
			return nil, errorf(we.WriteError, "insert member entries")
		}
		dup[we.Index] = true
	}
	return dup, nil
}

// GetGroup returns a group, dismissed or not, or store.ErrNotFound.
func (a *appStore) GetGroup(ctx context.Context, id string) (store.Group, error) {
	d, err := findOne[groupDoc](ctx, a.s.c.groups, byID(a.key(id)))
	if err != nil {
		return store.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return d.record(), nil
}

// notDismissed is the condition on a group document that it is not
// dismissed.
var notDismissed = bson.E{Key: "dismissed_at", Value: bson.D{{Key: "$exists", Value: false}}}

// liveGroup reads a group locally: store.ErrNotFound if it does not exist
// or was dismissed.
func (a *appStore) liveGroup(ctx context.Context, id string) (groupDoc, error) {
	d, err := findOne[groupDoc](ctx, a.s.l.groups, byID(a.key(id)))
	if err == nil && !d.DismissedAt.IsZero() {
		err = fmt.Errorf("dismissed: %w", store.ErrNotFound)
	}
	return d, err
}

// UpdateGroup replaces the mutable fields of a live group whose version is
// still g.Version: one conditional update, then, if it matched nothing, a
// read that tells store.ErrNotFound from store.ErrConflict.
func (a *appStore) UpdateGroup(ctx context.Context, g store.Group) error {
	fields := bson.D{
		{Key: "name", Value: g.Name}, {Key: "avatar_url", Value: g.AvatarURL}, {Key: "notice", Value: g.Notice},
		{Key: "owner_id", Value: g.OwnerID}, {Key: "policy", Value: g.Policy}, {Key: "mute_all", Value: g.MuteAll},
		{Key: "history_visible", Value: g.HistoryVisible}, {Key: "updated_at", Value: g.UpdatedAt},
	}
	update := bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}}}
	if md := pairs(g.Metadata); md != nil {
		fields = append(fields, bson.E{Key: "metadata", Value: md})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "metadata", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: fields})
	filter := bson.D{{Key: "_id", Value: a.key(g.ID)}, {Key: "version", Value: g.Version}, notDismissed}
	res, err := a.s.c.groups.UpdateOne(ctx, filter, update)
	if err == nil && res.MatchedCount == 0 {
		var d groupDoc
		if d, err = a.liveGroup(ctx, g.ID); err == nil {
			err = fmt.Errorf("version %d, not %d: %w", d.Version, g.Version, store.ErrConflict)
		}
	}
	if err != nil {
		return errorf(err, "update group %s", g.ID)
	}
	return nil
}

// DismissGroup marks a group dismissed (member_count 0) unless it is, then
// removes its entries, their device cursors and its join requests.
func (a *appStore) DismissGroup(ctx context.Context, id string, at time.Time) error {
	if err := a.dismissGroup(ctx, id, at); err != nil {
		return fmt.Errorf("dismiss group %s: %w", id, err)
	}
	return nil
}

func (a *appStore) dismissGroup(ctx context.Context, id string, at time.Time) error {
	res, err := a.s.c.groups.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.key(id)}, notDismissed},
		set(bson.E{Key: "dismissed_at", Value: at}, bson.E{Key: "member_count", Value: 0}))
	if err != nil {
		return errorf(err, "mark dismissed")
	}
	if res.MatchedCount == 0 {
		// Dismissed already (finish its cleanup, should it have stopped
		// half-way), or no such group.
		if _, err := findOne[groupDoc](ctx, a.s.l.groups, byID(a.key(id)), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})); err != nil {
			return err
		}
	}
	conv := store.GroupConvID(id)
	es, err := findAll[entryDoc](ctx, a.s.l.entries, a.scope(bson.E{Key: "_id.conv", Value: conv}),
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	users := make([]string, len(es))
	for i, e := range es {
		users[i] = e.ID.User
	}
	if err := a.deleteGroupCursors(ctx, conv, users); err != nil {
		return err
	}
	if _, err := a.s.c.entries.DeleteMany(ctx, a.scope(bson.E{Key: "_id.conv", Value: conv})); err != nil {
		return errorf(err, "delete member entries")
	}
	if _, err := a.s.c.joinRequests.DeleteMany(ctx, a.scope(bson.E{Key: "_id.group", Value: id})); err != nil {
		return errorf(err, "delete join requests")
	}
	return nil
}

// deleteGroupCursors removes the device cursors of users in a group's
// conversation.
func (a *appStore) deleteGroupCursors(ctx context.Context, conv string, users []string) error {
	if len(users) == 0 {
		return nil
	}
	_, err := a.s.c.cursors.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: in(users)}, bson.E{Key: "_id.conv", Value: conv}))
	if err != nil {
		return errorf(err, "delete device cursors")
	}
	return nil
}

// AddGroupMembers adds the users who are not members yet; see the top of
// this file for how the limit holds without a transaction.
func (a *appStore) AddGroupMembers(ctx context.Context, groupID string, ms []store.GroupMember, maxMembers int) ([]store.GroupMember, error) {
	added, err := a.addGroupMembers(ctx, groupID, ms, maxMembers)
	if err != nil {
		return nil, fmt.Errorf("add members to group %s: %w", groupID, err)
	}
	return added, nil
}

func (a *appStore) addGroupMembers(ctx context.Context, groupID string, ms []store.GroupMember, maxMembers int) ([]store.GroupMember, error) {
	g, err := a.liveGroup(ctx, groupID)
	if err != nil {
		return nil, err
	}
	conv := store.GroupConvID(groupID)
	ms = distinctMembers(ms)
	keys := make([]entryKey, len(ms))
	for i, m := range ms {
		keys[i] = a.entryKey(m.UserID, conv)
	}
	have, err := findAll[entryDoc](ctx, a.s.l.entries, bson.D{{Key: "_id", Value: in(keys)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read members: %w", err)
	}
	member := make(map[string]bool, len(have))
	for _, e := range have {
		member[e.ID.User] = true
	}
	var fresh []store.GroupMember
	for _, m := range ms {
		if !member[m.UserID] {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	n := len(fresh)
	if err := a.takeMemberPlaces(ctx, groupID, n, maxMembers); err != nil {
		return nil, err
	}
	first := int64(1)
	if !g.HistoryVisible {
		c, err := findOne[conversationDoc](ctx, a.s.l.conversations, byID(a.key(conv)),
			options.FindOne().SetProjection(bson.D{{Key: "max_seq", Value: 1}}))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, errors.Join(fmt.Errorf("read conversation: %w", err), a.releaseMembers(ctx, groupID, n))
		}
		first = c.MaxSeq + 1
	}
	docs := make([]any, n)
	for i, m := range fresh {
		docs[i] = a.memberEntry(conv, m, first)
	}
	dup, err := a.insertEntries(ctx, docs)
	if err != nil {
		// The outcome of the insert is unknown: keep the places (the count
		// errs high, as after a crash).
		return nil, err
	}
	var added []store.GroupMember
	var users []string
	for i, m := range fresh {
		if !dup[i] {
			m.FirstSeq, m.ReadSeq = first, first-1
			added = append(added, m)
			users = append(users, m.UserID)
		}
	}
	if len(dup) > 0 {
		if err := a.releaseMembers(ctx, groupID, len(dup)); err != nil {
			return nil, err
		}
	}
	if len(users) == 0 {
		return nil, nil
	}
	// A dismissal that began after the group was read may have deleted
	// the entries before these were inserted: it set dismissed_at first,
	// so a read now tells.
	if _, err := a.liveGroup(ctx, groupID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			_, derr := a.s.c.entries.DeleteMany(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: in(entryKeys(a, conv, users))}})
			return nil, errors.Join(err, translate(derr))
		}
		return nil, err
	}
	_, err = a.s.c.joinRequests.DeleteMany(ctx, a.scope(bson.E{Key: "_id.group", Value: groupID}, bson.E{Key: "_id.user", Value: in(users)}))
	if err != nil {
		return nil, errorf(err, "delete join requests of added members")
	}
	return added, nil
}

func entryKeys(a *appStore, conv string, users []string) []entryKey {
	keys := make([]entryKey, len(users))
	for i, u := range users {
		keys[i] = a.entryKey(u, conv)
	}
	return keys
}

// takeMemberPlaces adds n to a live group's member count if it then stays
// within maxMembers (0: no limit): one conditional $inc, then, if it
// matched nothing, a read that tells store.ErrNotFound from store.ErrLimit.
func (a *appStore) takeMemberPlaces(ctx context.Context, groupID string, n, maxMembers int) error {
	filter := bson.D{{Key: "_id", Value: a.key(groupID)}, notDismissed}
	if maxMembers > 0 {
		filter = append(filter, bson.E{Key: "member_count", Value: bson.D{{Key: "$lte", Value: maxMembers - n}}})
	}
	res, err := a.s.c.groups.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "member_count", Value: n}}}})
	if err != nil {
		return errorf(err, "take member places")
	}
	if res.MatchedCount == 1 {
		return nil
	}
	d, err := a.liveGroup(ctx, groupID)
	if err != nil {
		return err
	}
	return fmt.Errorf("%d members and %d more, limit %d: %w", d.MemberCount, n, maxMembers, store.ErrLimit)
}

// releaseMembers takes n from a group's member count, never below 0 (a
// dismissed group's is 0). It runs without the caller's cancellation: the
// writes it completes have happened.
func (a *appStore) releaseMembers(ctx context.Context, groupID string, n int) error {
	if n <= 0 {
		return nil
	}
	filter := bson.D{{Key: "_id", Value: a.key(groupID)}, {Key: "member_count", Value: bson.D{{Key: "$gte", Value: n}}}}
	_, err := a.s.c.groups.UpdateOne(context.WithoutCancel(ctx), filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "member_count", Value: -n}}}})
	if err != nil {
		return errorf(err, "release member places of group %s", groupID)
	}
	return nil
}

// RemoveGroupMembers deletes the entries of the given members, then takes
// the number deleted from the group's count, then deletes their device
// cursors of the group.
func (a *appStore) RemoveGroupMembers(ctx context.Context, groupID string, userIDs []string) ([]string, error) {
	removed, err := a.removeGroupMembers(ctx, groupID, userIDs)
	if err != nil {
		return nil, fmt.Errorf("remove members from group %s: %w", groupID, err)
	}
	return removed, nil
}

func (a *appStore) removeGroupMembers(ctx context.Context, groupID string, userIDs []string) ([]string, error) {
	if _, err := findOne[groupDoc](ctx, a.s.l.groups, byID(a.key(groupID)), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})); err != nil {
		return nil, err
	}
	conv := store.GroupConvID(groupID)
	ids := distinctIDs(userIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	keys := entryKeys(a, conv, ids)
	have, err := findAll[entryDoc](ctx, a.s.l.entries, bson.D{{Key: "_id", Value: in(keys)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read members: %w", err)
	}
	member := make(map[string]bool, len(have))
	for _, e := range have {
		member[e.ID.User] = true
	}
	var removed []string
	for _, id := range ids {
		if member[id] {
			removed = append(removed, id)
		}
	}
	if len(removed) > 0 {
		res, err := a.s.c.entries.DeleteMany(ctx, bson.D{{Key: "_id", Value: in(entryKeys(a, conv, removed))}})
		if err != nil {
			return nil, errorf(err, "delete member entries")
		}
		if err := a.releaseMembers(ctx, groupID, int(res.DeletedCount)); err != nil {
			return nil, err
		}
	}
	// Every given user's cursors: a retry after a crash finds no entry.
	if err := a.deleteGroupCursors(ctx, conv, ids); err != nil {
		return nil, err
	}
	return removed, nil
}

// deleteUserGroups removes a user's group memberships, one entry at a
// time, each followed by its group's count, and its join requests.
func (a *appStore) deleteUserGroups(ctx context.Context, userID string) error {
	es, err := findAll[entryDoc](ctx, a.s.l.entries, a.scope(
		bson.E{Key: "_id.user", Value: userID},
		bson.E{Key: "_id.conv", Value: bson.D{{Key: "$gte", Value: store.GroupConvPrefix}, {Key: "$lt", Value: groupConvEnd}}},
	), options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("list group memberships: %w", err)
	}
	for _, e := range es {
		res, err := a.s.c.entries.DeleteOne(ctx, byID(e.ID))
		if err != nil {
			return errorf(err, "delete membership of %s", e.ID.Conv)
		}
		if res.DeletedCount == 1 {
			if err := a.releaseMembers(ctx, e.ID.Conv[len(store.GroupConvPrefix):], 1); err != nil {
				return err
			}
		}
	}
	if _, err := a.s.c.joinRequests.DeleteMany(ctx, a.scope(bson.E{Key: "_id.user", Value: userID})); err != nil {
		return errorf(err, "delete join requests")
	}
	return nil
}

// groupConvEnd is the least string above every group conversation id: the
// prefix with its last byte (':') incremented.
const groupConvEnd = "g;"

// isGroupConv reports whether a conversation id is a group's.
func isGroupConv(conv string) bool {
	return strings.HasPrefix(conv, store.GroupConvPrefix)
}

// GetGroupMember returns a member's entry, or store.ErrNotFound.
func (a *appStore) GetGroupMember(ctx context.Context, groupID, userID string) (store.GroupMember, error) {
	e, err := findOne[entryDoc](ctx, a.s.c.entries, byID(a.entryKey(userID, store.GroupConvID(groupID))))
	if err != nil {
		return store.GroupMember{}, fmt.Errorf("get member %s of group %s: %w", userID, groupID, err)
	}
	return memberRecord(e), nil
}

// UpdateGroupMember replaces a member's role and mute.
func (a *appStore) UpdateGroupMember(ctx context.Context, groupID string, m store.GroupMember) error {
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "role", Value: string(m.Role)}}}}
	if m.MutedUntil.IsZero() {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "muted_until", Value: ""}}})
	} else {
		update[0].Value = append(update[0].Value.(bson.D), bson.E{Key: "muted_until", Value: m.MutedUntil})
	}
	res, err := a.s.c.entries.UpdateOne(ctx, byID(a.entryKey(m.UserID, store.GroupConvID(groupID))), update)
	if err := matched(res, err); err != nil {
		return fmt.Errorf("update member %s of group %s: %w", m.UserID, groupID, err)
	}
	return nil
}

// ListGroupMembers returns up to limit members with user id > after, by
// user id.
func (a *appStore) ListGroupMembers(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	ms, err := a.listMembers(ctx, groupID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list members of group %s: %w", groupID, err)
	}
	return ms, nil
}

// ListGroupAdmins returns a page of the group's owner and admins, by user
// id, through the entries' role index (app_conv_role_user).
func (a *appStore) ListGroupAdmins(ctx context.Context, groupID, after string, limit int) ([]store.GroupMember, error) {
	ms, err := a.listMembers(ctx, groupID, after, limit,
		bson.E{Key: "role", Value: in([]string{string(store.GroupRoleOwner), string(store.GroupRoleAdmin)})})
	if err != nil {
		return nil, fmt.Errorf("list admins of group %s: %w", groupID, err)
	}
	return ms, nil
}

func (a *appStore) listMembers(ctx context.Context, groupID, after string, limit int, conds ...bson.E) ([]store.GroupMember, error) {
	if limit <= 0 {
		return nil, nil // MongoDB reads a zero limit as none
	}
	filter := a.scope(append([]bson.E{
		{Key: "_id.conv", Value: store.GroupConvID(groupID)},
		{Key: "_id.user", Value: bson.D{{Key: "$gt", Value: after}}},
	}, conds...)...)
	es, err := findAll[entryDoc](ctx, a.s.c.entries, filter, page("_id.user", limit))
	if err != nil {
		return nil, err
	}
	return records(es, memberRecord), nil
}

// readerConds are the conditions on a member's entry that it could have
// read seq (it joined at or before it) and, with read, has or, without,
// has not.
func readerConds(seq int64, read bool) []bson.E {
	op := "$lt"
	if read {
		op = "$gte"
	}
	return []bson.E{
		{Key: "first_seq", Value: bson.D{{Key: "$lte", Value: seq}}},
		{Key: "read_seq", Value: bson.D{{Key: op, Value: seq}}},
	}
}

// ListGroupReaders returns up to limit members with user id > after who
// have (read) or have not read seq, of those who joined at or before it.
func (a *appStore) ListGroupReaders(ctx context.Context, groupID string, seq int64, read bool, after string, limit int) ([]store.GroupMember, error) {
	ms, err := a.listMembers(ctx, groupID, after, limit, readerConds(seq, read)...)
	if err != nil {
		return nil, fmt.Errorf("list readers of %d in group %s: %w", seq, groupID, err)
	}
	return ms, nil
}

// CountGroupReaders counts the members who have read seq and those who
// joined at or before it.
func (a *appStore) CountGroupReaders(ctx context.Context, groupID string, seq int64) (int, int, error) {
	conv := bson.E{Key: "_id.conv", Value: store.GroupConvID(groupID)}
	readers := readerConds(seq, true)
	of, err := a.s.c.entries.CountDocuments(ctx, a.scope(conv, readers[0]))
	if err != nil {
		return 0, 0, errorf(err, "count members of group %s", groupID)
	}
	read, err := a.s.c.entries.CountDocuments(ctx, a.scope(append([]bson.E{conv}, readers...)...))
	if err != nil {
		return 0, 0, errorf(err, "count readers of %d in group %s", seq, groupID)
	}
	return int(read), int(of), nil
}

// PutJoinRequest stores a request to a live group, replacing the user's
// earlier one. A dismissal that began after the group was read may have
// deleted the requests before this one was written: a second read of the
// group tells, and the request goes.
func (a *appStore) PutJoinRequest(ctx context.Context, r store.JoinRequest) error {
	if err := a.putJoinRequest(ctx, r); err != nil {
		return fmt.Errorf("put join request of %s to group %s: %w", r.UserID, r.GroupID, err)
	}
	return nil
}

func (a *appStore) putJoinRequest(ctx context.Context, r store.JoinRequest) error {
	if _, err := a.liveGroup(ctx, r.GroupID); err != nil {
		return err
	}
	k := a.joinKey(r.GroupID, r.UserID)
	doc := joinRequestDoc{ID: k, InviterID: r.InviterID, Message: r.Message, CreatedAt: r.CreatedAt}
	var err error
	for range 2 { // two upserts of a new request at once: one inserts, the other replaces on retry
		_, err = a.s.c.joinRequests.ReplaceOne(ctx, byID(k), doc, options.Replace().SetUpsert(true))
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return errorf(err, "upsert")
	}
	if _, err := a.liveGroup(ctx, r.GroupID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			_, derr := a.s.c.joinRequests.DeleteOne(context.WithoutCancel(ctx), byID(k))
			return errors.Join(err, translate(derr))
		}
		return err
	}
	return nil
}

// GetJoinRequest returns a request, or store.ErrNotFound.
func (a *appStore) GetJoinRequest(ctx context.Context, groupID, userID string) (store.JoinRequest, error) {
	d, err := findOne[joinRequestDoc](ctx, a.s.c.joinRequests, byID(a.joinKey(groupID, userID)))
	if err != nil {
		return store.JoinRequest{}, fmt.Errorf("get join request of %s to group %s: %w", userID, groupID, err)
	}
	return d.record(), nil
}

// ListJoinRequests returns up to limit requests with user id > after, by
// user id.
func (a *appStore) ListJoinRequests(ctx context.Context, groupID, after string, limit int) ([]store.JoinRequest, error) {
	if limit <= 0 {
		return nil, nil
	}
	ds, err := findAll[joinRequestDoc](ctx, a.s.c.joinRequests,
		a.scope(bson.E{Key: "_id.group", Value: groupID}, bson.E{Key: "_id.user", Value: bson.D{{Key: "$gt", Value: after}}}),
		page("_id.user", limit))
	if err != nil {
		return nil, fmt.Errorf("list join requests of group %s: %w", groupID, err)
	}
	return records(ds, joinRequestDoc.record), nil
}

// DeleteJoinRequest removes a request; store.ErrNotFound if there is none.
func (a *appStore) DeleteJoinRequest(ctx context.Context, groupID, userID string) error {
	res, err := a.s.c.joinRequests.DeleteOne(ctx, byID(a.joinKey(groupID, userID)))
	if err == nil && res.DeletedCount == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return errorf(err, "delete join request of %s to group %s", userID, groupID)
	}
	return nil
}
