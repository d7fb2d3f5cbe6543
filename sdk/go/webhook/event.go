package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event types. docs/webhooks.md describes when each is sent.
const (
	EventMessageCreated      = "message.created"
	EventMessageRecalled     = "message.recalled"
	EventMessageEdited       = "message.edited"
	EventMessageRead         = "message.read"
	EventConversationCreated = "conversation.created"
	EventUserOnline          = "user.online"
	EventUserOffline         = "user.offline"
	EventPushFailed          = "push.failed"
	EventEndpointDisabled    = "webhook.endpoint.disabled"
	EventTest                = "webhook.test"
	// Group events: one per change of a group, in the group's order (each
	// is a notice message of the group's conversation, Group.Seq).
	EventGroupCreated           = "group.created"
	EventGroupUpdated           = "group.updated"
	EventGroupDismissed         = "group.dismissed"
	EventGroupMembersAdded      = "group.members_added"
	EventGroupMemberJoined      = "group.member_joined"
	EventGroupMembersRemoved    = "group.members_removed"
	EventGroupMemberLeft        = "group.member_left"
	EventGroupMemberRoleChanged = "group.member_role_changed"
	EventGroupMemberMuted       = "group.member_muted"
	EventGroupOwnerTransferred  = "group.owner_transferred"
	// EventPreSend is the type of the pre-send hook's requests.
	EventPreSend = "message.pre_send"
)

// Event is a delivery's body: its id (also the webhook-id header), type,
// app, time and data, which Data's methods decode by type.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	AppID     string          `json:"app_id"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// ErrEventType is returned by an Event's decoding methods when the event
// is of another type.
var ErrEventType = errors.New("webhook: event of another type")

// ParseEvent decodes a delivery's body. Verify the delivery first.
func ParseEvent(body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("webhook: decode event: %w", err)
	}
	if e.ID == "" || e.Type == "" {
		return Event{}, errors.New("webhook: decode event: no id or type")
	}
	return e, nil
}

