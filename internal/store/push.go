package store

import (
	"context"
	"time"
)

// PushStore keeps an app's push state: the devices its users registered for
// offline notifications, the app's provider credentials (sealed), the
// per-message push log and each user's push preferences. It is part of
// AppStore, so every method is scoped to one app.
type PushStore interface {
	// PutDevice registers device d.ID of user d.UserID, or replaces its
	// registration (CreatedAt is kept from the first one, UpdatedAt is
	// d's). A token is registered once per app: any other registration of
	// the same (Provider, Token), of another user or another device id, is
	// removed by the same write (the token moved: a phone that changed
	// hands, or an app reinstalled under a new device id). ErrNotFound if
	// the user does not exist, checked atomically with respect to
	// DeleteUser; ErrLimit if the registration is new and the user already
	// has maxPerUser devices (0: no limit), not counting the registrations
	// of the token that the write removes (a reinstall under a new device
	// id at the limit moves the token). A call that fails changes nothing
	// (in an engine without transactions, a call that races another may
	// have removed the token's other registrations).
	PutDevice(ctx context.Context, d Device, maxPerUser int) error
	// GetDevice returns one registration, or ErrNotFound.
	GetDevice(ctx context.Context, userID, deviceID string) (Device, error)
	// ListDevices returns the registrations of a user, by device id (none
	// for an unknown user).
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	// DeleteDevice removes the registration of device deviceID of user
	// userID. With token non-empty it removes it only while its token is
	// still token (a provider's "invalid token" must not remove a token
	// registered since). ErrNotFound if there is no such registration (or
	// its token differs).
	DeleteDevice(ctx context.Context, userID, deviceID, token string) error
	// DeleteDevices removes every registration of a user last updated
	// before the given time (token revocation: a device that registers
	// again with a new token is kept), and returns how many it removed.
	DeleteDevices(ctx context.Context, userID string, before time.Time) (int64, error)

	// PutPushCredential stores the app's credential for c.Provider,
	// replacing any earlier one of that provider.
	PutPushCredential(ctx context.Context, c PushCredential) error
	// ListPushCredentials returns the app's credentials, by provider.
	ListPushCredentials(ctx context.Context) ([]PushCredential, error)
	// DeletePushCredential removes the app's credential for provider;
	// ErrNotFound if it has none.
	DeletePushCredential(ctx context.Context, provider string) error

	// AddPushLog records entries, each unless the app already holds an
	// entry with its ID (adding an entry twice stores it once). Entries of
	// users that do not exist are skipped, atomically with respect to
	// DeleteUser.
	AddPushLog(ctx context.Context, es []PushLogEntry) error
	// ListPushLog returns up to q.Limit entries with id > q.After, by id,
	// that match q; a query without UserID and ConvID matches every entry
	// of the app.
	ListPushLog(ctx context.Context, q PushLogQuery) ([]PushLogEntry, error)

	// GetPushSettings returns a user's push preferences; the zero value if
	// it never set any. ErrNotFound if the user does not exist.
	GetPushSettings(ctx context.Context, userID string) (PushSettings, error)
	// PutPushSettings replaces a user's push preferences; ErrNotFound if
	// the user does not exist.
	PutPushSettings(ctx context.Context, userID string, s PushSettings) error
	// SetConversationMuted sets or clears the user's mute of a
	// conversation (UserConversation.Muted); ErrNotFound if the user is
	// not a member of it.
	SetConversationMuted(ctx context.Context, userID, convID string, muted bool) error
}

// Device is one device a user registered for push notifications.
type Device struct {
	// ID is the device id the client chose (the id it logs in with).
	ID     string
	UserID string
	// Platform is "ios", "android" or "web".
	Platform string
	// Provider is "apns" or "fcm".
	Provider string
	// Token is the provider's device token (APNs hex token, FCM
	// registration token).
	Token string
	// Topic is the APNs topic (the app's bundle id); empty for FCM.
	Topic string
	// Environment is the APNs environment, "sandbox" or "production";
	// empty for FCM.
	Environment string
	// Locale (BCP 47, such as "en-GB") picks the notification template.
	Locale string
	// TimeZone (IANA, such as "Europe/Paris") places the user's
	// do-not-disturb hours when the user set no time zone of its own.
	TimeZone  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PushCredential is an app's credential for one push provider. The secret
// part (the APNs .p8 key, the FCM service-account JSON) is sealed with the
// installation master key; Info holds what may be shown (key id, team id,
// topic, project id, client email).
type PushCredential struct {
	Provider  string // "apns" or "fcm"
	Sealed    []byte
	Info      map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PushLogEntry is one step of one offline notification: queued for a
// device, sent, failed with the provider's reason, token removed, or
// suppressed (muted, do-not-disturb, no device).
type PushLogEntry struct {
	// ID is the entry's key, derived from the notification, the device
	// and the step, so that a job handled twice logs each step once.
	ID       string
	UserID   string
	ConvID   string
	Seq      int64
	DeviceID string // empty for a step of the whole notification
	Provider string // "apns", "fcm", "outbox", or empty
	Status   string // "queued", "sent", "failed", "token_removed", "suppressed", "recorded"
	// Reason is the provider's reason of a failure, or why a notification
	// was suppressed.
	Reason string
	At     time.Time
}

// PushLogQuery selects push log entries: of one user (UserID non-empty),
// of one conversation (ConvID non-empty) or of one of its messages (and Seq
// positive), or both; with neither, every entry of the app.
type PushLogQuery struct {
	UserID string
	ConvID string
	Seq    int64
	After  string
	// Limit caps the entries returned; zero or less returns none.
	Limit int
}

// PushSettings are a user's push preferences.
type PushSettings struct {
	// Disabled turns every push of the user off.
	Disabled bool
	// DNDStart and DNDEnd are the do-not-disturb hours, in minutes after
	// midnight in TimeZone (0 to 1439); the range may wrap past midnight
	// (22:00 to 07:00). Equal values mean no do-not-disturb hours.
	DNDStart, DNDEnd int
	// TimeZone is an IANA zone name; empty means the device's, then UTC.
	TimeZone  string
	UpdatedAt time.Time
}
