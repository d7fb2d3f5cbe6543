// Package provider defines what Magpie's push workers need of a push
// provider (APNs, FCM, and later the vendor channels of Huawei, Xiaomi,
// OPPO, vivo and Honor): a Sender that delivers one Notification to one
// device Target and says, through an *Error, whether a failure is worth
// retrying and whether the token is dead. Packages apns and fcm implement
// it; the worker in package push chooses the provider of each device.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Sender delivers notifications through one provider with one app's
// credential. It is safe for concurrent use.
type Sender interface {
	// Send delivers n to the device t. A nil error means the provider
	// accepted it. Any other error is an *Error (errors.As) or a context
	// error.
	Send(ctx context.Context, t Target, n Notification) error
}

// Target is one device, as its registration names it.
type Target struct {
	// Token is the provider's device token.
	Token string
	// Topic is the APNs topic (bundle id); empty means the credential's.
	Topic string
	// Environment is the APNs environment, "sandbox" or "production";
	// empty means production.
	Environment string
}

// Priority of a notification.
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
)

// Notification is what a device is sent, provider-neutral.
type Notification struct {
	// ID identifies the notification to the provider: the same for every
	// attempt of one notification to one device (APNs apns-id is derived
	// from it).
	ID string `json:"id,omitempty"`
	// Title and Body are the alert; both empty for a silent notification.
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	// Badge is the app icon badge (the user's unread count); nil leaves it
	// unchanged.
	Badge *int `json:"badge,omitempty"`
	// Sound is the sound to play; empty means "default" for an alert and
	// none for a silent notification.
	Sound string `json:"sound,omitempty"`
	// Silent sends a background (data-only) notification: no alert, no
	// sound.
	Silent bool `json:"silent,omitempty"`
	// CollapseID lets a newer notification replace an older one with the
	// same id on the device.
	CollapseID string `json:"collapse_id,omitempty"`
	// ThreadID groups notifications on the device (the conversation id).
	ThreadID string `json:"thread_id,omitempty"`
	// Priority is PriorityHigh or PriorityNormal; empty means high for an
	// alert and normal for a silent notification.
	Priority string `json:"priority,omitempty"`
	// MutableContent lets an iOS notification service extension change
	// the notification before it is shown.
	MutableContent bool `json:"mutable_content,omitempty"`
	// Data is delivered to the app with the notification.
	Data map[string]string `json:"data,omitempty"`
	// Expiration is when the provider may drop an undelivered
	// notification; zero means the provider's default.
	Expiration time.Time `json:"expiration,omitzero"`
}

// Error is a provider's refusal of one Send.
type Error struct {
	// Provider is "apns", "fcm", ...
	Provider string
	// Status is the HTTP status of the provider's answer; 0 when there was
	// none (network error).
	Status int
	// Reason is the provider's reason ("BadDeviceToken", "UNREGISTERED",
	// "TooManyRequests"), or a description of a network error.
	Reason string
	// InvalidToken means the token is dead: remove the registration and
	// never send to it again.
	InvalidToken bool
	// Retryable means the same request may succeed later (429, 5xx,
	// network errors).
	Retryable bool
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: ", e.Provider)
	if e.Status != 0 {
		s += fmt.Sprintf("%d ", e.Status)
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrCredential means a credential cannot be used: a malformed .p8 key or
// service-account JSON, a missing key id, team id, topic or project id.
// Errors wrapping it say what is wrong in terms an admin can act on.
var ErrCredential = errors.New("invalid push credential")

// MaxRetryAfter caps the delay ParseRetryAfter returns.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter returns the delay an HTTP Retry-After value asks for, in
// seconds or as an HTTP date relative to now, at most MaxRetryAfter; 0 when
// v is empty, malformed or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	var d time.Duration
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(s) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
