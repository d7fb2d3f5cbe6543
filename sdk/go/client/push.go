package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Device is this device's registration for offline push notifications:
// where the server sends a notification of a message while the device is
// not connected. The device is the one of Config.DeviceID.
type Device struct {
	// Platform is "ios", "android" or "web".
	Platform string
	// Provider is "apns" (ios only) or "fcm".
	Provider string
	// Token is the provider's device token: for APNs 64 to 200 hex digits,
	// for FCM the registration token, up to 4096 characters.
	Token string
	// Topic is the APNs topic (the app's bundle id). Empty means the app
	// credential's topic; it must be empty for FCM.
	Topic string
	// Environment is the APNs environment, "sandbox" or "production".
	// Empty means production; it must be empty for FCM.
	Environment string
	// Locale is a BCP 47 locale, such as "en-GB", that picks the
	// notification template. Empty means the app's default template.
	Locale string
	// TimeZone is the device's IANA time zone, such as "Europe/Paris": the
	// user's do-not-disturb hours are in it unless the user set a time zone
	// of its own (PushSettings.TimeZone). Empty means UTC.
	TimeZone string
}

func (d *Device) frame() *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_RegisterDevice{RegisterDevice: &magpiev1.RegisterDevice{
		Platform: d.Platform, Provider: d.Provider, Token: d.Token, Topic: d.Topic,
		Environment: d.Environment, Locale: d.Locale, TimeZone: d.TimeZone,
	}}}
}

// PushSettings are the user's push preferences, for every device of the
// user.
type PushSettings struct {
	// Disabled turns every notification of the user off.
	Disabled bool
	// DNDStart is the start of the do-not-disturb hours, in minutes after
	// midnight (0 to 1439) in TimeZone. The range may wrap past midnight
	// (1320 to 420 is 22:00 to 07:00); DNDStart equal to DNDEnd means no
	// do-not-disturb hours.
	DNDStart int
	// DNDEnd is the end of the do-not-disturb hours, as DNDStart.
	DNDEnd int
	// TimeZone is the IANA time zone of the do-not-disturb hours, such as
	// "Europe/Paris". Empty means each device's (Device.TimeZone), then
	// UTC.
	TimeZone string
}

// PushOptions are a message's options for its offline notifications,
// given to a send with WithPush. The zero value means the app's defaults.
// The server checks them and refuses a message with invalid options with
// an *Error of code wire.CodeInvalidArgument naming the field, such as
// "push.title: ...".
type PushOptions struct {
	// Skip sends no notification for this message.
	Skip bool
	// Title replaces the notification title (at most 100 characters).
	Title string
	// Body replaces the notification body (at most 500 characters).
	Body string
	// Silent sends a background (data-only) notification: no alert, no
	// sound.
	Silent bool
	// CollapseID lets a newer notification with the same id replace an
	// older one on the device (1 to 64 printable ASCII characters).
	CollapseID string
	// Priority is "high" or "normal". Empty means high for an alert,
	// normal for a silent notification.
	Priority string
	// HideContent leaves the message text out of the notification.
	HideContent bool
	// Data is delivered to the app with the notification: at most 16
	// keys; conv_id, seq, sender_id, type and keys starting with "magpie"
	// are reserved.
	Data map[string]string
}

// WithPush gives the message push options p. The client keeps them, with
// the message, for every retransmission.
func WithPush(p PushOptions) SendOption {
	return func(o *Outgoing) { o.push = p.proto() }
}

// proto returns the wire form of p, nil for the zero value; it holds a copy
// of Data.
func (p PushOptions) proto() *magpiev1.PushOptions {
	if !p.Skip && p.Title == "" && p.Body == "" && !p.Silent && p.CollapseID == "" &&
		p.Priority == "" && !p.HideContent && len(p.Data) == 0 {
		return nil
	}
	return &magpiev1.PushOptions{
		Skip: p.Skip, Title: p.Title, Body: p.Body, Silent: p.Silent, CollapseId: p.CollapseID,
		Priority: p.Priority, HideContent: p.HideContent, Data: maps.Clone(p.Data),
	}
}

// takePushTurn waits until no other push registration request of the
// client is in flight, or ctx ends. The turn is released with
// givePushTurn.
func (c *Client) takePushTurn(ctx context.Context) error {
	select {
	case c.pushTurn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) givePushTurn() { <-c.pushTurn }

// RegisterDevice registers this device for offline push notifications of
// the logged-in user, or replaces its registration. Call it after the
// first login of a user on the device, at every start of the app, and
// whenever the provider hands the app a new token (APNs
// didRegisterForRemoteNotificationsWithDeviceToken, FCM onNewToken).
//
// The client remembers the last registration the server did not refuse
// and sends it again after every login (every reconnect), so that a server
// that lost it, or a new server, has it: a registration costs one small
// frame, and this is what commercial push SDKs do. It remembers it in
// memory only: a new process registers again. Close keeps the
// registration on the server (the user still gets notifications while the
// app is closed, which is the point of push); Logout and UnregisterDevice
// remove it.
//
// RegisterDevice waits for its turn (push registration requests go one at
// a time) and for a connection until ctx ends. If ctx ends once it had its
// turn but before the server answered, the registration is still sent
// after the next login. A registration the server refuses (an *Error with code
// wire.CodeInvalidArgument naming the field, such as "token: ...", or
// wire.CodeTooManyDevices when the user already has 20 devices registered)
// is forgotten, and the previous one, if any, is kept.
func (c *Client) RegisterDevice(ctx context.Context, d Device) error {
	if err := c.takePushTurn(ctx); err != nil {
		return err
	}
	defer c.givePushTurn()
	c.mu.Lock()
	prev, prevSent := c.device, c.deviceSent
	c.device, c.deviceSent = &d, nil
	c.mu.Unlock()
	s, _, err := c.requestOn(ctx, d.frame())
	var se *Error
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.deviceSent = s
	case errors.As(err, &se) && !se.Retryable:
		c.device, c.deviceSent = prev, prevSent
	}
	return err
}

