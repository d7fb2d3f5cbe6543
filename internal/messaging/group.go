package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// GroupConvID returns the id of a group's conversation.
func GroupConvID(groupID string) string { return store.GroupConvID(groupID) }

// GroupOf returns the id of the group whose conversation convID is, and
// whether it is one.
func GroupOf(convID string) (string, bool) {
	id, ok := strings.CutPrefix(convID, store.GroupConvPrefix)
	return id, ok && ValidGroupID(id)
}

// ValidGroupID reports whether id may name a group: 1-64 characters of
// the user id alphabet (letters, digits, '_', '.', '@', '-').
func ValidGroupID(id string) bool { return validUserID(id) }

// EffectiveRole is a member's role, the group record deciding who owns it.
func EffectiveRole(g store.Group, m store.GroupMember) store.GroupRole {
	switch {
	case m.UserID == g.OwnerID:
		return store.GroupRoleOwner
	case m.Role == store.GroupRoleOwner || m.Role == store.GroupRoleAdmin:
		// A former owner whose entry was not updated yet ranks as an admin.
		return store.GroupRoleAdmin
	}
	return store.GroupRoleMember
}

// groupEntry is what the messaging core keeps of a group: the group and
// its members, by id.
type groupEntry struct {
	group   store.Group
	ids     []string // sorted
	members map[string]store.GroupMember
}

// groupCache remembers groups and their members, read from the store, so
// that sends, acks and fan-out do not read them every time. Every change of
// a group drops its entry (Service.GroupChanged, on every node). A load
// that raced with a drop is not kept. It holds at most maxMembers members
// in all and starts over when full.
type groupCache struct {
	maxMembers int

	mu     sync.Mutex // guards the fields below
	m      map[convKey]*groupEntry
	size   int    // members held
	epoch  uint64 // counts drops: a load is kept only if none happened since it began
	loader map[convKey]*groupLoad
}

// groupLoad is a load in progress, shared by those who wait for it.
type groupLoad struct {
	done  chan struct{}
	entry *groupEntry
	err   error
}

func newGroupCache(maxMembers int) *groupCache {
	return &groupCache{maxMembers: maxMembers, m: make(map[convKey]*groupEntry), loader: make(map[convKey]*groupLoad)}
}

// groupPage is the page size of member loads.
const groupPage = 1000

// get returns a group's entry, from the cache or st; store.ErrNotFound if
// the group does not exist. A dismissed group has no members.
func (c *groupCache) get(ctx context.Context, st store.Store, app, id string) (*groupEntry, error) {
	k := convKey{app, id}
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.mu.Unlock()
		return e, nil
	}
	l, loading := c.loader[k]
	if !loading {
		l = &groupLoad{done: make(chan struct{})}
		c.loader[k] = l
	}
	epoch := c.epoch
	c.mu.Unlock()
	if loading {
		select {
		case <-l.done:
			return l.entry, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.entry, l.err = loadGroup(context.WithoutCancel(ctx), st.App(app), id)
	c.mu.Lock()
	delete(c.loader, k)
	if l.err == nil && c.epoch == epoch {
		if c.size+len(l.entry.ids) > c.maxMembers || len(c.m) >= 1<<16 {
			clear(c.m)
			c.size = 0
		}
		c.m[k] = l.entry
		c.size += len(l.entry.ids)
	}
	c.mu.Unlock()
	close(l.done)
	return l.entry, l.err
}

// loadGroupTimeout bounds one load of a group and its members.
const loadGroupTimeout = 30 * time.Second

func loadGroup(ctx context.Context, as store.AppStore, id string) (*groupEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, loadGroupTimeout)
	defer cancel()
	g, err := as.GetGroup(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get group %s: %w", id, err)
	}
	e := &groupEntry{group: g, members: make(map[string]store.GroupMember)}
	if g.Dismissed() {
		return e, nil
	}
	for after := ""; ; {
		ms, err := as.ListGroupMembers(ctx, id, after, groupPage)
		if err != nil {
			return nil, fmt.Errorf("list members of group %s: %w", id, err)
		}
		for _, m := range ms {
			e.ids = append(e.ids, m.UserID)
			e.members[m.UserID] = m
		}
		if len(ms) < groupPage {
			break
		}
		after = ms[len(ms)-1].UserID
	}
	slices.Sort(e.ids) // the store lists them by id; keep the invariant whatever the collation
	return e, nil
}

// forget drops a group's entry.
func (c *groupCache) forget(app, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if e, ok := c.m[convKey{app, id}]; ok {
		c.size -= len(e.ids)
		delete(c.m, convKey{app, id})
	}
}

// forgetAll drops every entry.
func (c *groupCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.m)
	c.size = 0
}

// GroupChanged tells the service that a group or its members changed, so
// that it reads them again. Every node must be told (cluster mode: a
// control event).
func (s *Service) GroupChanged(appID, groupID string) { s.groups.forget(appID, groupID) }

// ForgetGroups drops every cached group: this node may have missed changes
// made on others (a control-event outage).
func (s *Service) ForgetGroups() { s.groups.forgetAll() }

// Group returns a group and the ids of its members, from the cache.
// store.ErrNotFound (wrapped) if there is no such group.
func (s *Service) Group(ctx context.Context, appID, groupID string) (store.Group, []string, error) {
	e, err := s.groups.get(ctx, s.store, appID, groupID)
	if err != nil {
		return store.Group{}, nil, err
	}
	return e.group, e.ids, nil
}

// groupSend checks that req may be sent to its group and returns the
// group's members, the recipients.
func (s *Service) groupSend(ctx context.Context, req *SendRequest) ([]string, error) {
	if !ValidGroupID(req.ToGroupID) {
		return nil, errorf("invalid_argument", "to_group_id is not a valid group id")
	}
	e, err := s.groups.get(ctx, s.store, req.AppID, req.ToGroupID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.group.Dismissed()) {
		return nil, errorf("group_not_found", "no group %q in this app", req.ToGroupID)
	}
	if err != nil {
		return nil, err
	}
	if req.System {
		return e.ids, nil
	}
	m, ok := e.members[req.SenderID]
	if !ok {
		return nil, errorf("forbidden", "not a member of group %q", req.ToGroupID)
	}
	role := EffectiveRole(e.group, m)
	switch {
	case m.MutedUntil.After(s.cfg.Now()):
		return nil, errorf("member_muted", "muted in group %q until %s", req.ToGroupID, m.MutedUntil.UTC().Format(time.RFC3339))
	case e.group.MuteAll && role == store.GroupRoleMember:
		return nil, errorf("group_muted", "group %q is muted: only its owner and admins may send", req.ToGroupID)
	case req.MentionAll && role == store.GroupRoleMember:
		return nil, errorf("forbidden", "only the owner and admins may mention everyone in group %q", req.ToGroupID)
	}
	return e.ids, nil
}

// MaxMentions bounds the users one message mentions.
const MaxMentions = 100

func validMentions(ids []string) *Error {
	if len(ids) > MaxMentions {
		return errorf("invalid_argument", "at most %d mentions", MaxMentions)
	}
	for _, id := range ids {
		if !validUserID(id) {
			return errorf("invalid_argument", "mention %q is not a valid user id", id)
		}
	}
	return nil
}
