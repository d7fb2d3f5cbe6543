package messaging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// Error codes of rich messaging.
const (
	// CodeRecallWindowPassed: the sender's recall window is over.
	CodeRecallWindowPassed = "recall_window_passed"
	// CodeEditWindowPassed: the sender's edit window is over.
	CodeEditWindowPassed = "edit_window_passed"
	// CodeMessageRecalled: the message is recalled; it cannot be edited or
	// reacted to.
	CodeMessageRecalled = "message_recalled"
	// CodeTooManyReactions: the message already has MaxReactionEmoji
	// distinct emoji.
	CodeTooManyReactions = "too_many_reactions"
)

// Reaction limits.
const (
	// MaxReactionEmoji is the number of distinct emoji a message may carry.
	MaxReactionEmoji = 20
	// MaxEmojiBytes bounds an emoji's length.
	MaxEmojiBytes = 32
	// MaxReactionSeqs bounds the messages of one Reactions query.
	MaxReactionSeqs = 100
)

// ReactionUpdate is a message's new count for one emoji after a member
// added or removed it.
type ReactionUpdate struct {
	ConvID string
	Seq    int64
	Emoji  string
	Count  int64
	UserID string // who acted
	Added  bool
	At     time.Time
}

// ReactionRouter is a Router that can push reaction updates; a Router
// without it pushes none (members see the counts at their next query).
type ReactionRouter interface {
	// PushReaction queues u for every online device of the users, the
	// session named by except excepted, without blocking.
	PushReaction(appID string, users []string, except string, u ReactionUpdate)
}

// EditEvents is implemented by PostEvents that want edits too
// (message.edited webhooks).
type EditEvents interface {
	MessageEdited(appID string, m store.Message, members []string)
}

// ownMessage returns a message of a conversation the user is a member
// of, and the members; forbidden unless the user sent it.
func (s *Service) ownMessage(ctx context.Context, appID, userID, convID string, seq int64) (store.Message, []string, error) {
	members, err := s.memberOf(ctx, appID, userID, convID)
	if err != nil {
		return store.Message{}, nil, err
	}
	if seq < 1 {
		return store.Message{}, nil, errorf("invalid_argument", "seq must be positive")
	}
	m, err := s.store.App(appID).GetMessage(ctx, convID, seq)
	if errors.Is(err, store.ErrNotFound) {
		return store.Message{}, nil, errorf("message_not_found", "no message %d in %q", seq, convID)
	}
	if err != nil {
		return store.Message{}, nil, fmt.Errorf("get message: %w", err)
	}
	if m.SenderID != userID {
		return store.Message{}, nil, errorf("forbidden", "only the sender may change message %d", seq)
	}
	return m, members, nil
}

// RecallOwn recalls a message for its sender, within window of its
// sending (zero: senders may not recall), and pushes the recalled message
// to every member. A message recalled already is returned as it is.
func (s *Service) RecallOwn(ctx context.Context, appID, userID, convID string, seq int64, window time.Duration) (store.Message, error) {
	m, _, err := s.ownMessage(ctx, appID, userID, convID, seq)
	if err != nil {
		return store.Message{}, err
	}
	if !m.RecalledAt.IsZero() {
		return m, nil
	}
	if window <= 0 {
		return store.Message{}, errorf("forbidden", "this app does not let senders recall their messages")
	}
	if s.now().Sub(m.CreatedAt) > window {
		return store.Message{}, errorf(CodeRecallWindowPassed, "messages may be recalled within %s of sending", window)
	}
	return s.Recall(ctx, appID, convID, seq)
}

// EditRequest is an edit of a message by its sender.
type EditRequest struct {
	AppID, UserID, ConvID string
	Seq                   int64
	Content               string
	// MaxBytes is the app's content size limit.
	MaxBytes int
	// Window is how long after sending the sender may edit; zero: never.
	Window time.Duration
}

