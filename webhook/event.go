package webhook

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
)

// Event types delivered to post-event endpoints. docs/webhooks.md
// describes each payload; sdk/go/webhook decodes them.
const (
	EventMessageCreated      = "message.created"
	EventMessageRecalled     = "message.recalled"
	EventMessageEdited       = sdk.EventMessageEdited
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
	// Group events, from the notices of group changes.
	EventGroupCreated           = sdk.EventGroupCreated
	EventGroupUpdated           = sdk.EventGroupUpdated
	EventGroupDismissed         = sdk.EventGroupDismissed
	EventGroupMembersAdded      = sdk.EventGroupMembersAdded
	EventGroupMemberJoined      = sdk.EventGroupMemberJoined
	EventGroupMembersRemoved    = sdk.EventGroupMembersRemoved
	EventGroupMemberLeft        = sdk.EventGroupMemberLeft
	EventGroupMemberRoleChanged = sdk.EventGroupMemberRoleChanged
	EventGroupMemberMuted       = sdk.EventGroupMemberMuted
	EventGroupOwnerTransferred  = sdk.EventGroupOwnerTransferred
	// EventTest is sent by the "send a test event" action only; endpoints
	// cannot subscribe to it.
	EventTest = "webhook.test"
)

// EventTypes lists the types an endpoint may subscribe to, sorted.
var EventTypes = []string{
	EventConversationCreated, EventGroupCreated, EventGroupDismissed, EventGroupMemberJoined, EventGroupMemberLeft,
	EventGroupMemberMuted, EventGroupMemberRoleChanged, EventGroupMembersAdded, EventGroupMembersRemoved,
	EventGroupOwnerTransferred, EventGroupUpdated, EventMessageCreated, EventMessageEdited, EventMessageRead, EventMessageRecalled,
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

// Payloads of the events: the server SDK's types, so that what the server
// sends is what the SDK decodes.
type (
	// MessageData is the payload of message.created and message.recalled.
	MessageData = sdk.Message
	// ReadData is the payload of message.read.
	ReadData = sdk.Read
	// ConversationData is the payload of conversation.created.
	ConversationData = sdk.Conversation
	// PresenceData is the payload of user.online and user.offline.
	PresenceData = sdk.Presence
	// PushFailedData is the payload of push.failed.
	PushFailedData = sdk.PushFailure
	// EndpointDisabledData is the payload of webhook.endpoint.disabled.
	EndpointDisabledData = sdk.EndpointDisabled
	// GroupData is the payload of the group.* events.
	GroupData = sdk.Group
)

// TestData is the payload of webhook.test.
type TestData struct {
	WebhookID string `json:"webhook_id"`
	Message   string `json:"message"`
}
