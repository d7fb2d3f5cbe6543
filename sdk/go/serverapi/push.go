package serverapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Device is a device a user registered for offline push notifications,
// from its app (the client SDK's RegisterDevice) or with Client.PutDevice.
type Device struct {
	// ID is the device id, the one the device's app logs in with.
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// Platform is "ios", "android" or "web".
	Platform string `json:"platform"`
	// Provider is "apns" or "fcm".
	Provider string `json:"provider"`
	// Token is the provider's device token.
	Token string `json:"token"`
	// Topic is the APNs topic; empty for the app credential's.
	Topic string `json:"topic"`
	// Environment is the APNs environment, "sandbox" or "production".
	Environment string `json:"environment"`
	// Locale is the BCP 47 locale that picks the notification template.
	Locale string `json:"locale"`
	// TimeZone is the device's IANA time zone.
	TimeZone  string    `json:"time_zone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DeviceInput is a device registration. Platform, Provider and Token are
// required; empty optional fields are not sent.
type DeviceInput struct {
	// Platform is "ios", "android" or "web".
	Platform string `json:"platform"`
	// Provider is "apns" (ios only) or "fcm".
	Provider string `json:"provider"`
	// Token is the provider's device token: for APNs 64 to 200 hex digits,
	// for FCM the registration token, up to 4096 characters.
	Token string `json:"token"`
	// Topic is the APNs topic (bundle id); empty means the app
	// credential's. Empty for FCM.
	Topic string `json:"topic,omitempty"`
	// Environment is the APNs environment, "sandbox" or "production";
	// empty means production. Empty for FCM.
	Environment string `json:"environment,omitempty"`
	// Locale is a BCP 47 locale, such as "en-GB", that picks the
	// notification template.
	Locale string `json:"locale,omitempty"`
	// TimeZone is an IANA time zone, such as "Europe/Paris", for the
	// user's do-not-disturb hours unless the user set one.
	TimeZone string `json:"time_zone,omitempty"`
}

// PushSettings are a user's push preferences, for all of the user's
// devices.
type PushSettings struct {
	// Disabled turns every notification of the user off.
	Disabled bool `json:"disabled"`
	// DNDStart is the start of the do-not-disturb hours, in minutes after
	// midnight (0 to 1439) in TimeZone; the range may wrap past midnight,
	// and DNDStart equal to DNDEnd means none.
	DNDStart int `json:"dnd_start"`
	// DNDEnd is the end of the do-not-disturb hours, as DNDStart.
	DNDEnd int `json:"dnd_end"`
	// TimeZone is an IANA time zone; empty means each device's, then UTC.
	TimeZone string `json:"time_zone"`
	// UpdatedAt is when the settings last changed; zero if never set.
	// SetPushSettings does not send it.
	UpdatedAt time.Time `json:"updated_at"`
}

// PushOptions are a message's options for its offline notifications, sent
// with Client.SendMessage; empty fields are not sent.
type PushOptions struct {
	// Skip sends no notification for the message.
	Skip bool `json:"skip,omitempty"`
	// Title replaces the notification title (at most 100 characters).
	Title string `json:"title,omitempty"`
	// Body replaces the notification body (at most 500 characters).
	Body string `json:"body,omitempty"`
	// Silent sends a background (data-only) notification.
	Silent bool `json:"silent,omitempty"`
	// CollapseID lets a newer notification replace an older one on the
	// device (1 to 64 printable ASCII characters).
	CollapseID string `json:"collapse_id,omitempty"`
	// Priority is "high" or "normal"; empty means high for an alert,
	// normal for a silent notification.
	Priority string `json:"priority,omitempty"`
	// HideContent leaves the message text out of the notification.
	HideContent bool `json:"hide_content,omitempty"`
	// Data is delivered to the app with the notification: at most 16
	// keys; conv_id, seq, sender_id, type and keys starting with "magpie"
	// are reserved.
	Data map[string]string `json:"data,omitempty"`
}

// PushLogEntry is one step of the push log: what happened to the
// notification of one message for one device.
type PushLogEntry struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ConvID   string `json:"conv_id"`
	Seq      int64  `json:"seq"`
	DeviceID string `json:"device_id"`
	// Provider is "apns", "fcm", or "outbox" for an app without
	// credentials.
	Provider string `json:"provider"`
	// Status is the outcome: "queued", "sent", "failed", "token_removed",
	// "suppressed" (disabled, muted, do-not-disturb, ...) or "recorded"
	// (in the outbox); Reason says why, when it is not plain.
	Status string    `json:"status"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// PushLogQuery selects push log entries; empty fields select everything.
type PushLogQuery struct {
	UserID string
	ConvID string
	// Seq selects the entries of one message (with ConvID); 0 for all.
	Seq int64
	// Cursor is the previous page's next cursor; empty for the first page.
	Cursor string
	// Limit is the page size; 0 means the server's default.
	Limit int
}

// OutboxEntry is an offline notification in the app's push outbox, where
// notifications go while the app has no push provider credentials.
type OutboxEntry struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	ConvID   string `json:"conv_id"`
	Seq      int64  `json:"seq"`
	SenderID string `json:"sender_id"`
	Type     string `json:"type"`
	// Preview is the start of the message's text, or empty.
	Preview string `json:"preview"`
	// Badge is the user's unread count the notification carries.
	Badge int `json:"badge"`
	// Notification is the rendered notification, JSON, as it would have
	// been sent; empty for entries recorded before it existed.
	Notification json.RawMessage `json:"notification"`
	CreatedAt    time.Time       `json:"created_at"`
}

