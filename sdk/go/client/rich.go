package client

import (
	"context"
	"encoding/json"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Message types. Text and custom are free-form; the others carry a JSON
// object of their type's fields, checked by the server (see the Content
// types below and docs/protocol.md, "Rich messages").
const (
	TypeText     = "text"
	TypeCustom   = "custom"
	TypeImage    = "image"
	TypeFile     = "file"
	TypeAudio    = "audio"
	TypeVideo    = "video"
	TypeLocation = "location"
)

// TypedContent is the content of a typed message: ImageContent,
// FileContent, AudioContent, VideoContent or LocationContent.
type TypedContent interface {
	// MessageType returns the message type the content goes with.
	MessageType() string
}

// ImageContent is the content of an image message. URLs are http(s), or
// references to uploaded files (FileRef, see UploadFile), at most 2048
// bytes.
type ImageContent struct {
	URL          string `json:"url"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Size         int64  `json:"size"`
	MIME         string `json:"mime"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

// FileContent is the content of a file message.
type FileContent struct {
	URL  string `json:"url"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	MIME string `json:"mime"`
}

// AudioContent is the content of an audio message.
type AudioContent struct {
	URL        string `json:"url"`
	DurationMS int64  `json:"duration_ms"`
	Size       int64  `json:"size"`
	MIME       string `json:"mime"`
}

// VideoContent is the content of a video message.
type VideoContent struct {
	URL          string `json:"url"`
	DurationMS   int64  `json:"duration_ms"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	Size         int64  `json:"size"`
	MIME         string `json:"mime"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

// LocationContent is the content of a location message.
type LocationContent struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// MessageType implements TypedContent.
func (ImageContent) MessageType() string { return TypeImage }

// MessageType implements TypedContent.
func (FileContent) MessageType() string { return TypeFile }

// MessageType implements TypedContent.
func (AudioContent) MessageType() string { return TypeAudio }

// MessageType implements TypedContent.
func (VideoContent) MessageType() string { return TypeVideo }

// MessageType implements TypedContent.
func (LocationContent) MessageType() string { return TypeLocation }

// EncodeContent returns the type and JSON content of a typed message, for
// Send, SendAsync, SendToGroup and the server API.
func EncodeContent(c TypedContent) (typ, content string, err error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	return c.MessageType(), string(b), nil
}

// DecodeContent decodes the content of a typed message into v (such as an
// *ImageContent). Fields the struct does not have are ignored.
func DecodeContent(m Message, v any) error { return json.Unmarshal([]byte(m.Content), v) }

// SendTyped sends a typed message to a user, like Send.
func (c *Client) SendTyped(ctx context.Context, to string, content TypedContent, opts ...SendOption) (SendResult, error) {
	typ, body, err := EncodeContent(content)
	if err != nil {
		return SendResult{}, err
	}
	return c.Send(ctx, to, typ, body, opts...)
}

// SendTypedToGroup sends a typed message to a group, like SendToGroup.
func (c *Client) SendTypedToGroup(ctx context.Context, groupID string, content TypedContent, opts ...SendOption) (SendResult, error) {
	typ, body, err := EncodeContent(content)
	if err != nil {
		return SendResult{}, err
	}
	return c.SendToGroup(ctx, groupID, typ, body, opts...)
}

// Edit reports that a message already returned by Next was edited by its
// sender: Message is the new version (EditedAt set).
type Edit struct {
	Message Message
}

// Reaction reports that a member added or removed an emoji on a message:
// Count is the message's new count for that emoji.
type Reaction struct {
	ConvID string
	Seq    int64
	Emoji  string
	Count  int64
	// UserID is the member who acted; Added is false for a removal.
	UserID string
	Added  bool
	At     time.Time
}

func (Edit) event()     {}
func (Reaction) event() {}

// ReactionCount is one emoji's count on a message.
type ReactionCount struct {
	Emoji string
	Count int64
	// Reacted is set if the user is among those who put it.
	Reacted bool
}

func toReaction(u *magpiev1.ReactionUpdate) Reaction {
	return Reaction{ConvID: u.GetConvId(), Seq: u.GetSeq(), Emoji: u.GetEmoji(), Count: u.GetCount(), UserID: u.GetUserId(),
		Added: u.GetAdded(), At: time.UnixMilli(u.GetAtMs())}
}

// onReaction queues a pushed reaction update for Next.
func (c *Client) onReaction(_ *session, u *magpiev1.ReactionUpdate) {
	c.events.push(toReaction(u))
}

// RecallMessage recalls a message the user sent, within the app's recall
// window (120 seconds by default), and returns it recalled. Errors are
// *Error with codes such as forbidden (not the sender, or recall disabled),
// recall_window_passed and message_not_found.
func (c *Client) RecallMessage(ctx context.Context, convID string, seq int64) (Message, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_RecallMessage{RecallMessage: &magpiev1.RecallMessage{ConvId: convID, Seq: seq}}})
	if err != nil {
		return Message{}, err
	}
	return toMessage(r.GetMessage(), c.me()), nil
}

// EditMessage replaces the content of a text or custom message the user
// sent, within the app's edit window (900 seconds by default), and returns
// the new version. Errors are *Error with codes such as forbidden,
// edit_window_passed, message_recalled, invalid_message and
// message_rejected.
func (c *Client) EditMessage(ctx context.Context, convID string, seq int64, content string) (Message, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_EditMessage{EditMessage: &magpiev1.EditMessage{ConvId: convID, Seq: seq, Content: content}}})
	if err != nil {
		return Message{}, err
	}
	return toMessage(r.GetMessage(), c.me()), nil
}

// AddReaction puts the user's emoji on a message and returns the emoji's
// new count. Adding it again changes nothing. Errors are *Error with codes
// such as forbidden, invalid_argument (emoji), message_recalled and
// too_many_reactions (20 distinct emoji per message).
func (c *Client) AddReaction(ctx context.Context, convID string, seq int64, emoji string) (Reaction, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_AddReaction{AddReaction: &magpiev1.AddReaction{ConvId: convID, Seq: seq, Emoji: emoji}}})
	if err != nil {
		return Reaction{}, err
	}
	return toReaction(r.GetReactionUpdate()), nil
}

// RemoveReaction takes the user's emoji off a message and returns the
// emoji's new count.
func (c *Client) RemoveReaction(ctx context.Context, convID string, seq int64, emoji string) (Reaction, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_RemoveReaction{RemoveReaction: &magpiev1.RemoveReaction{ConvId: convID, Seq: seq, Emoji: emoji}}})
	if err != nil {
		return Reaction{}, err
	}
	return toReaction(r.GetReactionUpdate()), nil
}

// Reactions returns the reactions of messages of a conversation (at most
// 100 seqs), by seq; messages without reactions are left out. Each
// message's emoji are in the order they were first put.
func (c *Client) Reactions(ctx context.Context, convID string, seqs ...int64) (map[int64][]ReactionCount, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_GetReactions{GetReactions: &magpiev1.GetReactions{ConvId: convID, Seqs: seqs}}})
	if err != nil {
		return nil, err
	}
	out := map[int64][]ReactionCount{}
	for _, m := range r.GetReactionPage().GetMessages() {
		for _, rc := range m.GetReactions() {
			out[m.GetSeq()] = append(out[m.GetSeq()], ReactionCount{Emoji: rc.GetEmoji(), Count: rc.GetCount(), Reacted: rc.GetReacted()})
		}
	}
	return out, nil
}