// Edit replaces the content of a text or custom message for its sender,
// within the window, after the app's keyword rules (the pre-send webhook
// is not asked about edits), and pushes the new version to every member.
func (s *Service) Edit(ctx context.Context, req EditRequest) (store.Message, error) {
	m, members, err := s.ownMessage(ctx, req.AppID, req.UserID, req.ConvID, req.Seq)
	if err != nil {
		return store.Message{}, err
	}
	switch {
	case !m.RecalledAt.IsZero():
		return store.Message{}, errorf(CodeMessageRecalled, "message %d is recalled", req.Seq)
	case m.Type != TypeText && m.Type != TypeCustom:
		return store.Message{}, errorf("invalid_message", "only text and custom messages can be edited, not %s", m.Type)
	case req.Window <= 0:
		return store.Message{}, errorf("forbidden", "this app does not let senders edit their messages")
	case s.now().Sub(m.CreatedAt) > req.Window:
		return store.Message{}, errorf(CodeEditWindowPassed, "messages may be edited within %s of sending", req.Window)
	}
	if e := validContent(m.Type, req.Content, req.MaxBytes); e != nil {
		return store.Message{}, e
	}
	content, err := s.moderateEdit(ctx, req, m, members)
	if err != nil {
		return store.Message{}, err
	}
	m, err = s.store.App(req.AppID).EditMessage(ctx, req.ConvID, req.Seq, []byte(content), s.now())
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Message{}, errorf(CodeMessageRecalled, "message %d is recalled", req.Seq)
	case errors.Is(err, store.ErrNotFound):
		return store.Message{}, errorf("message_not_found", "no message %d in %q", req.Seq, req.ConvID)
	case err != nil:
		return store.Message{}, fmt.Errorf("edit: %w", err)
	}
	if ev, ok := s.cfg.Events.(EditEvents); ok {
		ev.MessageEdited(req.AppID, m, members)
	}
	ds := make([]Delivery, len(members))
	for i, u := range members {
		ds[i] = Delivery{AppID: req.AppID, UserID: u, Msg: &m}
	}
	s.router.Deliver(ds)
	return m, nil
}

// moderateEdit runs the app's keyword rules on an edit's content and
// returns the content to store: a rejection (or a drop) refuses the edit
// with message_rejected; a replacement is checked like the original.
func (s *Service) moderateEdit(ctx context.Context, req EditRequest, m store.Message, members []string) (string, error) {
	if s.cfg.Moderator == nil {
		return req.Content, nil
	}
	pol, err := s.cfg.Moderator.Policy(ctx, req.AppID, false)
	if err != nil {
		return "", fmt.Errorf("moderation policy: %w", err)
	}
	if pol == nil {
		return req.Content, nil
	}
	to := ""
	gid, group := GroupOf(req.ConvID)
	if peers := others(members, req.UserID); !group && len(peers) == 1 {
		to = peers[0]
	}
	v := pol.Filter(Candidate{AppID: req.AppID, SenderID: req.UserID, ToUserID: to, ToGroupID: gid, ConvID: req.ConvID,
		ClientMsgID: m.ClientMsgID, Type: m.Type, Content: req.Content})
	switch v.Action {
	case Reject:
		return "", verdictError(v)
	case Drop:
		return "", verdictError(Verdict{Code: v.Code, Message: "the edit was refused by moderation"})
	case Modify:
		if e := validContent(m.Type, v.Content, req.MaxBytes); e != nil {
			return "", &Error{Code: CodeMessageRejected, Message: "moderation replaced the content with an invalid one: " + e.Message,
				Reason: ReasonModerationInvalid}
		}
		return v.Content, nil
	}
	return req.Content, nil
}

