// Package store defines Magpie's persistence contract: the Store interface that
// every storage engine implements (SQLite in embedded mode, MongoDB in cluster
// mode), the records it keeps, and the errors it returns.
//
// Tenancy is structural. Operator-level records (tenants, console members,
// apps and their secrets) are reached through Store; everything that belongs
// to an app (users, idempotency records, conversations, messages, cursors,
// the push outbox, push devices, credentials, log and preferences, webhook
// endpoints, events and delivery attempts, keyword rules, customer-service
// agents and support sessions, the metadata of uploaded files) is reached
// only through the app-scoped handle returned by Store.App, and every key
// an implementation writes for such data starts with the app id. Code that
// holds the handle for app A cannot name data of app B.
//
// Implementations translate their driver errors into ErrNotFound, ErrConflict
// and plain wrapped errors, so no driver type leaks out of their package. The
// conformance suite in package storetest is the executable form of this
// contract; every implementation runs it.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every implementation. Callers test them with errors.Is.
var (
	// ErrNotFound means the addressed record does not exist (in this app).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a record with the same unique key already exists,
	// or a conditional write found the record changed since it was read.
	ErrConflict = errors.New("store: already exists")
	// ErrLimit means the write would break a limit the store keeps (an
	// app's number of active secrets).
	ErrLimit = errors.New("store: limit reached")
)

