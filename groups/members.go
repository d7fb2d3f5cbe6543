package groups

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

// Added is the outcome of AddMembers.
type Added struct {
	// Added are the users who are members now, with their first seq.
	Added []store.GroupMember
	// Pending are the users whose invitation waits for an admin's approval
	// (join policy "approval", invited by a member who is no admin).
	Pending []string
}

// AddMembers adds users to a group. Who may: the owner, admins and the
// backend always; other members when the join policy is "open", or, under
// "approval", their invitations wait for an admin as join requests.
// Users already members are left alone; a user who does not exist fails
// the whole call, and so does going past the app's group size.
func (s *Service) AddMembers(ctx context.Context, appID string, a Actor, id string, userIDs []string) (Added, error) {
	if len(userIDs) == 0 {
		return Added{}, invalid("user_ids", "at least one user")
	}
	if e := validUsers("user_ids", userIDs, MaxBatch); e != nil {
		return Added{}, e
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return Added{}, err
	}
	r, err := s.role(ctx, appID, g, a)
	if err != nil || r == "" {
		return Added{}, orForbidden(err, "not a member of group %q", id)
	}
	if err := s.checkUsers(ctx, appID, userIDs); err != nil {
		return Added{}, err
	}
	if !atLeastAdmin(r) {
		switch g.Policy {
		case store.JoinOpen:
		case store.JoinApproval:
			return s.invite(ctx, appID, a, g, userIDs)
		default:
			return Added{}, fail(CodeForbidden, "only the owner and admins may add members to group %q", id)
		}
	}
	added, err := s.add(ctx, appID, g.ID, userIDs)
	if err != nil {
		return Added{}, err
	}
	if len(added) > 0 {
		s.notify(ctx, appID, id, Notice{Event: NoticeAdded, By: a.by(), UserIDs: memberIDs(added)})
	}
	return Added{Added: added}, nil
}

// add adds members as plain members, within the app's limit.
func (s *Service) add(ctx context.Context, appID, id string, userIDs []string) ([]store.GroupMember, error) {
	max, err := s.maxSize(ctx, appID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ms := make([]store.GroupMember, len(userIDs))
	for i, u := range userIDs {
		ms[i] = store.GroupMember{UserID: u, Role: store.GroupRoleMember, JoinedAt: now}
	}
	added, err := s.store.App(appID).AddGroupMembers(ctx, id, ms, max)
	switch {
	case errors.Is(err, store.ErrLimit):
		return nil, fail(CodeGroupFull, "group %q would have more than %d members", id, max)
	case errors.Is(err, store.ErrNotFound):
		return nil, fail(CodeGroupNotFound, "no group %q in this app", id)
	case err != nil:
		return nil, fmt.Errorf("add members: %w", err)
	}
	return added, nil
}

func memberIDs(ms []store.GroupMember) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out
}

// invite records a member's invitations as join requests.
func (s *Service) invite(ctx context.Context, appID string, a Actor, g store.Group, userIDs []string) (Added, error) {
	as := s.store.App(appID)
	var pending, fresh []string
	for _, u := range userIDs {
		if slices.Contains(pending, u) {
			continue
		}
		if _, err := as.GetGroupMember(ctx, g.ID, u); err == nil {
			continue
		}
		if s.newRequest(ctx, appID, g.ID, u) {
			fresh = append(fresh, u)
		}
		err := as.PutJoinRequest(ctx, store.JoinRequest{GroupID: g.ID, UserID: u, InviterID: a.UserID, CreatedAt: s.now()})
		if errors.Is(err, store.ErrNotFound) {
			return Added{}, fail(CodeGroupNotFound, "no group %q in this app", g.ID)
		}
		if err != nil {
			return Added{}, fmt.Errorf("put join request: %w", err)
		}
		pending = append(pending, u)
	}
	if len(pending) > 0 {
		s.changed(ctx, appID, g.ID)
	}
	if len(fresh) > 0 {
		s.notifyAdmins(ctx, appID, g.ID, Notice{Event: NoticeJoinRequested, By: a.UserID, UserIDs: fresh})
	}
	return Added{Pending: pending}, nil
}