// errEmptyDeviceID is returned, before any request, for an empty device id.
var errEmptyDeviceID = errors.New("magpie: empty device id")

// devicePath returns the escaped path of device deviceID of user userID.
func devicePath(userID, deviceID string) (string, error) {
	if deviceID == "" {
		return "", errEmptyDeviceID
	}
	return userPath(userID, "/devices/"+url.PathEscape(deviceID))
}

// PutDevice registers device deviceID of user userID for push, or replaces
// its registration (PUT /v1/users/{id}/devices/{device_id}), and returns
// it as stored. A user has at most 20 devices registered: beyond, the call
// fails with code "too_many_devices".
func (c *Client) PutDevice(ctx context.Context, userID, deviceID string, in DeviceInput) (Device, error) {
	path, err := devicePath(userID, deviceID)
	if err != nil {
		return Device{}, err
	}
	var resp struct {
		Device Device `json:"device"`
	}
	if err := c.do(ctx, request{method: http.MethodPut, path: path, in: in, out: &resp}); err != nil {
		return Device{}, err
	}
	return resp.Device, nil
}

// ListDevices returns the devices user userID registered for push (GET
// /v1/users/{id}/devices).
func (c *Client) ListDevices(ctx context.Context, userID string) ([]Device, error) {
	path, err := userPath(userID, "/devices")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Devices []Device `json:"devices"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: path, out: &resp}); err != nil {
		return nil, err
	}
	return resp.Devices, nil
}

// DeleteDevice removes the push registration of device deviceID of user
// userID (DELETE /v1/users/{id}/devices/{device_id}).
func (c *Client) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	path, err := devicePath(userID, deviceID)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path})
}

// GetPushSettings returns the push preferences of user userID (GET
// /v1/users/{id}/push-settings); the zero value, but for UpdatedAt, if the
// user never set any.
func (c *Client) GetPushSettings(ctx context.Context, userID string) (PushSettings, error) {
	return c.pushSettingsCall(ctx, http.MethodGet, userID, nil)
}

// SetPushSettings replaces the push preferences of user userID (PUT
// /v1/users/{id}/push-settings) and returns them as stored. s.UpdatedAt is
// not sent.
func (c *Client) SetPushSettings(ctx context.Context, userID string, s PushSettings) (PushSettings, error) {
	in := struct {
		Disabled bool   `json:"disabled"`
		DNDStart int    `json:"dnd_start"`
		DNDEnd   int    `json:"dnd_end"`
		TimeZone string `json:"time_zone"`
	}{s.Disabled, s.DNDStart, s.DNDEnd, s.TimeZone}
	return c.pushSettingsCall(ctx, http.MethodPut, userID, in)
}

func (c *Client) pushSettingsCall(ctx context.Context, method, userID string, in any) (PushSettings, error) {
	path, err := userPath(userID, "/push-settings")
	if err != nil {
		return PushSettings{}, err
	}
	var resp struct {
		PushSettings PushSettings `json:"push_settings"`
	}
	if err := c.do(ctx, request{method: method, path: path, in: in, out: &resp}); err != nil {
		return PushSettings{}, err
	}
	return resp.PushSettings, nil
}

// MuteConversation mutes (muted true) or unmutes conversation convID for
// user userID (PUT /v1/users/{id}/conversations/{conv}/mute): no push
// notifications for its messages while muted.
func (c *Client) MuteConversation(ctx context.Context, userID, convID string, muted bool) error {
	if convID == "" {
		return errors.New("magpie: empty conversation id")
	}
	path, err := userPath(userID, "/conversations/"+url.PathEscape(convID)+"/mute")
	if err != nil {
		return err
	}
	in := struct {
		Muted bool `json:"muted"`
	}{muted}
	return c.do(ctx, request{method: http.MethodPut, path: path, in: in})
}

// PushLog returns a page of the app's push log (GET /v1/push/log) that
// matches q, and the cursor of the next page, empty after the last.
func (c *Client) PushLog(ctx context.Context, q PushLogQuery) ([]PushLogEntry, string, error) {
	if q.Limit < 0 || q.Seq < 0 {
		return nil, "", errors.New("magpie: negative limit or seq")
	}
	v := pageQuery(q.Cursor, q.Limit)
	if q.UserID != "" {
		v.Set("user_id", q.UserID)
	}
	if q.ConvID != "" {
		v.Set("conv_id", q.ConvID)
	}
	if q.Seq > 0 {
		v.Set("seq", strconv.FormatInt(q.Seq, 10))
	}
	var resp struct {
		Entries    []PushLogEntry `json:"entries"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/push/log", query: v, out: &resp}); err != nil {
		return nil, "", err
	}
	return resp.Entries, resp.NextCursor, nil
}

// PushOutbox returns a page of the app's push outbox (GET
// /v1/push/outbox), of user userID or, if empty, of every user, and the
// cursor of the next page, empty after the last. Pass an empty cursor for
// the first page and a limit of 0 for the server's default page size.
func (c *Client) PushOutbox(ctx context.Context, userID, cursor string, limit int) ([]OutboxEntry, string, error) {
	if limit < 0 {
		return nil, "", errors.New("magpie: negative limit")
	}
	v := pageQuery(cursor, limit)
	if userID != "" {
		v.Set("user_id", userID)
	}
	var resp struct {
		Entries    []OutboxEntry `json:"entries"`
		NextCursor string        `json:"next_cursor"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/push/outbox", query: v, out: &resp}); err != nil {
		return nil, "", err
	}
	return resp.Entries, resp.NextCursor, nil
}

// pageQuery returns the query of a page: cursor and limit, when set.
func pageQuery(cursor string, limit int) url.Values {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q
}
