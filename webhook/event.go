package webhook

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Event types delivered to post-event endpoints. docs/webhooks.md
// describes each payload; sdk/go/webhook decodes them.
const (
	EventMessageCreated      = "message.created"
	EventMessageRecalled     = "message.recalled"
	EventMessageRead         = "message.read"
	EventConversationCreated = "conversation.created"
	EventUserOnline          = "user.online"
	EventUserOffline         = "user.offline"
	EventPushFailed          = "push.failed"
	EventEndpointDisabled    = "webhook.endpoint.disabled"
	// Support session events (package webhook/support).
	EventSupportCreated     = "support.session.created"
	EventSupportQueued      = "support.session.queued"
	EventSupportAssigned    = "support.session.assigned"
	EventSupportTransferred = "support.session.transferred"
	EventSupportClosed      = "support.session.closed"
	EventSupportRated       = "support.session.rated"
	// EventTest is sent by the "send a test event" action only; endpoints
	// cannot subscribe to it.
	EventTest = "webhook.test"
)

// EventTypes lists the types an endpoint may subscribe to, sorted.
var EventTypes = []string{
	EventConversationCreated, EventMessageCreated, EventMessageRead, EventMessageRecalled,
	EventPushFailed, EventSupportAssigned, EventSupportClosed, EventSupportCreated, EventSupportQueued,
	EventSupportRated, EventSupportTransferred, EventUserOffline, EventUserOnline, EventEndpointDisabled,
}

// knownEvent reports whether t is a type an endpoint may subscribe to.
func knownEvent(t string) bool { return slices.Contains(EventTypes, t) }

// Event is one thing that happened in an app, before it is delivered.
type Event struct {
	// ID is the event's id, the webhook-id of its deliveries: derived from
	// the event's type and key, so that the same happening reported twice
	// (a job handled twice, an emitter retry) is one event.
	ID   string
	Type string
	At   time.Time
	// Data is the event's payload (one of the *Data types of this package),
	// encoded as the envelope's "data".
	Data any
}

// NewEvent returns the event of type typ identified by key within its app
// (a message's conversation and seq, a user and a time).
func NewEvent(appID, typ, key string, at time.Time, data any) Event {
	return Event{ID: eventID(appID, typ, key), Type: typ, At: at.UTC().Truncate(time.Millisecond), Data: data}
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// eventID derives an event id: "evt_" and 26 characters of a hash of the
// app, the type and the key.
func eventID(appID, typ, key string) string {
	h := sha256.Sum256([]byte(appID + "\x00" + typ + "\x00" + key))
	return "evt_" + idEncoding.EncodeToString(h[:16])
}

// envelope is the JSON body of every delivery.
type envelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	AppID     string    `json:"app_id"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Payload encodes the delivery body of e for app appID.
func (e Event) Payload(appID string) ([]byte, error) {
	b, err := json.Marshal(envelope{ID: e.ID, Type: e.Type, AppID: appID, Timestamp: e.At, Data: e.Data})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.Type, err)
	}
	return b, nil
}

// MessageData is the payload of message.created and message.recalled.
type MessageData struct {
	ConvID      string   `json:"conv_id"`
	Seq         int64    `json:"seq"`
	SenderID    string   `json:"sender_id,omitempty"`
	Members     []string `json:"members,omitempty"`
	ClientMsgID string   `json:"client_msg_id,omitempty"`
	// Type is "text" or "custom"; Content its content, empty once recalled.
	Type       string     `json:"type"`
	Content    string     `json:"content,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	RecalledAt *time.Time `json:"recalled_at,omitempty"`
}

// ReadData is the payload of message.read: UserID read every message of
// ConvID up to Seq.
type ReadData struct {
	ConvID string    `json:"conv_id"`
	UserID string    `json:"user_id"`
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
}

// ConversationData is the payload of conversation.created.
type ConversationData struct {
	ConvID    string    `json:"conv_id"`
	Kind      string    `json:"kind"` // "p2p" or "system"
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// PresenceData is the payload of user.online and user.offline.
type PresenceData struct {
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
}

// PushFailedData is the payload of push.failed: an offline notification
// a provider refused for good.
type PushFailedData struct {
	UserID   string    `json:"user_id"`
	DeviceID string    `json:"device_id"`
	Provider string    `json:"provider"`
	ConvID   string    `json:"conv_id,omitempty"`
	Seq      int64     `json:"seq,omitempty"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// EndpointDisabledData is the payload of webhook.endpoint.disabled.
type EndpointDisabledData struct {
	WebhookID    string    `json:"webhook_id"`
	URL          string    `json:"url"`
	Reason       string    `json:"reason"`
	Failures     int       `json:"failures"`
	FailingSince time.Time `json:"failing_since"`
	At           time.Time `json:"at"`
}

// TestData is the payload of webhook.test.
type TestData struct {
	WebhookID string `json:"webhook_id"`
	Message   string `json:"message"`
}
