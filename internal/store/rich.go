package store

import (
	"context"
	"time"
)

// RichStore keeps what rich messaging adds to messages: edits and
// reactions. It is part of AppStore, so every method is scoped to one app.
type RichStore interface {
	// EditMessage replaces the body of a message that is not recalled and
	// sets its EditedAt; it returns the updated message. ErrNotFound if
	// the message does not exist, ErrConflict if it is recalled.
	EditMessage(ctx context.Context, convID string, seq int64, body []byte, at time.Time) (Message, error)

	// AddReaction records that r.UserID reacted to a message with
	// r.Emoji. It reports false when the user already had this reaction
	// (nothing changes: the first time stays). ErrNotFound if the message
	// does not exist; ErrLimit if the message already has maxEmoji
	// distinct emoji and r.Emoji is not one of them (maxEmoji 0: no
	// limit). Engines without transactions check the limit before the
	// write: concurrent first reactions with different emoji may pass it
	// by a few.
	AddReaction(ctx context.Context, r Reaction, maxEmoji int) (bool, error)
	// RemoveReaction removes a user's reaction and reports whether there
	// was one.
	RemoveReaction(ctx context.Context, convID string, seq int64, emoji, userID string) (bool, error)
	// ListReactions returns the reactions to the given messages of a
	// conversation, by seq, then emoji, then time, then user.
	ListReactions(ctx context.Context, convID string, seqs []int64) ([]Reaction, error)
}

// Reaction is one user's emoji on one message.
type Reaction struct {
	ConvID    string
	Seq       int64
	Emoji     string
	UserID    string
	CreatedAt time.Time
}

// Rich messaging settings of an app (Settings.RecallWindowSeconds and
// Settings.EditWindowSeconds): nil means the default; 0 disables.
const (
	DefaultRecallWindowSeconds = 120
	DefaultEditWindowSeconds   = 900
	MaxRichWindowSeconds       = 86400
)

// RecallWindow is how long after sending a sender may recall its message;
// zero when senders may not.
func (s Settings) RecallWindow() time.Duration {
	return window(s.RecallWindowSeconds, DefaultRecallWindowSeconds)
}

// EditWindow is how long after sending a sender may edit its message; zero
// when senders may not.
func (s Settings) EditWindow() time.Duration {
	return window(s.EditWindowSeconds, DefaultEditWindowSeconds)
}

func window(v *int64, def int64) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(max(*v, 0)) * time.Second
}