// Join adds the actor to a group: at once under the "open" policy, as a
// join request under "approval" (the result's Pending), never under
// "invite".
func (s *Service) Join(ctx context.Context, appID string, a Actor, id, message string) (Added, error) {
	if a.Backend {
		return Added{}, invalid("user_id", "the backend adds members instead")
	}
	if len(message) > MaxRequestBytes || !utf8.ValidString(message) {
		return Added{}, invalid("message", fmt.Sprintf("at most %d bytes of UTF-8", MaxRequestBytes))
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return Added{}, err
	}
	switch g.Policy {
	case store.JoinOpen:
		added, err := s.add(ctx, appID, id, []string{a.UserID})
		if err != nil {
			return Added{}, err
		}
		if len(added) > 0 {
			s.notify(ctx, appID, id, Notice{Event: NoticeJoined, By: a.UserID, UserIDs: []string{a.UserID}})
		}
		return Added{Added: added}, nil
	case store.JoinApproval:
		if _, err := s.store.App(appID).GetGroupMember(ctx, id, a.UserID); err == nil {
			return Added{}, nil
		}
		fresh := s.newRequest(ctx, appID, id, a.UserID)
		err := s.store.App(appID).PutJoinRequest(ctx, store.JoinRequest{GroupID: id, UserID: a.UserID, Message: message, CreatedAt: s.now()})
		if errors.Is(err, store.ErrNotFound) {
			return Added{}, fail(CodeGroupNotFound, "no group %q in this app", id)
		}
		if err != nil {
			return Added{}, fmt.Errorf("put join request: %w", err)
		}
		if fresh {
			s.notifyAdmins(ctx, appID, id, Notice{Event: NoticeJoinRequested, By: a.UserID, UserIDs: []string{a.UserID}, Message: message})
		}
		return Added{Pending: []string{a.UserID}}, nil
	}
	return Added{}, fail(CodeForbidden, "group %q is by invitation only", id)
}

// newRequest reports whether the user has no join request to the group
// yet: a request repeated while it waits notifies the admins only once.
// A request it cannot read counts as new.
func (s *Service) newRequest(ctx context.Context, appID, groupID, userID string) bool {
	_, err := s.store.App(appID).GetJoinRequest(ctx, groupID, userID)
	return err != nil
}

// JoinRequests returns a page of a group's join requests, for the owner,
// admins and the backend, and the user id to continue after.
func (s *Service) JoinRequests(ctx context.Context, appID string, a Actor, id, after string, limit int) ([]store.JoinRequest, string, error) {
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return nil, "", err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || !atLeastAdmin(r) {
		return nil, "", orForbidden(err, "only the owner and admins may see the join requests of group %q", id)
	}
	limit = clampPage(limit)
	rs, err := s.store.App(appID).ListJoinRequests(ctx, id, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list join requests: %w", err)
	}
	next := ""
	if len(rs) > limit {
		rs = rs[:limit]
		next = rs[limit-1].UserID
	}
	return rs, next, nil
}

// Resolve approves (adding the user) or declines a join request: the owner,
// admins and the backend may.
func (s *Service) Resolve(ctx context.Context, appID string, a Actor, id, userID string, approve bool) (Added, error) {
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return Added{}, err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || !atLeastAdmin(r) {
		return Added{}, orForbidden(err, "only the owner and admins may answer join requests of group %q", id)
	}
	as := s.store.App(appID)
	if _, err := as.GetJoinRequest(ctx, id, userID); errors.Is(err, store.ErrNotFound) {
		return Added{}, fail(CodeNotFound, "no join request of %q to group %q", userID, id)
	} else if err != nil {
		return Added{}, fmt.Errorf("get join request: %w", err)
	}
	if !approve {
		if err := as.DeleteJoinRequest(ctx, id, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Added{}, fmt.Errorf("delete join request: %w", err)
		}
		return Added{}, nil
	}
	if err := s.checkUsers(ctx, appID, []string{userID}); err != nil {
		return Added{}, err
	}
	added, err := s.add(ctx, appID, id, []string{userID}) // removes the request
	if err != nil {
		return Added{}, err
	}
	if len(added) > 0 {
		s.notify(ctx, appID, id, Notice{Event: NoticeAdded, By: a.by(), UserIDs: []string{userID}})
	}
	return Added{Added: added}, nil
}

// RemoveMembers removes members: the owner may remove anyone but itself,
// admins plain members, and the backend anyone but the owner.
func (s *Service) RemoveMembers(ctx context.Context, appID string, a Actor, id string, userIDs []string) ([]string, error) {
	if len(userIDs) == 0 {
		return nil, invalid("user_ids", "at least one user")
	}
	if e := validUsers("user_ids", userIDs, MaxBatch); e != nil {
		return nil, e
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return nil, err
	}
	r, err := s.role(ctx, appID, g, a)
	if err != nil || !atLeastAdmin(r) {
		return nil, orForbidden(err, "only the owner and admins may remove members of group %q", id)
	}
	as := s.store.App(appID)
	for _, u := range userIDs {
		if u == g.OwnerID {
			return nil, fail(CodeForbidden, "the owner cannot be removed from group %q; transfer the ownership first", id)
		}
		if r == store.GroupRoleAdmin {
			m, err := as.GetGroupMember(ctx, id, u)
			if err == nil && atLeastAdmin(messaging.EffectiveRole(g, m)) {
				return nil, fail(CodeForbidden, "only the owner may remove an admin of group %q", id)
			}
		}
	}
	removed, err := as.RemoveGroupMembers(ctx, id, userIDs)
	if err != nil {
		return nil, fmt.Errorf("remove members: %w", err)
	}
	if len(removed) > 0 {
		n := Notice{Event: NoticeRemoved, By: a.by(), UserIDs: removed}
		s.notify(ctx, appID, id, n)
		s.notifyUsers(ctx, appID, id, removed, n)
	}
	return removed, nil
}

