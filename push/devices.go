package push

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// Providers and platforms a device may register with.
const (
	ProviderAPNs = "apns"
	ProviderFCM  = "fcm"
	// ProviderOutbox names the push log steps of an app without
	// credentials: the notification went to the outbox.
	ProviderOutbox = "outbox"

	PlatformIOS     = "ios"
	PlatformAndroid = "android"
	PlatformWeb     = "web"

	EnvSandbox    = "sandbox"
	EnvProduction = "production"
)

// MaxDevicesPerUser bounds the devices one user may register for push.
const MaxDevicesPerUser = 20

// Errors of the push service besides *ValidationError; others come from the
// store.
var (
	// ErrNotFound means the user, device, credential or conversation does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrTooManyDevices means the user already has MaxDevicesPerUser
	// registered devices.
	ErrTooManyDevices = fmt.Errorf("a user may register at most %d devices for push", MaxDevicesPerUser)
)

// ValidationError is an input the push service refuses; Field names it as
// the server API does ("token", "dnd_start").
type ValidationError struct {
	Field  string
	Reason string // for people: what a valid value looks like
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, reason string) *ValidationError {
	return &ValidationError{Field: field, Reason: reason}
}

var (
	hexToken    = regexp.MustCompile(`^[0-9a-fA-F]{64,200}$`)
	fcmToken    = regexp.MustCompile(`^[\x21-\x7e]+$`)
	topicRe     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
	localeRe    = regexp.MustCompile(`^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}$`)
	maxZoneName = 64
)

// Registration is what a client or the server API registers for a device.
type Registration struct {
	Platform    string
	Provider    string
	Token       string
	Topic       string
	Environment string
	Locale      string
	TimeZone    string
}

// validate checks a registration and returns it normalised (lower-case APNs
// token, default environment).
func (r Registration) validate() (Registration, error) {
	if !slices.Contains([]string{PlatformIOS, PlatformAndroid, PlatformWeb}, r.Platform) {
		return r, invalid("platform", `must be "ios", "android" or "web"`)
	}
	switch r.Provider {
	case ProviderAPNs:
		if r.Platform != PlatformIOS {
			return r, invalid("provider", `"apns" serves the "ios" platform only; use "fcm"`)
		}
		if !hexToken.MatchString(r.Token) {
			return r, invalid("token", "an APNs device token is 64 to 200 hexadecimal digits")
		}
		r.Token = toLowerASCII(r.Token)
		if r.Topic != "" && !topicRe.MatchString(r.Topic) {
			return r, invalid("topic", "must be a bundle id: letters, digits, '.', '-', '_', at most 255")
		}
		switch r.Environment {
		case "":
			r.Environment = EnvProduction
		case EnvSandbox, EnvProduction:
		default:
			return r, invalid("environment", `must be "sandbox" or "production"`)
		}
	case ProviderFCM:
		if len(r.Token) > 4096 || !fcmToken.MatchString(r.Token) {
			return r, invalid("token", "an FCM registration token is 1 to 4096 printable ASCII characters")
		}
		if r.Topic != "" || r.Environment != "" {
			return r, invalid("topic", "topic and environment are for APNs devices only")
		}
	default:
		return r, invalid("provider", `must be "apns" or "fcm"`)
	}
	if r.Locale != "" && !localeRe.MatchString(r.Locale) {
		return r, invalid("locale", `must be a BCP 47 language tag such as "en" or "zh-Hans-CN"`)
	}
	if r.TimeZone != "" {
		if err := validZone(r.TimeZone); err != nil {
			return r, invalid("time_zone", err.Error())
		}
	}
	return r, nil
}

