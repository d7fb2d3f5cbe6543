package store

import (
	"context"
	"time"
)

// WebhookStore keeps an app's webhook state: its endpoints (post-event
// endpoints, the pre-send hook, the customer-service routing hook), the
// events delivered to them (kept for replay), the log of delivery attempts
// and the app's keyword rules. It is part of AppStore, so every method is
// scoped to one app.
type WebhookStore interface {
	// CreateWebhook adds an endpoint at Version 1 (whatever w.Version
	// says), with no failures. ErrConflict if the app has an endpoint with
	// this id; ErrLimit if the app already has max endpoints of w.Kind
	// (0: no limit), checked atomically with respect to every other
	// CreateWebhook and DeleteWebhook of the app, in any process.
	CreateWebhook(ctx context.Context, w Webhook, max int) error
	// GetWebhook returns one endpoint, or ErrNotFound.
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// ListWebhooks returns the app's endpoints, by id.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// UpdateWebhook replaces the mutable fields of an endpoint (URL,
	// description, events, enabled, disabled reason, secrets, timeout,
	// fail-open, server API, updated time) if its stored Version is still
	// w.Version, and stores Version+1. Its id, kind, creation time and
	// failure state (Failures, FailingSince) stay, except that enabling a
	// disabled endpoint clears its failure state. ErrConflict if the
	// version changed, ErrNotFound if it does not exist.
	UpdateWebhook(ctx context.Context, w Webhook) error
	// DeleteWebhook removes an endpoint and its delivery attempts;
	// ErrNotFound if it does not exist.
	DeleteWebhook(ctx context.Context, id string) error
	// RecordWebhookResult updates an endpoint's failure state after a
	// delivery attempt, atomically (concurrent results of one endpoint are
	// all counted): a success sets Failures to 0 and FailingSince to zero;
	// a failure adds one to Failures and sets FailingSince to at if it was
	// zero. It leaves Version alone and returns the endpoint as updated.
	// ErrNotFound if it does not exist.
	RecordWebhookResult(ctx context.Context, id string, ok bool, at time.Time) (Webhook, error)

	// PutWebhookEvent stores an event unless the app already holds one
	// with its ID (storing an event twice keeps the first).
	PutWebhookEvent(ctx context.Context, e WebhookEvent) error
	// GetWebhookEvent returns one event, or ErrNotFound.
	GetWebhookEvent(ctx context.Context, id string) (WebhookEvent, error)

	// AddWebhookAttempts records delivery attempts, each unless the app
	// already holds an attempt with its ID. Attempts of an endpoint that
	// does not exist are skipped.
	AddWebhookAttempts(ctx context.Context, as []WebhookAttempt) error
	// ListWebhookAttempts returns up to q.Limit attempts of endpoint
	// q.WebhookID with id < q.Before (empty: no bound), newest first (by
	// id, descending), that match q.
	ListWebhookAttempts(ctx context.Context, q WebhookAttemptQuery) ([]WebhookAttempt, error)

	// GetKeywordRules returns the app's keyword rules; the zero value
	// (Version 0) if it never stored any.
	GetKeywordRules(ctx context.Context) (KeywordRules, error)
	// PutKeywordRules replaces the app's keyword rules if their stored
	// Version is still r.Version (0: none stored yet), and stores
	// Version+1. ErrConflict if the version changed.
	PutKeywordRules(ctx context.Context, r KeywordRules) error
}

// Webhook kinds.
const (
	// WebhookEvents endpoints receive post events (message.created, ...).
	WebhookEvents = "events"
	// WebhookPreSend is the pre-send hook: asked, synchronously, whether
	// each message may be sent.
	WebhookPreSend = "pre_send"
	// WebhookRouting is the customer-service routing hook: asked which
	// agent or queue takes a new service session.
	WebhookRouting = "routing"
)

// Webhook is one endpoint of an app.
type Webhook struct {
	ID string
	// Kind is WebhookEvents, WebhookPreSend or WebhookRouting; it never
	// changes.
	Kind        string
	URL         string
	Description string
	// Events lists the event types delivered to a WebhookEvents endpoint;
	// empty means every type.
	Events []string
	// Enabled endpoints are called; disabled ones are not.
	Enabled bool
	// DisabledReason says why the endpoint was disabled automatically
	// (sustained failure); empty otherwise.
	DisabledReason string
	// Secrets sign the requests, newest first: every unexpired secret
	// signs during a rotation.
	Secrets []WebhookSecret
	// Timeout bounds a synchronous hook's answer (pre_send, routing); zero
	// means the default.
	Timeout time.Duration
	// FailOpen lets messages through when the pre-send hook times out or
	// fails; false rejects them.
	FailOpen bool
	// ServerAPI makes messages sent through the server API pass through
	// the pre-send hook too.
	ServerAPI bool
	// Failures counts the delivery attempts that failed since the last
	// success; FailingSince is the time of the first of them (zero when
	// Failures is 0). RecordWebhookResult maintains them.
	Failures     int
	FailingSince time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
}

// WebhookSecret is one signing secret of an endpoint, sealed with the
// installation master key.
type WebhookSecret struct {
	ID     string
	Sealed []byte
	// Hint is what may be shown of the secret (its last characters).
	Hint      string
	CreatedAt time.Time
	// ExpiresAt is when a rotated-out secret stops signing; zero means it
	// does not expire.
	ExpiresAt time.Time
}

// WebhookEvent is an event as delivered: its id (the webhook-id header),
// type and the exact JSON body, kept so that a delivery can be replayed
// byte for byte.
type WebhookEvent struct {
	ID        string
	Type      string
	Payload   []byte
	CreatedAt time.Time
}

// Outcomes of a webhook delivery attempt.
const (
	AttemptSucceeded = "succeeded" // a 2xx answer
	AttemptFailed    = "failed"    // will be retried
	AttemptDead      = "dead"      // the last attempt failed: dead-lettered
)

// WebhookAttempt is one attempt to deliver one event to one endpoint.
type WebhookAttempt struct {
	// ID is the attempt's key: time-ordered (newer attempts have greater
	// ids) and derived from the delivery and attempt number, so that an
	// attempt logged twice is stored once.
	ID        string
	WebhookID string
	EventID   string
	EventType string
	// Attempt is 1 for the first try of a delivery, then one more each.
	Attempt int
	// Outcome is AttemptSucceeded, AttemptFailed or AttemptDead.
	Outcome string
	// Status is the HTTP status of the answer; 0 when there was none (a
	// connection error, a timeout).
	Status int
	// Error says why the attempt failed; empty on success.
	Error string
	// Response is the beginning of the answer's body (at most 1 KiB).
	Response string
	Latency  time.Duration
	At       time.Time
}

// WebhookAttemptQuery selects delivery attempts.
type WebhookAttemptQuery struct {
	WebhookID string
	// EventID, if set, selects the attempts of one event.
	EventID string
	// Before is the paging cursor: only ids less than it (empty: all).
	Before string
	Limit  int
}

// KeywordRules are an app's built-in moderation rules.
type KeywordRules struct {
	Rules     []KeywordRule
	UpdatedAt time.Time
	Version   int64
}

// KeywordRule is one word or phrase and what happens to messages that
// contain it: "block" refuses them, "mask" replaces it with asterisks.
type KeywordRule struct {
	Word   string
	Action string
}