// Leave takes the actor out of a group. The owner must transfer the
// ownership (or dismiss the group) first.
func (s *Service) Leave(ctx context.Context, appID string, a Actor, id string) error {
	if a.Backend {
		return invalid("user_id", "the backend removes members instead")
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return err
	}
	if g.OwnerID == a.UserID {
		return fail(CodeForbidden, "the owner cannot leave group %q; transfer the ownership or dismiss it", id)
	}
	removed, err := s.store.App(appID).RemoveGroupMembers(ctx, id, []string{a.UserID})
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if len(removed) == 0 {
		return fail(CodeForbidden, "not a member of group %q", id)
	}
	s.notify(ctx, appID, id, Notice{Event: NoticeLeft, By: a.UserID, UserIDs: removed})
	return nil
}

// SetRole makes a member an admin or a plain member: the owner and the
// backend may.
func (s *Service) SetRole(ctx context.Context, appID string, a Actor, id, userID string, role store.GroupRole) (store.GroupMember, error) {
	if role != store.GroupRoleAdmin && role != store.GroupRoleMember {
		return store.GroupMember{}, invalid("role", `"admin" or "member"; the ownership moves with a transfer`)
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return store.GroupMember{}, err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || r != store.GroupRoleOwner {
		return store.GroupMember{}, orForbidden(err, "only the owner may change roles in group %q", id)
	}
	if userID == g.OwnerID {
		return store.GroupMember{}, fail(CodeForbidden, "the owner's role moves with a transfer")
	}
	m, err := s.updateMember(ctx, appID, id, userID, func(m *store.GroupMember) { m.Role = role })
	if err != nil {
		return store.GroupMember{}, err
	}
	s.notify(ctx, appID, id, Notice{Event: NoticeRole, By: a.by(), UserIDs: []string{userID}, Role: string(role)})
	return m, nil
}

func (s *Service) updateMember(ctx context.Context, appID, id, userID string, change func(*store.GroupMember)) (store.GroupMember, error) {
	as := s.store.App(appID)
	m, err := as.GetGroupMember(ctx, id, userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.GroupMember{}, fail(CodeNotFound, "%q is not a member of group %q", userID, id)
	}
	if err != nil {
		return store.GroupMember{}, fmt.Errorf("get member: %w", err)
	}
	change(&m)
	if err := as.UpdateGroupMember(ctx, id, m); errors.Is(err, store.ErrNotFound) {
		return store.GroupMember{}, fail(CodeNotFound, "%q is not a member of group %q", userID, id)
	} else if err != nil {
		return store.GroupMember{}, fmt.Errorf("update member: %w", err)
	}
	return m, nil
}

// Transfer makes another member the owner; the former owner stays as an
// admin. The owner and the backend may.
func (s *Service) Transfer(ctx context.Context, appID string, a Actor, id, to string) (store.Group, error) {
	for range 8 {
		g, err := s.group(ctx, appID, id)
		if err != nil {
			return store.Group{}, err
		}
		if r, err := s.role(ctx, appID, g, a); err != nil || r != store.GroupRoleOwner {
			return store.Group{}, orForbidden(err, "only the owner may transfer group %q", id)
		}
		as := s.store.App(appID)
		if _, err := as.GetGroupMember(ctx, id, to); errors.Is(err, store.ErrNotFound) {
			return store.Group{}, fail(CodeNotFound, "%q is not a member of group %q", to, id)
		} else if err != nil {
			return store.Group{}, fmt.Errorf("get member: %w", err)
		}
		if to == g.OwnerID {
			return g, nil
		}
		from := g.OwnerID
		g.OwnerID, g.UpdatedAt = to, s.now()
		// The group record decides ownership: it moves first, then the
		// entries follow (see store.GroupRole).
		if err := as.UpdateGroup(ctx, g); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return store.Group{}, fmt.Errorf("transfer: %w", err)
		}
		g.Version++
		if _, err := s.updateMember(ctx, appID, id, to, func(m *store.GroupMember) { m.Role = store.GroupRoleOwner }); err != nil {
			s.log.WarnContext(ctx, "transfer: new owner's entry", "err", err, "app_id", appID, "group_id", id)
		}
		if _, err := s.updateMember(ctx, appID, id, from, func(m *store.GroupMember) { m.Role = store.GroupRoleAdmin }); err != nil {
			var ge *Error
			if !errors.As(err, &ge) { // a former owner who is gone has no entry to update
				s.log.WarnContext(ctx, "transfer: former owner's entry", "err", err, "app_id", appID, "group_id", id)
			}
		}
		s.notify(ctx, appID, id, Notice{Event: NoticeTransferred, By: a.by(), UserIDs: []string{to}})
		return g, nil
	}
	return store.Group{}, fmt.Errorf("transfer group %s: too many concurrent updates", id)
}

