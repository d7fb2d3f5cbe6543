package serverapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// EditedAt is the time of the message's last edit; zero if never
	// edited.
	EditedAt time.Time `json:"edited_at,omitzero"`
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

// SearchOptions narrow SearchMessages. The zero value searches every
// conversation of the user, 20 messages a page.
type SearchOptions struct {
	// ConvID searches one conversation only; the user must be a member
	// (403 forbidden otherwise).
	ConvID string
	// SenderID keeps only the messages of one user.
	SenderID string
	// Types keeps only messages of these types ("text", "file", ...; at
	// most 8).
	Types []string
	// From and To bound the messages' times, inclusive; zero: unbounded.
	From, To time.Time
	// Cursor continues a search: the NextCursor of the page before, with
	// the same query and options.
	Cursor string
	// Limit is the page size: 0 for 20, at most 100.
	Limit int
}

// SearchPage is one page of SearchMessages, newest first.
type SearchPage struct {
	Messages []Message `json:"messages"`
	// NextCursor continues the search (SearchOptions.Cursor); "" when
	// there is no more.
	NextCursor string `json:"next_cursor"`
}

// SearchMessages finds the messages user may read that match query,
// newest first, as the user's own search from a client would (GET
// /v1/users/{id}/messages/search; see docs/search.md): every word must
// match, as the start of a word, ignoring case and accents; Chinese,
// Japanese and Korean text matches from one character.
func (c *Client) SearchMessages(ctx context.Context, user, query string, opts SearchOptions) (SearchPage, error) {
	if opts.Limit < 0 {
		return SearchPage{}, errors.New("magpie: negative limit")
	}
	q := url.Values{"q": {query}}
	for name, v := range map[string]string{"conv_id": opts.ConvID, "sender_id": opts.SenderID,
		"types": strings.Join(opts.Types, ","), "cursor": opts.Cursor} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if !opts.From.IsZero() {
		q.Set("from", opts.From.UTC().Format(time.RFC3339Nano))
	}
	if !opts.To.IsZero() {
		q.Set("to", opts.To.UTC().Format(time.RFC3339Nano))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var resp SearchPage
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/users/" + url.PathEscape(user) + "/messages/search", query: q, out: &resp})
	if err != nil {
		return SearchPage{}, err
	}
	return resp, nil
}
