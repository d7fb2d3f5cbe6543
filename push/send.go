package push

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/push/provider"
)

// QueueSend is the bus queue of send jobs: one notification for one device.
const QueueSend = "push"

// SendJobType is the bus.Job Type of a send job.
const SendJobType = "push.send"

// SendJob is the body of a send job: notification N for device DeviceID of
// user UserID (registered with Provider and Token when the job was made),
// about message Seq of ConvID created at CreatedAt.
type SendJob struct {
	// NotificationID is the offline job's id (OfflineJobID): the push log
	// entries of every device of one notification share it.
	NotificationID string
	UserID         string
	DeviceID       string
	Provider       string
	Token          string
	Topic          string
	Environment    string
	ConvID         string
	Seq            int64
	CreatedAt      time.Time
	N              provider.Notification
}

type sendWire struct {
	V              int                   `json:"v"`
	NotificationID string                `json:"notification_id"`
	UserID         string                `json:"user_id"`
	DeviceID       string                `json:"device_id"`
	Provider       string                `json:"provider"`
	Token          string                `json:"token"`
	Topic          string                `json:"topic,omitempty"`
	Environment    string                `json:"environment,omitempty"`
	ConvID         string                `json:"conv_id"`
	Seq            int64                 `json:"seq"`
	CreatedAtMS    int64                 `json:"created_at_ms"`
	N              provider.Notification `json:"notification"`
}

// SendJobID returns the id of the send job of notification notifID to a
// device holding token: "snd_" and 32 hex digits of a SHA-256. A
// notification re-handled after a failure publishes the same ids.
func SendJobID(notifID, deviceID, token string) string {
	h := sha256.New()
	for _, s := range []string{notifID, deviceID, token} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return "snd_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// EncodeSend returns the versioned JSON body of j.
func EncodeSend(j SendJob) ([]byte, error) {
	w := sendWire{
		V: jobVersion, NotificationID: j.NotificationID, UserID: j.UserID, DeviceID: j.DeviceID, Provider: j.Provider,
		Token: j.Token, Topic: j.Topic, Environment: j.Environment, ConvID: j.ConvID, Seq: j.Seq,
		CreatedAtMS: j.CreatedAt.UnixMilli(), N: j.N,
	}
	if err := w.validate(); err != nil {
		return nil, fmt.Errorf("encode send job: %w", err)
	}
	return encodeBody("send job", w)
}

// DecodeSend parses a body written by EncodeSend. Every error wraps
// ErrMalformed.
func DecodeSend(b []byte) (SendJob, error) {
	var w sendWire
	if err := decodeBody("send job", b, &w); err != nil {
		return SendJob{}, err
	}
	if err := w.validate(); err != nil {
		return SendJob{}, fmt.Errorf("decode send job: %w", err)
	}
	return SendJob{
		NotificationID: w.NotificationID, UserID: w.UserID, DeviceID: w.DeviceID, Provider: w.Provider,
		Token: w.Token, Topic: w.Topic, Environment: w.Environment, ConvID: w.ConvID, Seq: w.Seq,
		CreatedAt: time.UnixMilli(w.CreatedAtMS).UTC(), N: w.N,
	}, nil
}

func (w sendWire) validate() error {
	switch {
	case w.V != jobVersion:
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, w.V, jobVersion)
	case w.NotificationID == "" || w.UserID == "" || w.DeviceID == "" || w.Token == "" || w.ConvID == "":
		return fmt.Errorf("%w: notification_id, user_id, device_id, token and conv_id are required", ErrMalformed)
	case w.Provider != ProviderAPNs && w.Provider != ProviderFCM:
		return fmt.Errorf("%w: provider %q", ErrMalformed, w.Provider)
	case w.Seq <= 0 || w.CreatedAtMS <= 0:
		return fmt.Errorf("%w: seq and created_at_ms must be positive", ErrMalformed)
	case w.N.ID == "":
		return fmt.Errorf("%w: notification id is empty", ErrMalformed)
	}
	return nil
}