func (e Event) decode(v any, types ...string) error {
	for _, t := range types {
		if e.Type == t {
			if err := json.Unmarshal(e.Data, v); err != nil {
				return fmt.Errorf("webhook: decode %s data: %w", e.Type, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s, want %v", ErrEventType, e.Type, types)
}

// Message is the data of message.created, message.recalled and
// message.edited.
type Message struct {
	ConvID   string `json:"conv_id"`
	Seq      int64  `json:"seq"`
	SenderID string `json:"sender_id,omitempty"`
	// Members are a one-to-one conversation's; a group message names its
	// group instead (GroupID), whose members are listed by the server API.
	Members     []string `json:"members,omitempty"`
	GroupID     string   `json:"group_id,omitempty"`
	Mentions    []string `json:"mentions,omitempty"`
	MentionAll  bool     `json:"mention_all,omitempty"`
	ClientMsgID string   `json:"client_msg_id,omitempty"`
	// Type is "text" or "custom"; Content is empty once recalled.
	Type       string     `json:"type"`
	Content    string     `json:"content,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	RecalledAt *time.Time `json:"recalled_at,omitempty"`
	// EditedAt is the time of the sender's last edit; nil if never.
	EditedAt *time.Time `json:"edited_at,omitempty"`
}

// Message decodes a message.created, message.recalled or message.edited
// event.
func (e Event) Message() (Message, error) {
	var m Message
	return m, e.decode(&m, EventMessageCreated, EventMessageRecalled, EventMessageEdited)
}

// Read is the data of message.read: UserID read ConvID up to Seq.
type Read struct {
	ConvID string    `json:"conv_id"`
	UserID string    `json:"user_id"`
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
}

// Read decodes a message.read event.
func (e Event) Read() (Read, error) {
	var r Read
	return r, e.decode(&r, EventMessageRead)
}

// Conversation is the data of conversation.created.
type Conversation struct {
	ConvID string `json:"conv_id"`
	// Kind is "p2p", "system" or "group".
	Kind    string   `json:"kind"`
	Members []string `json:"members"`
	// GroupID is set for a group's conversation (Members are then empty).
	GroupID   string    `json:"group_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Conversation decodes a conversation.created event.
func (e Event) Conversation() (Conversation, error) {
	var c Conversation
	return c, e.decode(&c, EventConversationCreated)
}

// Presence is the data of user.online and user.offline.
type Presence struct {
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
}

// Presence decodes a user.online or user.offline event.
func (e Event) Presence() (Presence, error) {
	var p Presence
	return p, e.decode(&p, EventUserOnline, EventUserOffline)
}

// Group is the data of the group.* events.
type Group struct {
	GroupID string `json:"group_id"`
	// By is the member who made the change; empty for the app's backend.
	By string `json:"by,omitempty"`
	// UserIDs are the users the change is about: the first members
	// (created), those added, joined, removed, left, whose role changed,
	// muted, or the new owner (transferred).
	UserIDs []string `json:"user_ids,omitempty"`
	// Role is the new role of group.member_role_changed.
	Role string `json:"role,omitempty"`
	// MutedUntil ends the mute of group.member_muted; nil when unmuted.
	MutedUntil *time.Time `json:"muted_until,omitempty"`
	// Fields are what group.updated changed.
	Fields []string `json:"fields,omitempty"`
	// Seq is the change's notice in the group's conversation: group events
	// of one group are ordered by it.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
}

// Group decodes a group.* event.
func (e Event) Group() (Group, error) {
	var g Group
	return g, e.decode(&g, EventGroupCreated, EventGroupUpdated, EventGroupDismissed, EventGroupMembersAdded,
		EventGroupMemberJoined, EventGroupMembersRemoved, EventGroupMemberLeft, EventGroupMemberRoleChanged,
		EventGroupMemberMuted, EventGroupOwnerTransferred)
}

// PushFailure is the data of push.failed.
type PushFailure struct {
	UserID   string    `json:"user_id"`
	DeviceID string    `json:"device_id"`
	Provider string    `json:"provider"`
	ConvID   string    `json:"conv_id,omitempty"`
	Seq      int64     `json:"seq,omitempty"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// PushFailure decodes a push.failed event.
func (e Event) PushFailure() (PushFailure, error) {
	var p PushFailure
	return p, e.decode(&p, EventPushFailed)
}

// EndpointDisabled is the data of webhook.endpoint.disabled.
type EndpointDisabled struct {
	WebhookID    string    `json:"webhook_id"`
	URL          string    `json:"url"`
	Reason       string    `json:"reason"`
	Failures     int       `json:"failures"`
	FailingSince time.Time `json:"failing_since"`
	At           time.Time `json:"at"`
}

// EndpointDisabled decodes a webhook.endpoint.disabled event.
func (e Event) EndpointDisabled() (EndpointDisabled, error) {
	var d EndpointDisabled
	return d, e.decode(&d, EventEndpointDisabled)
}

// PreSend is the data of a pre-send hook request: the message to allow,
// reject, modify or drop.
type PreSend struct {
	SenderID string `json:"sender_id,omitempty"`
	// ToUserID or ToGroupID names the recipient.
	ToUserID    string `json:"to_user_id,omitempty"`
	ToGroupID   string `json:"to_group_id,omitempty"`
	ConvID      string `json:"conv_id"`
	ClientMsgID string `json:"client_msg_id"`
	Type        string `json:"type"`
	Content     string `json:"content"`
	ServerAPI   bool   `json:"server_api"`
}

// PreSend decodes a pre-send hook request.
func (e Event) PreSend() (PreSend, error) {
	var p PreSend
	return p, e.decode(&p, EventPreSend)
}

// Verdict is a pre-send hook's answer; encode it as the answer's JSON
// body. Use Allow, Reject, Modify or Drop.
type Verdict struct {
	Action  string  `json:"action"`
	Code    string  `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	Content *string `json:"content,omitempty"`
}

// Allow lets the message through as sent.
func Allow() Verdict { return Verdict{Action: "allow"} }

// Reject refuses the message: the sender's send fails with error
// message_rejected, reason code (1 to 64 of a-z 0-9 _ . -) and message.
func Reject(code, message string) Verdict {
	return Verdict{Action: "reject", Code: code, Message: message}
}

// Modify stores and delivers content instead of the message's own.
func Modify(content string) Verdict { return Verdict{Action: "modify", Content: &content} }

// Drop stores and delivers nothing, while the sender's send succeeds.
func Drop() Verdict { return Verdict{Action: "drop"} }