// validZone checks an IANA zone name.
func validZone(name string) error {
	if len(name) > maxZoneName || !utf8.ValidString(name) {
		return errors.New("must be an IANA time zone such as \"Europe/Paris\"")
	}
	if _, err := time.LoadLocation(name); err != nil || name == "Local" {
		return errors.New("must be an IANA time zone such as \"Europe/Paris\"")
	}
	return nil
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// RegisterDevice registers device deviceID of user userID of app appID for
// push, or replaces its registration. A token registered by another user
// or device of the app moves to this one.
func (s *Service) RegisterDevice(ctx context.Context, appID, userID, deviceID string, r Registration) (store.Device, error) {
	if deviceID == "" || len(deviceID) > 128 || !utf8.ValidString(deviceID) {
		return store.Device{}, invalid("device_id", "must be 1 to 128 bytes of UTF-8, as at login")
	}
	r, err := r.validate()
	if err != nil {
		return store.Device{}, err
	}
	now := s.now()
	d := store.Device{
		ID: deviceID, UserID: userID, Platform: r.Platform, Provider: r.Provider, Token: r.Token,
		Topic: r.Topic, Environment: r.Environment, Locale: r.Locale, TimeZone: r.TimeZone,
		CreatedAt: now, UpdatedAt: now,
	}
	switch err := s.store.App(appID).PutDevice(ctx, d, MaxDevicesPerUser); {
	case errors.Is(err, store.ErrNotFound):
		return store.Device{}, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	case errors.Is(err, store.ErrLimit):
		return store.Device{}, ErrTooManyDevices
	case err != nil:
		return store.Device{}, fmt.Errorf("register device: %w", err)
	}
	return s.store.App(appID).GetDevice(ctx, userID, deviceID)
}

// UnregisterDevice removes a device's registration; ErrNotFound if it has
// none.
func (s *Service) UnregisterDevice(ctx context.Context, appID, userID, deviceID string) error {
	err := s.store.App(appID).DeleteDevice(ctx, userID, deviceID, "")
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("device %s of user %s: %w", deviceID, userID, ErrNotFound)
	}
	return err
}

// Devices returns the devices a user registered, by device id; ErrNotFound
// if the user does not exist.
func (s *Service) Devices(ctx context.Context, appID, userID string) ([]store.Device, error) {
	a := s.store.App(appID)
	if _, err := a.GetUser(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	return a.ListDevices(ctx, userID)
}

// ForgetDevices unregisters every device of a user registered before the
// given time: what revoking the user's tokens does.
func (s *Service) ForgetDevices(ctx context.Context, appID, userID string, before time.Time) (int64, error) {
	return s.store.App(appID).DeleteDevices(ctx, userID, before)
}

// Settings returns a user's push preferences.
func (s *Service) Settings(ctx context.Context, appID, userID string) (store.PushSettings, error) {
	st, err := s.store.App(appID).GetPushSettings(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	}
	return st, err
}

// SetSettings replaces a user's push preferences.
func (s *Service) SetSettings(ctx context.Context, appID, userID string, st store.PushSettings) (store.PushSettings, error) {
	switch {
	case st.DNDStart < 0 || st.DNDStart >= 24*60:
		return st, invalid("dnd_start", "must be minutes after midnight, 0 to 1439")
	case st.DNDEnd < 0 || st.DNDEnd >= 24*60:
		return st, invalid("dnd_end", "must be minutes after midnight, 0 to 1439")
	}
	if st.TimeZone != "" {
		if err := validZone(st.TimeZone); err != nil {
			return st, invalid("time_zone", err.Error())
		}
	}
	st.UpdatedAt = s.now()
	err := s.store.App(appID).PutPushSettings(ctx, userID, st)
	if errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	}
	return st, err
}

// MuteConversation sets or clears a user's mute of a conversation: no push
// for its messages while muted.
func (s *Service) MuteConversation(ctx context.Context, appID, userID, convID string, muted bool) error {
	err := s.store.App(appID).SetConversationMuted(ctx, userID, convID, muted)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("conversation %s of user %s: %w", convID, userID, ErrNotFound)
	}
	return err
}
