package messaging

import (
	"slices"
	"strings"
)

// Conversation id forms. User ids never contain ':' (see token.ValidUserID),
// so the forms cannot be confused.
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

// Members returns the sorted members of a conversation named by id, or nil
// if the id is not a valid conversation id.
func Members(convID string) []string {
	switch {
	case strings.HasPrefix(convID, p2pPrefix):
		a, b, ok := strings.Cut(convID[len(p2pPrefix):], ":")
		if !ok || !validUserID(a) || !validUserID(b) || b < a {
			return nil
		}
		if a == b {
			return []string{a}
		}
		return []string{a, b}
	case strings.HasPrefix(convID, systemPrefix):
		u := convID[len(systemPrefix):]
		if !validUserID(u) {
			return nil
		}
		return []string{u}
	}
	return nil
}

// IsMember reports whether user belongs to the conversation named by id.
func IsMember(convID, user string) bool { return slices.Contains(Members(convID), user) }

// Peers returns the members of a conversation other than user.
func Peers(convID, user string) []string {
	ms := Members(convID)
	out := ms[:0:0]
	for _, m := range ms {
		if m != user {
			out = append(out, m)
		}
	}
	return out
}

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
