package contacts

import (
	"context"
	"errors"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

// Request outcomes.
const (
	// Requested: the request waits for the other user's answer.
	Requested = "requested"
	// Befriended: the two users are friends (the other user had asked
	// this one already, or they were friends before).
	Befriended = "friends"
)

// notBlocked refuses (forbidden) when either user blocks the other.
func (s *Service) notBlocked(ctx context.Context, appID, userID, otherID string) (store.Relation, error) {
	rel, err := s.store.App(appID).GetRelation(ctx, userID, otherID)
	if err != nil {
		return rel, fmt.Errorf("get relation: %w", err)
	}
	if rel.Blocked || rel.Blocking {
		return rel, fail(CodeForbidden, "%s and %s may not become friends: one blocks the other", userID, otherID)
	}
	return rel, nil
}

// SendRequest sends userID's friend request to toID, replacing an earlier
// one; if toID had already asked userID, the two become friends at once
// (Befriended). Friends already: Befriended, and nothing changes.
func (s *Service) SendRequest(ctx context.Context, appID, userID, toID, message string) (string, error) {
	if err := validText("message", message, MaxMessageBytes); err != nil {
		return "", err
	}
	if err := s.pair(ctx, appID, userID, toID, "user_id"); err != nil {
		return "", err
	}
	rel, err := s.notBlocked(ctx, appID, userID, toID)
	if err != nil {
		return "", err
	}
	if rel.Friends {
		return Befriended, nil
	}
	as := s.store.App(appID)
	if _, err := as.GetFriendRequest(ctx, toID, userID); err == nil {
		if err := s.befriend(ctx, appID, userID, toID); err != nil {
			return "", err
		}
		s.notify(ctx, appID, toID, Notice{Event: NoticeAccepted, UserID: userID})
		return Befriended, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("get friend request: %w", err)
	}
	err = as.PutFriendRequest(ctx, store.FriendRequest{FromID: userID, ToID: toID, Message: message, CreatedAt: s.now()})
	if err != nil {
		return "", fmt.Errorf("put friend request: %w", err)
	}
	s.notify(ctx, appID, toID, Notice{Event: NoticeRequested, UserID: userID, Message: message})
	return Requested, nil
}

// befriend writes a friendship within the limit and reports the change.
func (s *Service) befriend(ctx context.Context, appID, userID, friendID string) error {
	max, err := s.maxFriends(ctx, appID)
	if err != nil {
		return err
	}
	err = s.store.App(appID).AddFriendship(ctx, userID, friendID, s.now(), max)
	if errors.Is(err, store.ErrLimit) {
		return fail(CodeTooManyFriends, "%s or %s has %d friends already", userID, friendID, max)
	}
	if err != nil {
		return fmt.Errorf("add friendship: %w", err)
	}
	s.changed(ctx, appID, userID, friendID)
	return nil
}

// Accept accepts fromID's request to userID: they become friends.
// not_found if there is no such request.
func (s *Service) Accept(ctx context.Context, appID, userID, fromID string) error {
	if err := s.pair(ctx, appID, userID, fromID, "user_id"); err != nil {
		return err
	}
	if _, err := s.store.App(appID).GetFriendRequest(ctx, fromID, userID); errors.Is(err, store.ErrNotFound) {
		return fail(CodeNotFound, "no friend request from %s", fromID)
	} else if err != nil {
		return fmt.Errorf("get friend request: %w", err)
	}
	if _, err := s.notBlocked(ctx, appID, userID, fromID); err != nil {
		return err
	}
	if err := s.befriend(ctx, appID, userID, fromID); err != nil {
		return err
	}
	s.notify(ctx, appID, fromID, Notice{Event: NoticeAccepted, UserID: userID})
	return nil
}

// Decline removes fromID's request to userID; not_found if none.
func (s *Service) Decline(ctx context.Context, appID, userID, fromID string) error {
	return s.deleteRequest(ctx, appID, fromID, userID)
}

// Cancel removes userID's request to toID; not_found if none.
func (s *Service) Cancel(ctx context.Context, appID, userID, toID string) error {
	return s.deleteRequest(ctx, appID, userID, toID)
}

func (s *Service) deleteRequest(ctx context.Context, appID, fromID, toID string) error {
	if err := s.checkUsers(ctx, appID, fromID, toID); err != nil {
		return err
	}
	err := s.store.App(appID).DeleteFriendRequest(ctx, fromID, toID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(CodeNotFound, "no friend request from %s to %s", fromID, toID)
	}
	if err != nil {
		return fmt.Errorf("delete friend request: %w", err)
	}
	return nil
}

// Requests returns a page of a user's incoming or outgoing requests, by the
// other user's id, and the cursor of the next page ("" at the end).
func (s *Service) Requests(ctx context.Context, appID, userID string, incoming bool, after string, limit int) ([]store.FriendRequest, string, error) {
	limit, err := page(limit)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return nil, "", err
	}
	rs, err := s.store.App(appID).ListFriendRequests(ctx, userID, incoming, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list friend requests: %w", err)
	}
	return rs, next(len(rs), limit, func() string {
		if incoming {
			return rs[len(rs)-1].FromID
		}
		return rs[len(rs)-1].ToID
	}), nil
}

