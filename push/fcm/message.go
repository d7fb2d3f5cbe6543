package fcm

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/magpie-im/magpie/push/provider"
)

// MaxPayloadBytes is FCM's limit on a message's payload: here, the JSON
// of its notification and data together.
const MaxPayloadBytes = 4096

// message builds the FCM message of n to t, at now (for the TTL of
// n.Expiration). It refuses, as a permanent *provider.Error, a payload
// over MaxPayloadBytes.
//
// The alert (omitted for a silent notification) is Message.Notification;
// n.Data is Message.Data, with "badge" added when n.Badge is set, since
// Android has no standard badge. Android gets the priority, the collapse
// key, a TTL and, for an alert, the sound and a tag (the collapse id)
// that replaces an earlier notification in the drawer. iOS devices reached
// through FCM get the APNs headers and aps fields the apns package would
// send; web push gets the Urgency and TTL headers.
func message(t provider.Target, n provider.Notification, now time.Time) (*messaging.Message, error) {
	high := n.Priority == provider.PriorityHigh || (n.Priority == "" && !n.Silent)
	m := &messaging.Message{
		Token:   t.Token,
		Data:    data(n),
		Android: android(n, high, now),
		APNS:    apns(n, high),
		Webpush: webpush(high, n, now),
	}
	if !n.Silent {
		m.Notification = &messaging.Notification{Title: n.Title, Body: n.Body}
	}
	if size := payloadSize(m); size > MaxPayloadBytes {
		return nil, &provider.Error{
			Provider: Name, Reason: "PayloadTooLarge",
			Err: fmt.Errorf("payload is %d bytes, more than %d", size, MaxPayloadBytes),
		}
	}
	return m, nil
}

// data returns n.Data with the badge, nil if empty.
func data(n provider.Notification) map[string]string {
	if len(n.Data) == 0 && n.Badge == nil {
		return nil
	}
	d := maps.Clone(n.Data)
	if d == nil {
		d = make(map[string]string, 1)
	}
	if n.Badge != nil {
		if _, set := d["badge"]; !set {
			d["badge"] = strconv.Itoa(*n.Badge)
		}
	}
	return d
}

// sound returns the sound of n: none when silent, else n.Sound or
// "default".
func sound(n provider.Notification) string {
	switch {
	case n.Silent:
		return ""
	case n.Sound == "":
		return "default"
	}
	return n.Sound
}

// ttl returns how long before exp FCM may keep the message, from now; nil
// when exp is zero (FCM's default, 4 weeks), 0 when exp has passed.
func ttl(exp, now time.Time) *time.Duration {
	if exp.IsZero() {
		return nil
	}
	d := max(exp.Sub(now).Truncate(time.Second), 0)
	return &d
}

func android(n provider.Notification, high bool, now time.Time) *messaging.AndroidConfig {
	a := &messaging.AndroidConfig{Priority: "normal", CollapseKey: n.CollapseID, TTL: ttl(n.Expiration, now)}
	if high {
		a.Priority = "high"
	}
	if !n.Silent {
		a.Notification = &messaging.AndroidNotification{Sound: sound(n), Tag: n.CollapseID}
	}
	return a
}

func apns(n provider.Notification, high bool) *messaging.APNSConfig {
	h := map[string]string{"apns-priority": "10", "apns-push-type": "alert"}
	if !high || n.Silent {
		h["apns-priority"] = "5" // APNs refuses 10 for background
	}
	if n.Silent {
		h["apns-push-type"] = "background"
	}
	if n.CollapseID != "" {
		h["apns-collapse-id"] = n.CollapseID
	}
	if !n.Expiration.IsZero() {
		h["apns-expiration"] = strconv.FormatInt(n.Expiration.Unix(), 10)
	}
	aps := &messaging.Aps{
		Sound:            sound(n),
		ContentAvailable: n.Silent,
		MutableContent:   n.MutableContent,
		ThreadID:         n.ThreadID,
	}
	if !n.Silent {
		aps.Badge = n.Badge // a background notification may not carry one
	}
	return &messaging.APNSConfig{Headers: h, Payload: &messaging.APNSPayload{Aps: aps}}
}

func webpush(high bool, n provider.Notification, now time.Time) *messaging.WebpushConfig {
	h := map[string]string{"Urgency": "normal"}
	if high {
		h["Urgency"] = "high"
	}
	if d := ttl(n.Expiration, now); d != nil {
		h["TTL"] = strconv.FormatInt(int64(*d/time.Second), 10)
	}
	return &messaging.WebpushConfig{Headers: h}
}

// payloadSize returns the size of m's notification and data as JSON.
func payloadSize(m *messaging.Message) int {
	size := 0
	if m.Notification != nil {
		b, _ := json.Marshal(m.Notification)
		size += len(b)
	}
	if m.Data != nil {
		b, _ := json.Marshal(m.Data)
		size += len(b)
	}
	return size
}