// UnregisterDevice removes this device's push registration from the
// server, and the client stops sending it again after logins. The server
// answers success when the device had no registration. It waits for a
// connection until ctx ends; if it fails, the server may keep the
// registration, and the app may call it again.
func (c *Client) UnregisterDevice(ctx context.Context) error {
	if err := c.takePushTurn(ctx); err != nil {
		return err
	}
	defer c.givePushTurn()
	c.mu.Lock()
	c.device, c.deviceSent = nil, nil
	c.mu.Unlock()
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_UnregisterDevice{UnregisterDevice: &magpiev1.UnregisterDevice{}}})
	return err
}

// Logout is for a user signing out of the app on this device: it removes
// the device's push registration (UnregisterDevice), then closes the
// client as Close does, whether or not the unregistration succeeded, and
// returns the unregistration's error. It sends the unregistration even
// when this process registered nothing, since the server may hold a
// registration from an earlier process of the device. It waits for a
// connection until ctx ends: give ctx a deadline.
//
// Close alone keeps the registration: the user goes on getting
// notifications while the app is closed.
func (c *Client) Logout(ctx context.Context) error {
	err := c.UnregisterDevice(ctx)
	_ = c.Close() // always nil
	if err != nil {
		return fmt.Errorf("logout: unregister device: %w", err)
	}
	return nil
}

// resendDevice sends the remembered registration on session s, after its
// login, unless it was already sent on s. It retries retryable errors
// with backoff until ctx ends; a lost connection leaves it to the next
// session.
func (c *Client) resendDevice(ctx context.Context, s *session) {
	c.mu.Lock()
	none := c.device == nil
	c.mu.Unlock()
	if none || c.takePushTurn(ctx) != nil {
		return
	}
	defer c.givePushTurn()
	for retry := 0; ; retry++ {
		c.mu.Lock()
		d, sent := c.device, c.deviceSent
		c.mu.Unlock()
		if d == nil || sent == s {
			return
		}
		_, err := s.call(ctx, d.frame())
		switch {
		case err == nil:
			c.mu.Lock()
			c.deviceSent = s
			c.mu.Unlock()
			return
		case ctx.Err() != nil || errors.Is(err, errConnLost):
			return
		case !retryable(err):
			// Refused now though accepted before (the user's devices
			// reached the limit meanwhile, say): keep it, and try again at
			// the next login.
			c.log.WarnContext(ctx, "push registration refused", "err", err, "session_id", s.info.SessionID)
			return
		}
		if !sleep(ctx, retryDelay(c.cfg.BackoffMin, c.cfg.BackoffMax, retry)) {
			return
		}
	}
}

// SetPushSettings replaces the user's push preferences, for every device
// of the user. The server refuses hours outside 0 to 1439 or an unknown
// time zone with an *Error of code wire.CodeInvalidArgument naming the
// field ("dnd_start: ..."). It waits for a connection until ctx ends.
func (c *Client) SetPushSettings(ctx context.Context, s PushSettings) error {
	// The server checks the range; this keeps the int32 of the wire from
	// wrapping an absurd value into a valid one.
	for _, f := range []struct {
		name string
		v    int
	}{{"dnd_start", s.DNDStart}, {"dnd_end", s.DNDEnd}} {
		if f.v < math.MinInt32 || f.v > math.MaxInt32 {
			return &Error{Code: wire.CodeInvalidArgument, Message: f.name + ": must be minutes after midnight, 0 to 1439"}
		}
	}
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SetPushSettings{SetPushSettings: &magpiev1.SetPushSettings{
		Disabled: s.Disabled, DndStart: int32(s.DNDStart), DndEnd: int32(s.DNDEnd), TimeZone: s.TimeZone,
	}}})
	return err
}

// MuteConversation mutes (muted true) or unmutes a conversation for the
// user, on every device: no notifications for its messages while muted.
// Conversation.Muted reports it. A conversation the user is not a member
// of is refused with an *Error of code wire.CodeNotFound. It waits for a
// connection until ctx ends.
func (c *Client) MuteConversation(ctx context.Context, convID string, muted bool) error {
	if convID == "" {
		return errors.New("magpie: mute conversation: empty conversation id")
	}
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_MuteConversation{MuteConversation: &magpiev1.MuteConversation{
		ConvId: convID, Muted: muted,
	}}})
	return err
}