// Store is the operator-level persistence contract. Implementations are safe
// for concurrent use.
type Store interface {
	// Ping reports whether the underlying engine is reachable.
	Ping(ctx context.Context) error
	// Close releases the engine's resources.
	Close() error

	// GetMeta returns the value stored under key by PutMeta, or ErrNotFound.
	// Meta holds installation-wide state such as the bootstrap marker.
	GetMeta(ctx context.Context, key string) (string, error)
	// PutMeta stores value under key, replacing any earlier value.
	PutMeta(ctx context.Context, key, value string) error

	CreateTenant(ctx context.Context, t Tenant) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants returns up to limit tenants with id > after, by id.
	ListTenants(ctx context.Context, after string, limit int) ([]Tenant, error)

	// CreateMember adds a console member at Version 1 (whatever m.Version
	// says); ErrConflict if the id is taken or
	// the member's tenant already has a member with this email. Emails are
	// unique per tenant (operators, whose TenantID is empty, count as one
	// tenant), not across the installation: one person may have accounts in
	// several tenants.
	CreateMember(ctx context.Context, m Member) error
	GetMember(ctx context.Context, id string) (Member, error)
	// ListMembersByEmail returns up to limit members with this lower-cased
	// email, in every tenant and among the operators, by id.
	ListMembersByEmail(ctx context.Context, email string, limit int) ([]Member, error)
	// ListMembers returns the members of a tenant, by id.
	ListMembers(ctx context.Context, tenantID string) ([]Member, error)
	// UpdateMember replaces the mutable fields of a member (name, role,
	// password hash) if its stored Version is still m.Version, and stores
	// Version+1: a conditional write, safe across processes. Its id,
	// tenant, email and creation time stay. ErrConflict if the version
	// changed, ErrNotFound if it does not exist, ErrLimit if it would take
	// the owner role from the tenant's last owner (a tenant always keeps
	// one), checked atomically with the write.
	UpdateMember(ctx context.Context, m Member) error
	// DeleteMember removes a member and every session of it: once it
	// returns, none of them is found. ErrNotFound if the member does not
	// exist, ErrLimit if it is its tenant's last owner (checked atomically
	// with the deletion).
	DeleteMember(ctx context.Context, id string) error
	// DeleteMemberSessions removes every session of a member except the one
	// whose token hash is exceptTokenHash (empty: except none), and returns
	// how many it removed. A member without sessions, or no such member, is
	// not an error.
	DeleteMemberSessions(ctx context.Context, memberID, exceptTokenHash string) (int64, error)

	// CreateSession stores a console session keyed by the hash of its token.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with this token hash, or ErrNotFound
	// when it does not exist or has expired at now.
	GetSession(ctx context.Context, tokenHash string, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error

	// CreateApp adds an app at Version 1 (whatever a.Version says);
	// ErrConflict if the id or key is taken.
	CreateApp(ctx context.Context, a App) error
	GetApp(ctx context.Context, id string) (App, error)
	GetAppByKey(ctx context.Context, key string) (App, error)
	// ListApps returns up to limit apps of a tenant with id > after, by id.
	ListApps(ctx context.Context, tenantID, after string, limit int) ([]App, error)
	// UpdateApp replaces the mutable fields of an app (name, disabled,
	// limits, settings, updated time) if its stored Version is still
	// a.Version, and stores Version+1: a conditional write, so that two
	// processes' read-modify-writes cannot lose each other's change.
	// ErrConflict if the version changed since a was read, ErrNotFound if
	// the app does not exist.
	UpdateApp(ctx context.Context, a App) error

	// AddSecret adds a secret to an app unless the app already has
	// maxActive active secrets (ErrLimit; maxActive 0 means no limit),
	// atomically with respect to every other AddSecret and RevokeSecret of
	// the app, in any process. ErrConflict if the app has a secret with
	// this id, ErrNotFound if the app does not exist.
	AddSecret(ctx context.Context, s Secret, maxActive int) error
	// ListSecrets returns all secrets of an app, revoked ones included,
	// oldest first.
	ListSecrets(ctx context.Context, appID string) ([]Secret, error)
	// RevokeSecret marks a secret revoked at the given time (a revoked one
	// keeps its first time); ErrNotFound if the app has no such secret,
	// ErrLimit if it is the app's last active secret (an app always keeps
	// one), atomically with respect to AddSecret and RevokeSecret.
	RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error

	// UseNonces records request nonces in one commit (group commit: the
	// gateway batches concurrent requests). For each nonce, in input order,
	// it reports true if this call recorded it and false if the app already
	// holds the same value: a replay. A nonce is held until DeleteExpired
	// removes it after its ExpiresAt.
	UseNonces(ctx context.Context, ns []Nonce) ([]bool, error)

	// DeleteExpired is the maintenance sweep: it removes console sessions
	// and request nonces that expired at or before now and, in every app,
	// idempotency records created before idempotencyBefore and user
	// tombstones older than TombstoneRetention. It returns how many it
	// removed.
	DeleteExpired(ctx context.Context, now, idempotencyBefore time.Time) (int64, error)
	// DeleteOutboxBefore is the push outbox's and push log's sweep: it
	// removes, in every app, the outbox entries created before the given
	// time and the push log entries whose At is before it, and returns how
	// many it removed (of both). The caller picks the retention.
	DeleteOutboxBefore(ctx context.Context, before time.Time) (int64, error)
	// DeleteWebhookLogBefore is the webhook log's sweep: it removes, in
	// every app, the webhook events created before the given time and the
	// delivery attempts whose At is before it, and returns how many it
	// removed (of both).
	DeleteWebhookLogBefore(ctx context.Context, before time.Time) (int64, error)
	// DeleteUsageBefore is the usage history's sweep: it removes, in every
	// app, the usage counters and active users of the days before day (a
	// "2006-01-02" UTC date), and returns how many records it removed. The
	// caller picks the retention.
	DeleteUsageBefore(ctx context.Context, day string) (int64, error)
	// AgentLoads is the read of the agents' repair sweep: up to limit
	// agents of every app after (afterApp, afterUser), by app id then user
	// id (both empty: from the first), each with its stored Active count
	// and its active sessions. Where there are no transactions the counts
	// are read first, then the sessions.
	AgentLoads(ctx context.Context, afterApp, afterUser string, limit int) ([]AgentLoad, error)
	// PendingSupportEvents is the read of the support outbox's drains: up
	// to limit pending entries of kind kind (SupportKindEvent or
	// SupportKindNotice; see SupportEvent) of every app whose At is not
	// after before, by app id, then At, then id.
	PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]SupportEvent, error)
	// WaitingSupportApps is the read of the support routing sweep: up to
	// limit ids of apps after after (empty: from the first), in order,
	// that have a waiting support session created before before.
	WaitingSupportApps(ctx context.Context, after string, before time.Time, limit int) ([]string, error)

	// App returns the handle through which all data of one app is reached.
	// It does not check that the app exists.
	App(appID string) AppStore
}

