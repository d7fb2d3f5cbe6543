package serverapi

import (
	"context"
	"net/http"
	"time"
)

// MessageInput is a message to send on behalf of a user, or a system
// message. Empty optional fields are not sent.
type MessageInput struct {
	// FromUserID is the sender; empty for a system message.
	FromUserID string `json:"from_user_id,omitempty"`
	// ToUserID is the recipient. Required.
	ToUserID string `json:"to_user_id"`
	// System sends a system message (FromUserID empty), in the recipient's
	// system conversation.
	System bool `json:"system,omitempty"`
	// ClientMsgID deduplicates the message per sender, as a client's
	// does; empty means one from the Idempotency-Key, or a fresh one.
	ClientMsgID string `json:"client_msg_id,omitempty"`
	// Type is "text" or "custom" (Content is then a JSON document).
	Type string `json:"type"`
	// Content is the message's content, in UTF-8.
	Content string `json:"content"`
	// Push sets the message's push options; nil means the app's defaults.
	Push *PushOptions `json:"push,omitempty"`
}

// Message is a stored message.
type Message struct {
	ConvID      string    `json:"conv_id"`
	Seq         int64     `json:"seq"`
	SenderID    string    `json:"sender_id"`
	ClientMsgID string    `json:"client_msg_id"`
	Type        string    `json:"type"`
	Content     string    `json:"content"`
	CreatedAt   time.Time `json:"created_at"`
	Recalled    bool      `json:"recalled"`
}

// SendResult is the outcome of SendMessage.
type SendResult struct {
	// Message is the message as stored.
	Message Message `json:"message"`
	// Duplicate is set if a message with the same sender and client
	// message id was already stored; Message is that one.
	Duplicate bool `json:"duplicate"`
}

// SendMessage sends a message through the same pipeline as a client's
// sends (POST /v1/messages): sequencing, deduplication, delivery, receipts
// and offline push. With IdempotencyKey and no ClientMsgID, a retried call
// stores the message once.
func (c *Client) SendMessage(ctx context.Context, in MessageInput, opts ...CallOption) (SendResult, error) {
	var resp SendResult
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/messages", in: in, out: &resp, header: callHeader(opts)}); err != nil {
		return SendResult{}, err
	}
	return resp, nil
}