// AddFriend makes two users friends directly (the app's backend, over the
// server API): no request, no block check. It returns the user's side.
func (s *Service) AddFriend(ctx context.Context, appID, userID, friendID string) (store.Friend, error) {
	if err := s.pair(ctx, appID, userID, friendID, "friend_id"); err != nil {
		return store.Friend{}, err
	}
	if err := s.befriend(ctx, appID, userID, friendID); err != nil {
		return store.Friend{}, err
	}
	s.notify(ctx, appID, friendID, Notice{Event: NoticeAccepted, UserID: userID})
	s.notify(ctx, appID, userID, Notice{Event: NoticeAccepted, UserID: friendID})
	return s.Friend(ctx, appID, userID, friendID)
}

// Friend returns a user's side of a friendship; not_found if they are not
// friends.
func (s *Service) Friend(ctx context.Context, appID, userID, friendID string) (store.Friend, error) {
	f, err := s.store.App(appID).GetFriend(ctx, userID, friendID)
	if errors.Is(err, store.ErrNotFound) {
		return f, fail(CodeNotFound, "%s is not a friend of %s", friendID, userID)
	}
	if err != nil {
		return f, fmt.Errorf("get friend: %w", err)
	}
	return f, nil
}

// Friends returns a page of a user's friends by id, and the cursor of the
// next page.
func (s *Service) Friends(ctx context.Context, appID, userID, after string, limit int) ([]store.Friend, string, error) {
	limit, err := page(limit)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return nil, "", err
	}
	fs, err := s.store.App(appID).ListFriends(ctx, userID, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list friends: %w", err)
	}
	return fs, next(len(fs), limit, func() string { return fs[len(fs)-1].FriendID }), nil
}

// SetRemark sets a user's remark of a friend (empty clears it); not_found
// if they are not friends.
func (s *Service) SetRemark(ctx context.Context, appID, userID, friendID, remark string) (store.Friend, error) {
	if err := validText("remark", remark, MaxRemarkBytes); err != nil {
		return store.Friend{}, err
	}
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return store.Friend{}, err
	}
	err := s.store.App(appID).SetFriendRemark(ctx, userID, friendID, remark)
	if errors.Is(err, store.ErrNotFound) {
		return store.Friend{}, fail(CodeNotFound, "%s is not a friend of %s", friendID, userID)
	}
	if err != nil {
		return store.Friend{}, fmt.Errorf("set remark: %w", err)
	}
	return s.Friend(ctx, appID, userID, friendID)
}

// RemoveFriend ends a friendship, both sides; not_found if they are not
// friends.
func (s *Service) RemoveFriend(ctx context.Context, appID, userID, friendID string) error {
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return err
	}
	err := s.store.App(appID).RemoveFriendship(ctx, userID, friendID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(CodeNotFound, "%s is not a friend of %s", friendID, userID)
	}
	if err != nil {
		return fmt.Errorf("remove friendship: %w", err)
	}
	s.changed(ctx, appID, userID, friendID)
	s.notify(ctx, appID, friendID, Notice{Event: NoticeRemoved, UserID: userID})
	return nil
}

// Block makes userID block targetID (again: no change). The friendship, if
// any, stays; targetID's one-to-one messages to userID are refused.
func (s *Service) Block(ctx context.Context, appID, userID, targetID string) (store.Block, error) {
	if err := s.pair(ctx, appID, userID, targetID, "target_id"); err != nil {
		return store.Block{}, err
	}
	as := s.store.App(appID)
	if err := as.PutBlock(ctx, store.Block{UserID: userID, TargetID: targetID, CreatedAt: s.now()}); err != nil {
		return store.Block{}, fmt.Errorf("block: %w", err)
	}
	s.changed(ctx, appID, userID, targetID)
	bs, err := as.ListBlocks(ctx, userID, prev(targetID), 1)
	if err != nil || len(bs) == 0 || bs[0].TargetID != targetID {
		return store.Block{UserID: userID, TargetID: targetID, CreatedAt: s.now()}, nil
	}
	return bs[0], nil
}

// prev returns a string just before s in byte order, so that a listing
// after it starts at s.
func prev(s string) string {
	if s == "" {
		return ""
	}
	b := []byte(s)
	if b[len(b)-1] == 0 {
		return string(b[:len(b)-1])
	}
	b[len(b)-1]--
	return string(b) + "\xff"
}

// Unblock removes a block; not_found if there is none.
func (s *Service) Unblock(ctx context.Context, appID, userID, targetID string) error {
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return err
	}
	err := s.store.App(appID).DeleteBlock(ctx, userID, targetID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(CodeNotFound, "%s does not block %s", userID, targetID)
	}
	if err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	s.changed(ctx, appID, userID, targetID)
	return nil
}

// Blocks returns a page of the users a user blocks, by id, and the cursor
// of the next page.
func (s *Service) Blocks(ctx context.Context, appID, userID, after string, limit int) ([]store.Block, string, error) {
	limit, err := page(limit)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkUsers(ctx, appID, userID); err != nil {
		return nil, "", err
	}
	bs, err := s.store.App(appID).ListBlocks(ctx, userID, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list blocks: %w", err)
	}
	return bs, next(len(bs), limit, func() string { return bs[len(bs)-1].TargetID }), nil
}