// AppStore is the app-scoped persistence contract: every method reads and
// writes data of exactly one app.
type AppStore interface {
	// AppID returns the app this handle is scoped to.
	AppID() string

	// CreateUser adds a user; ErrConflict if the id is taken. If the id
	// belonged to a user deleted since the last DeleteExpired sweep of
	// tombstones, TokensValidAfter is raised to at least the deletion time
	// and the creation time truncated to the second (token iat has
	// one-second precision), so no token of the deleted user is valid.
	CreateUser(ctx context.Context, u User) error
	// CreateUsers adds users in one batch, as CreateUser does each. For
	// each input it returns nil,
	// ErrConflict (the id already exists; the stored user is untouched) or
	// another error, in input order.
	CreateUsers(ctx context.Context, us []User) ([]error, error)
	GetUser(ctx context.Context, id string) (User, error)
	// UpdateUser replaces the profile fields (name, avatar URL, metadata,
	// updated time); ErrNotFound if the user does not exist.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user and everything that is only the user's:
	// its devices' cursors, its conversation entries (its peers keep
	// theirs, and the history), its system conversation, its push outbox
	// entries, its push devices, push settings and push log entries, its
	// agent record (even while it has active sessions), its group
	// memberships (each group's MemberCount goes down; a group it owns
	// keeps it as OwnerID) and join requests, its contacts (its friendships,
	// both sides, its friend requests either way, its blocks and the blocks
	// of it), its reactions, its chat room bans, and the client message
	// ids of the messages
	// it sent (so that a new user with the
	// same id is not deduplicated against them). Its support sessions, as
	// visitor or agent, stay: they are the service's history, and keep
	// their VisitorID and AgentID. With
	// EraseMessages the bodies and push options of the messages it sent
	// are erased too (recalled at At, for everyone). The id is remembered
	// (a tombstone) until DeleteExpired removes it: a user created later
	// with the same id gets TokensValidAfter no earlier than the deletion,
	// and conversation entries that start at the next message. ErrNotFound
	// if the user does not exist.
	DeleteUser(ctx context.Context, id string, d UserDeletion) error
	// ListUsers returns up to limit users with id > after, by id.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// SetUserBlocked sets or clears the blocked flag.
	SetUserBlocked(ctx context.Context, id string, blocked bool, at time.Time) error
	// RevokeTokens makes every token issued before the given time invalid.
	// The stored time only moves forward.
	RevokeTokens(ctx context.Context, id string, before time.Time) error
	// SetLastSeen moves the user's LastSeenAt forward to at (never back);
	// ErrNotFound if the user does not exist.
	SetLastSeen(ctx context.Context, id string, at time.Time) error

	// PutIdempotency stores r unless a record with the same key exists; it
	// returns the stored record and whether it was created by this call.
	PutIdempotency(ctx context.Context, r Idempotency) (Idempotency, bool, error)
	// GetIdempotency returns the record for key, or ErrNotFound.
	GetIdempotency(ctx context.Context, key string) (Idempotency, error)

	MessageStore
	OutboxStore
	PushStore
	WebhookStore
	SupportStore
	GroupStore
	ContactStore
	UsageStore
	RichStore
	SearchStore
	RoomStore
	FileStore
}

// TombstoneRetention is how long a deleted user's id is remembered: the
// longest lifetime of a client token, so that no token of the deleted user
// can outlive its tombstone.
const TombstoneRetention = 30*24*time.Hour + time.Hour

// Tenant is a customer organisation.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Role is a console member's role. The operator role is installation-wide;
// the others are scoped to one tenant.
type Role string

// Roles, from most to least privileged.
const (
	RoleOperator Role = "operator"
	RoleOwner    Role = "owner"
	RoleAdmin    Role = "admin"
	RoleViewer   Role = "viewer"
)

// Member is a console account. TenantID is empty for operators.
type Member struct {
	ID           string
	TenantID     string
	Email        string // lower-case, unique within the tenant
	Name         string
	Role         Role
	PasswordHash string // bcrypt
	CreatedAt    time.Time
	// Version counts the member's updates, from 1; UpdateMember writes only
	// if it is unchanged.
	Version int64
}