// MaxMute is the longest mute of a member.
const MaxMute = 366 * 24 * time.Hour

// Mute keeps a member from sending for d (0 unmutes): the owner may mute
// anyone but itself, admins plain members, the backend anyone but the
// owner.
func (s *Service) Mute(ctx context.Context, appID string, a Actor, id, userID string, d time.Duration) (store.GroupMember, error) {
	if d < 0 || d > MaxMute {
		return store.GroupMember{}, invalid("duration_seconds", "0 (unmute) to 366 days")
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return store.GroupMember{}, err
	}
	r, err := s.role(ctx, appID, g, a)
	if err != nil || !atLeastAdmin(r) {
		return store.GroupMember{}, orForbidden(err, "only the owner and admins may mute members of group %q", id)
	}
	if userID == g.OwnerID {
		return store.GroupMember{}, fail(CodeForbidden, "the owner of group %q cannot be muted", id)
	}
	var until time.Time
	if d > 0 {
		until = s.now().Add(d)
	}
	m, err := s.updateMember(ctx, appID, id, userID, func(m *store.GroupMember) {
		if r == store.GroupRoleAdmin && atLeastAdmin(messaging.EffectiveRole(g, *m)) {
			return
		}
		m.MutedUntil = until
	})
	if err != nil {
		return store.GroupMember{}, err
	}
	if !m.MutedUntil.Equal(until) {
		return store.GroupMember{}, fail(CodeForbidden, "only the owner may mute an admin of group %q", id)
	}
	s.notify(ctx, appID, id, Notice{Event: NoticeMuted, By: a.by(), UserIDs: []string{userID}, MutedUntilMS: msOrZero(until)})
	m.Role = messaging.EffectiveRole(g, m)
	return m, nil
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Reads is how many members read a group message.
type Reads struct {
	Seq  int64
	Read int
	// Of is how many members could have read it (those who joined before
	// it was sent).
	Of int
}

// ReadCounts returns, for each seq, how many members read it: for members
// and the backend.
func (s *Service) ReadCounts(ctx context.Context, appID string, a Actor, id string, seqs []int64) ([]Reads, error) {
	if len(seqs) == 0 || len(seqs) > 100 {
		return nil, invalid("seqs", "1-100 seqs")
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return nil, err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || r == "" {
		return nil, orForbidden(err, "not a member of group %q", id)
	}
	out := make([]Reads, len(seqs))
	for i, seq := range seqs {
		if seq < 1 {
			return nil, invalid(fmt.Sprintf("seqs[%d]", i), "seqs start at 1")
		}
		read, of, err := s.store.App(appID).CountGroupReaders(ctx, id, seq)
		if err != nil {
			return nil, fmt.Errorf("count readers: %w", err)
		}
		out[i] = Reads{Seq: seq, Read: read, Of: of}
	}
	return out, nil
}

// Readers returns a page of the members who read a message (read) or did
// not, by user id, for members and the backend, in groups of at most
// Config.MaxReaderList members.
func (s *Service) Readers(ctx context.Context, appID string, a Actor, id string, seq int64, read bool, after string, limit int) ([]string, string, error) {
	if seq < 1 {
		return nil, "", invalid("seq", "seqs start at 1")
	}
	g, err := s.group(ctx, appID, id)
	if err != nil {
		return nil, "", err
	}
	if r, err := s.role(ctx, appID, g, a); err != nil || r == "" {
		return nil, "", orForbidden(err, "not a member of group %q", id)
	}
	if g.MemberCount > s.cfg.MaxReaderList {
		return nil, "", fail(CodeForbidden, "group %q has %d members; readers are listed for groups of up to %d (read counts are for every group)",
			id, g.MemberCount, s.cfg.MaxReaderList)
	}
	limit = clampPage(limit)
	ms, err := s.store.App(appID).ListGroupReaders(ctx, id, seq, read, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list readers: %w", err)
	}
	next := ""
	if len(ms) > limit {
		ms = ms[:limit]
		next = ms[limit-1].UserID
	}
	return memberIDs(ms), next, nil
}