// ValidEmoji reports whether e may be a reaction: 1 to MaxEmojiBytes bytes
// of UTF-8 without whitespace or control characters.
func ValidEmoji(e string) bool {
	if e == "" || len(e) > MaxEmojiBytes || !utf8.ValidString(e) {
		return false
	}
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// React adds (or, with add false, removes) the user's emoji on a message
// of a conversation it is a member of, and pushes the emoji's new count to
// the members' online devices (the acting session excepted) when
// something changed. Adding an emoji twice, or removing one the user did
// not put, changes nothing and is not an error.
func (s *Service) React(ctx context.Context, appID, userID, session, convID string, seq int64, emoji string, add bool) (ReactionUpdate, error) {
	members, err := s.memberOf(ctx, appID, userID, convID)
	if err != nil {
		return ReactionUpdate{}, err
	}
	if seq < 1 {
		return ReactionUpdate{}, errorf("invalid_argument", "seq must be positive")
	}
	if !ValidEmoji(emoji) {
		return ReactionUpdate{}, errorf("invalid_argument", "emoji must be 1-%d bytes of UTF-8 without whitespace", MaxEmojiBytes)
	}
	as := s.store.App(appID)
	u := ReactionUpdate{ConvID: convID, Seq: seq, Emoji: emoji, UserID: userID, Added: add, At: s.now()}
	changed := false
	if add {
		m, err := as.GetMessage(ctx, convID, seq)
		if errors.Is(err, store.ErrNotFound) {
			return ReactionUpdate{}, errorf("message_not_found", "no message %d in %q", seq, convID)
		}
		if err != nil {
			return ReactionUpdate{}, fmt.Errorf("get message: %w", err)
		}
		if !m.RecalledAt.IsZero() {
			return ReactionUpdate{}, errorf(CodeMessageRecalled, "message %d is recalled", seq)
		}
		changed, err = as.AddReaction(ctx, store.Reaction{ConvID: convID, Seq: seq, Emoji: emoji, UserID: userID, CreatedAt: u.At}, MaxReactionEmoji)
		switch {
		case errors.Is(err, store.ErrLimit):
			return ReactionUpdate{}, errorf(CodeTooManyReactions, "a message carries at most %d distinct emoji", MaxReactionEmoji)
		case errors.Is(err, store.ErrNotFound):
			return ReactionUpdate{}, errorf("message_not_found", "no message %d in %q", seq, convID)
		case err != nil:
			return ReactionUpdate{}, fmt.Errorf("add reaction: %w", err)
		}
	} else {
		if changed, err = as.RemoveReaction(ctx, convID, seq, emoji, userID); err != nil {
			return ReactionUpdate{}, fmt.Errorf("remove reaction: %w", err)
		}
	}
	rs, err := as.ListReactions(ctx, convID, []int64{seq})
	if err != nil {
		return ReactionUpdate{}, fmt.Errorf("count reactions: %w", err)
	}
	for _, r := range rs {
		if r.Emoji == emoji {
			u.Count++
		}
	}
	if rr, ok := s.router.(ReactionRouter); ok && changed {
		rr.PushReaction(appID, members, session, u)
	}
	return u, nil
}

// ReactionCount is one emoji's count on a message.
type ReactionCount struct {
	Emoji   string
	Count   int64
	Reacted bool // the asking user is among them
}

// MessageReactions are the reactions of one message.
type MessageReactions struct {
	Seq       int64
	Reactions []ReactionCount // in the order the emoji were first put
}

// Reactions returns the reactions of messages of a conversation the user is
// a member of (userID empty: the server API, no membership check), in the
// order of seqs, leaving out messages without reactions.
func (s *Service) Reactions(ctx context.Context, appID, userID, convID string, seqs []int64) ([]MessageReactions, error) {
	if userID != "" {
		if _, err := s.memberOf(ctx, appID, userID, convID); err != nil {
			return nil, err
		}
	} else if !ValidConvID(convID) {
		return nil, errorf("invalid_argument", "conv_id %q is not a conversation id", convID)
	}
	if len(seqs) == 0 || len(seqs) > MaxReactionSeqs {
		return nil, errorf("invalid_argument", "ask for 1 to %d seqs", MaxReactionSeqs)
	}
	for _, q := range seqs {
		if q < 1 {
			return nil, errorf("invalid_argument", "seqs must be positive")
		}
	}
	uniq := slices.Clone(seqs)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	rs, err := s.store.App(appID).ListReactions(ctx, convID, uniq)
	if err != nil {
		return nil, fmt.Errorf("list reactions: %w", err)
	}
	type agg struct {
		ReactionCount
		first time.Time
	}
	bySeq := map[int64][]*agg{}
	for _, r := range rs {
		list := bySeq[r.Seq]
		var a *agg
		if n := len(list); n > 0 && list[n-1].Emoji == r.Emoji {
			a = list[n-1]
		} else {
			a = &agg{ReactionCount: ReactionCount{Emoji: r.Emoji}, first: r.CreatedAt}
			bySeq[r.Seq] = append(list, a)
		}
		a.Count++
		a.Reacted = a.Reacted || (userID != "" && r.UserID == userID)
		if r.CreatedAt.Before(a.first) {
			a.first = r.CreatedAt
		}
	}
	var out []MessageReactions
	done := map[int64]bool{}
	for _, q := range seqs {
		list := bySeq[q]
		if len(list) == 0 || done[q] {
			continue
		}
		done[q] = true
		slices.SortStableFunc(list, func(a, b *agg) int { return a.first.Compare(b.first) })
		mr := MessageReactions{Seq: q}
		for _, a := range list {
			mr.Reactions = append(mr.Reactions, a.ReactionCount)
		}
		out = append(out, mr)
	}
	return out, nil
}

// MessageReactions returns the reactions of one message, for the server
// API (no membership check): message_not_found if the app has no such
// message.
func (s *Service) MessageReactions(ctx context.Context, appID, convID string, seq int64) ([]ReactionCount, error) {
	if !ValidConvID(convID) || seq < 1 {
		return nil, errorf("invalid_argument", "bad conversation id or seq")
	}
	if _, err := s.store.App(appID).GetMessage(ctx, convID, seq); errors.Is(err, store.ErrNotFound) {
		return nil, errorf("message_not_found", "no message %d in %q", seq, convID)
	} else if err != nil {
		return nil, fmt.Errorf("get message: %w", err)
	}
	mrs, err := s.Reactions(ctx, appID, "", convID, []int64{seq})
	if err != nil || len(mrs) == 0 {
		return nil, err
	}
	return mrs[0].Reactions, nil
}