// Session is a console login.
type Session struct {
	TokenHash string // hex SHA-256 of the bearer token
	MemberID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// App is one customer application: its own users, conversations and keys.
type App struct {
	ID        string
	TenantID  string
	Name      string
	Key       string // public app key, unique across the installation
	Disabled  bool
	Limits    Limits
	Settings  Settings
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts the app's updates, from 1; UpdateApp writes only if
	// it is unchanged.
	Version int64
}

// Limits are an app's quotas. Zero values mean "use the installation
// default" (see tenant.DefaultLimits).
type Limits struct {
	MaxMessageBytes   int     `json:"max_message_bytes,omitempty"`    // largest message body in bytes
	APIRate           float64 `json:"api_rate,omitempty"`             // server API requests per second
	APIBurst          int     `json:"api_burst,omitempty"`            // server API burst size
	ConnRate          float64 `json:"conn_rate,omitempty"`            // WebSocket logins per second
	SendRate          float64 `json:"send_rate,omitempty"`            // messages per second per connection
	SendBurst         int     `json:"send_burst,omitempty"`           // message burst per connection
	MaxGroupSize      int     `json:"max_group_size,omitempty"`       // members per group
	MaxDevicesPerUser int     `json:"max_devices_per_user,omitempty"` // concurrent connections per user
	MaxUploadBytes    int64   `json:"max_upload_bytes,omitempty"`     // largest uploaded file in bytes
}

// Settings are an app's behavioural options.
type Settings struct {
	// DevicePolicy says what happens when a user exceeds
	// Limits.MaxDevicesPerUser: "kick_oldest" (default) or "refuse".
	DevicePolicy string `json:"device_policy,omitempty"`
	// AllowedOrigins lists the browser origins allowed to open WebSockets
	// (see tenant.OriginAllowed for the patterns). Empty allows any origin.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// MaxTokenLifetimeSeconds is the longest lifetime (exp - iat) of a
	// client token the app accepts, in seconds. Zero means 30 days.
	MaxTokenLifetimeSeconds int64 `json:"max_token_lifetime_seconds,omitempty"`
	// Push configures the app's offline notifications.
	Push AppPush `json:"push,omitzero"`
	// OnlyFriendsMessage refuses one-to-one messages between users who are
	// not friends (see package contacts); system and group messages are
	// not affected.
	OnlyFriendsMessage bool `json:"only_friends_message,omitempty"`
	// RecallWindowSeconds is how long a sender may recall its message (see RecallWindow): nil 120, 0 never.
	RecallWindowSeconds *int64 `json:"recall_window_seconds,omitempty"`
	// EditWindowSeconds is how long a sender may edit its message (see EditWindow): nil 900, 0 never.
	EditWindowSeconds *int64 `json:"edit_window_seconds,omitempty"`
	// UploadTypes are the media types of the files users may upload:
	// "type/subtype", "type/*" or "*/*". Empty means DefaultUploadTypes
	// (see Settings.AllowedUploadTypes).
	UploadTypes []string `json:"upload_types,omitempty"`
}

// AppPush configures an app's offline notifications (see package push).
type AppPush struct {
	// DelaySeconds is how long a message sent to a user's online devices
	// may go unacknowledged before the user is notified as if offline.
	// Zero means 10 seconds.
	DelaySeconds int `json:"delay_seconds,omitempty"`
	// HideContent leaves the message text out of every notification: the
	// body is the template's (or "New message") instead.
	HideContent bool `json:"hide_content,omitempty"`
	// MentionOverridesMute notifies a user mentioned in a conversation it
	// muted.
	MentionOverridesMute bool `json:"mention_overrides_mute,omitempty"`
	// Templates are the notification texts per message type and locale;
	// see push.Render for the placeholders and how one is chosen.
	Templates []PushTemplate `json:"templates,omitempty"`
}

// PushTemplate is the title and body of the notifications of one message
// type ("*" for any) in one locale ("" for any).
type PushTemplate struct {
	Type   string `json:"type"`
	Locale string `json:"locale,omitempty"`
	Title  string `json:"title,omitempty"`
	Body   string `json:"body,omitempty"`
}

// Secret is one of an app's signing secrets, encrypted at rest.
type Secret struct {
	ID        string
	AppID     string
	Sealed    []byte // the secret sealed with the installation master key
	Hint      string // last four characters, for display
	CreatedAt time.Time
	RevokedAt time.Time // zero while active
}

// Active reports whether the secret has not been revoked.
func (s Secret) Active() bool { return s.RevokedAt.IsZero() }

// User is an end user of an app.
type User struct {
	ID        string
	Name      string
	AvatarURL string
	Metadata  map[string]string
	Blocked   bool
	// TokensValidAfter: tokens issued before this time are revoked.
	TokensValidAfter time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// LastSeenAt is when the user was last online: when its last session
	// ended (after the presence debounce). Zero if it never was, as far
	// as the store knows.
	LastSeenAt time.Time
}

// Nonce is the nonce of one signed server API request of an app, kept for
// replay protection until ExpiresAt.
type Nonce struct {
	AppID     string
	Value     string
	ExpiresAt time.Time
}

// UserDeletion says how DeleteUser deletes a user.
type UserDeletion struct {
	// At is the time of the deletion: the tombstone's time, and the recall
	// time of erased messages.
	At time.Time
	// EraseMessages erases the bodies of every message the user sent, in
	// every conversation, for everyone (GDPR-style erasure).
	EraseMessages bool
}

// Idempotency records the response to a POST sent with an Idempotency-Key.
type Idempotency struct {
	Key         string
	RequestHash string // hex SHA-256 of method, path and body
	Status      int
	Body        []byte
	CreatedAt   time.Time
}
