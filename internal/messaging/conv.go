package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/magpie-im/magpie/internal/store"
)

// Conversation id forms. User ids never contain ':' (see token.ValidUserID),
// so the forms cannot be confused. An id names a conversation; who belongs
// to it is data in the store (Conversation.Members), never read from the
// id: the same path serves conversations whose id says nothing of their
// members.
const (
	p2pPrefix    = "p:" // p:<lower user id>:<higher user id>
	systemPrefix = "s:" // s:<user id>: system notices to one user
)

// P2PConvID returns the id of the one-to-one conversation of two users. It
// is the same whichever user is a.
func P2PConvID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return p2pPrefix + a + ":" + b
}

// SystemConvID returns the id of the conversation in which a user receives
// system messages.
func SystemConvID(user string) string { return systemPrefix + user }

// ValidConvID reports whether id is well formed: a canonical one-to-one id,
// a system conversation id or a group's. It says nothing of the conversation's
// existence or members.
func ValidConvID(id string) bool {
	switch {
	case strings.HasPrefix(id, p2pPrefix):
		a, b, ok := strings.Cut(id[len(p2pPrefix):], ":")
		return ok && validUserID(a) && validUserID(b) && a <= b
	case strings.HasPrefix(id, systemPrefix):
		return validUserID(id[len(systemPrefix):])
	}
	_, ok := GroupOf(id)
	return ok
}

// newMembers returns the sorted members of a conversation that a message
// creates: the sender and the recipient of a one-to-one message, the
// recipient alone of a system message (empty sender).
func newMembers(sender, recipient string) []string {
	ms := []string{recipient}
	if sender != "" {
		ms = append(ms, sender)
	}
	slices.Sort(ms)
	return slices.Compact(ms)
}

// others returns the members other than user.
func others(members []string, user string) []string {
	out := make([]string, 0, len(members))
	for _, m := range members {
		if m != user {
			out = append(out, m)
		}
	}
	return out
}

// memberCache remembers the member lists of conversations, read from the
// store, so that acks and read receipts do not read them every time.
// One-to-one and system conversations never change their members; the
// conversations that will (groups) must drop their entry on every change.
// It holds at most max conversations and starts over when full.
type memberCache struct {
	max int

	mu sync.Mutex // guards m
	m  map[convKey][]string
}

type convKey struct{ app, conv string }

func newMemberCache(max int) *memberCache {
	return &memberCache{max: max, m: make(map[convKey][]string)}
}

// members returns a conversation's members, from the cache or st;
// store.ErrNotFound if it does not exist.
func (c *memberCache) members(ctx context.Context, st store.Store, app, conv string) ([]string, error) {
	k := convKey{app, conv}
	c.mu.Lock()
	ms, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return ms, nil
	}
	cv, err := st.App(app).GetConversation(ctx, conv)
	if err != nil {
		return nil, fmt.Errorf("get members of %s: %w", conv, err)
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = cv.Members
	c.mu.Unlock()
	return cv.Members, nil
}

// memberOf returns the members of a conversation the user belongs to, or a
// forbidden error (also when the conversation does not exist or its id is
// malformed: a user learns nothing of conversations it is not in).
func (s *Service) memberOf(ctx context.Context, appID, userID, convID string) ([]string, error) {
	if !ValidConvID(convID) {
		return nil, errorf("forbidden", "not a member of conversation %q", convID)
	}
	ms, err := s.members(ctx, appID, convID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !isMember(ms, userID)) {
		return nil, errorf("forbidden", "not a member of conversation %q", convID)
	}
	return ms, err
}

// members returns a conversation's members (a group's from the group
// cache); store.ErrNotFound if it does not exist.
func (s *Service) members(ctx context.Context, appID, convID string) ([]string, error) {
	if id, ok := GroupOf(convID); ok {
		e, err := s.groups.get(ctx, s.store, appID, id)
		if err != nil {
			return nil, err
		}
		return e.ids, nil
	}
	return s.convs.members(ctx, s.store, appID, convID)
}

// isMember reports whether user is in the sorted member list.
func isMember(members []string, user string) bool {
	_, ok := slices.BinarySearch(members, user)
	return ok
}

// ValidUserID reports whether id may name a user: 1-64 letters, digits,
// '_', '.', '@' or '-' (not "." or "..").
func ValidUserID(id string) bool { return validUserID(id) }

func validUserID(id string) bool {
	if id == "" || len(id) > 64 || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '@' || c == '-') {
			return false
		}
	}
	return true
}
