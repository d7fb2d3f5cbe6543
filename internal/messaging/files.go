package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/magpie-im/magpie/internal/store"
)

// CanShare reports whether a user may share files to a conversation and
// read the files shared to it (package files): the user is a member, or
// the conversation is a one-to-one conversation of the user with another
// existing user that no message has started yet (a chat may begin with a
// photo). Group membership comes from the group cache, which every change
// of a group drops on every node, so a removed member is refused at once.
func (s *Service) CanShare(ctx context.Context, appID, userID, convID string) (bool, error) {
	_, err := s.memberOf(ctx, appID, userID, convID)
	var me *Error
	switch {
	case err == nil:
		return true, nil
	case !errors.As(err, &me):
		return false, err
	}
	a, b, ok := p2pUsers(convID)
	if !ok || (userID != a && userID != b) {
		return false, nil
	}
	if _, err := s.store.App(appID).GetConversation(ctx, convID); !errors.Is(err, store.ErrNotFound) {
		// It exists (and memberOf said no) or cannot be read.
		return false, err
	}
	peer := a
	if userID == a {
		peer = b
	}
	for _, u := range []string{userID, peer} {
		ok, err := s.users.exists(ctx, s.store, appID, u, s.cfg.Now())
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// p2pUsers returns the two users of a one-to-one conversation id.
func p2pUsers(convID string) (string, string, bool) {
	rest, ok := strings.CutPrefix(convID, p2pPrefix)
	if !ok || !ValidConvID(convID) {
		return "", "", false
	}
	a, b, _ := strings.Cut(rest, ":")
	return a, b, true
}

// fileRefFields are the fields of typed contents that may reference an
// uploaded file.
var fileRefFields = []string{"url", "thumbnail_url"}

// FileRefs returns the ids of the uploaded files a typed content references
// ("magpie-file:<id>" in its url or thumbnail_url), in field order; nil
// for other types and contents without references.
func FileRefs(typ, content string) []string {
	if !IsTypedContent(typ) {
		return nil
	}
	var f map[string]json.RawMessage
	if json.Unmarshal([]byte(content), &f) != nil {
		return nil
	}
	var out []string
	for _, name := range fileRefFields {
		var v string
		if raw, ok := f[name]; !ok || json.Unmarshal(raw, &v) != nil {
			continue
		}
		if len(v) > len(FileRefScheme) && strings.EqualFold(v[:len(FileRefScheme)], FileRefScheme) {
			out = append(out, v[len(FileRefScheme):])
		}
	}
	return out
}

// checkFileRefs checks that the files a typed message references were
// uploaded to the app and shared to the message's conversation: a file of
// another conversation (or another app) cannot be slipped into this one.
func (s *Service) checkFileRefs(ctx context.Context, appID, convID, typ, content string) error {
	for _, id := range FileRefs(typ, content) {
		f, err := s.store.App(appID).GetFile(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errorf("invalid_message", "%s content: no uploaded file %q in this app", typ, id)
		case err != nil:
			return fmt.Errorf("get file %s: %w", id, err)
		case f.ConvID != convID:
			return errorf("invalid_message", "%s content: file %q was shared to another conversation; upload it to this one", typ, id)
		}
	}
	return nil
}
