package store

import (
	"context"
	"time"
)

// OutboxStore keeps an app's push outbox: the offline notifications the push
// workers recorded for users who had no online device. Until a push provider
// (APNs, FCM) is configured, the outbox is where a notification ends, and
// what the console shows. It is part of AppStore, so every method is scoped
// to one app.
type OutboxStore interface {
	// AddOutbox records e unless the app already holds an entry with e.ID,
	// and reports whether this call recorded it: adding an id a second
	// time stores nothing and reports false, whatever the other fields
	// say. ErrNotFound if the app has no user e.UserID, checked atomically
	// with respect to DeleteUser (an entry recorded by a call that returns
	// true is removed by a deletion of its user that runs at the same time
	// or later).
	AddOutbox(ctx context.Context, e OutboxEntry) (bool, error)
	// ListOutbox returns up to limit entries with id > after, by id, of
	// the user userID, or of every user when userID is empty. Ids are the
	// push jobs' (hashes), so the order is stable but says nothing of time.
	ListOutbox(ctx context.Context, userID, after string, limit int) ([]OutboxEntry, error)
}

// OutboxEntry is one offline notification in an app's push outbox: a message
// of conversation ConvID at Seq that user UserID was told about.
type OutboxEntry struct {
	// ID is the push job's id, derived from the app, user, conversation and
	// seq: the entry's key, so that a job handled twice is recorded once.
	ID       string
	UserID   string
	ConvID   string
	Seq      int64
	SenderID string // empty for system messages
	Type     string // the message type
	// Preview is the start of the message's text (at most 100 runes), or
	// empty when the message has none to show.
	Preview string
	// Badge is the badge the notification carries: the user's unread
	// count.
	Badge int
	// Payload is the rendered notification, JSON, as it would have been
	// sent; nil for entries recorded before it existed.
	Payload []byte
	// CreatedAt is the message's creation time; DeleteOutboxBefore expires
	// entries by it.
	CreatedAt time.Time
}
