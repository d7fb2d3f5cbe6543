package client

import (
	"context"
	"errors"
	"slices"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Conversation is the state of one of the user's conversations.
type Conversation struct {
	// ID is the conversation id.
	ID string
	// Members are the user ids of the members, sorted.
	Members []string
	// MaxSeq is the highest seq in the conversation.
	MaxSeq int64
	// ReadSeq is the user's read cursor, moved by MarkRead on any device.
	ReadSeq int64
	// DeliveredSeq is this device's delivery cursor as the server knows it.
	DeliveredSeq int64
	// PeerReadSeq is the peer's read cursor in a one-to-one conversation.
	PeerReadSeq int64
	// PeerDeliveredSeq is the highest delivery cursor of the peer's
	// devices in a one-to-one conversation.
	PeerDeliveredSeq int64
	// Unread is the number of messages after ReadSeq not sent by the user.
	Unread int64
	// UpdatedAt is the time of the last new message or recall.
	UpdatedAt time.Time
	// LastMessage is the message at MaxSeq, for a preview; nil if unknown.
	LastMessage *Message
	// Muted is set while the user muted the conversation
	// (MuteConversation): no push notifications for its messages.
	Muted bool
	// GroupID is the group of a group's conversation; empty otherwise.
	// A group's Members are empty: GroupMembers lists them.
	GroupID string
	// MentionSeq is the newest message that mentioned the user; the user
	// has an unread mention while it is above ReadSeq.
	MentionSeq int64
	// PinnedAt is when the user pinned the conversation (zero: not
	// pinned); Draft its unsent text; ClearedSeq the seq up to which it
	// cleared the history (SetConversation), on all its devices.
	PinnedAt   time.Time
	Draft      string
	ClearedSeq int64
}

// ConversationPrefs changes the user's own settings of a conversation;
// nil fields stay.
type ConversationPrefs struct {
	Pinned *bool
	// Draft is the unsent text to keep (at most 4096 bytes; "" drops it).
	Draft *string
	// ClearHistory clears the history for the user (not for the other
	// members): every message sent so far is gone for it, and read.
	ClearHistory bool
}

// SetConversation pins or unpins a conversation, keeps its draft, or clears
// its history, for the user on all its devices (the others see it at their
// next Conversations), and returns the conversation after the change. It
// waits for a connection until ctx ends.
func (c *Client) SetConversation(ctx context.Context, convID string, p ConversationPrefs) (Conversation, error) {
	if convID == "" {
		return Conversation{}, errors.New("magpie: set conversation: empty conversation id")
	}
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{
		ConvId: convID, Pinned: p.Pinned, Draft: p.Draft, ClearHistory: p.ClearHistory,
	}}})
	if err != nil {
		return Conversation{}, err
	}
	return toConversation(r.GetConversationState(), c.me()), nil
}

// HasUnreadMention reports whether a message the user has not read
// mentions it.
func (cv Conversation) HasUnreadMention() bool { return cv.MentionSeq > cv.ReadSeq }

// Conversations returns the state of every conversation of the user. It
// waits for a connection until ctx ends.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	cursor := ""
	for {
		r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{
			SyncConversations: &magpiev1.SyncConversations{Cursor: cursor, Limit: conversationPage},
		}})
		if err != nil {
			return nil, err
		}
		page := r.GetConversationPage()
		me := c.me()
		for _, st := range page.GetConversations() {
			out = append(out, toConversation(st, me))
		}
		if cursor = page.GetNextCursor(); cursor == "" {
			return out, nil
		}
	}
}

func toConversation(st *magpiev1.ConversationState, me string) Conversation {
	cv := Conversation{
		ID: st.GetConvId(), Members: slices.Clone(st.GetMembers()), MaxSeq: st.GetMaxSeq(),
		ReadSeq: st.GetReadSeq(), DeliveredSeq: st.GetDeliveredSeq(), PeerReadSeq: st.GetPeerReadSeq(),
		PeerDeliveredSeq: st.GetPeerDeliveredSeq(), Unread: st.GetUnread(),
		UpdatedAt: time.UnixMilli(st.GetUpdatedAtMs()), Muted: st.GetMuted(),
		GroupID: st.GetGroupId(), MentionSeq: st.GetMentionSeq(), Draft: st.GetDraft(), ClearedSeq: st.GetClearedSeq(),
	}
	if ms := st.GetPinnedAtMs(); ms != 0 {
		cv.PinnedAt = time.UnixMilli(ms)
	}
	if m := st.GetLastMessage(); m != nil {
		lm := toMessage(m, me)
		lm.Members = cv.Members
		cv.LastMessage = &lm
	}
	return cv
}

// History returns up to limit messages of a conversation that precede
// beforeSeq, oldest first, and whether older ones exist; beforeSeq 0 means
// the newest messages. It reads the server's copy, for scrollback: it does
// not affect the events Next returns. limit 0 means 50; the server caps it
// at 200. History waits for a connection until ctx ends.
func (c *Client) History(ctx context.Context, convID string, beforeSeq int64, limit int) ([]Message, bool, error) {
	if convID == "" || beforeSeq < 0 || limit < 0 {
		return nil, false, errors.New("magpie: history: empty conversation id, or negative seq or limit")
	}
	if beforeSeq == 1 {
		return nil, false, nil
	}
	to := int64(0)
	if beforeSeq > 1 {
		to = beforeSeq - 1
	}
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{
		ConvId: convID, ToSeq: to, Limit: int32(min(limit, maxPage)), Desc: true,
	}}})
	if err != nil {
		return nil, false, err
	}
	page := r.GetMessagePage()
	msgs := toMessages(page.GetMessages(), c.me())
	members := c.recv.membersOf(convID)
	for i := range msgs {
		msgs[i].Members = members
	}
	slices.Reverse(msgs)
	return msgs, page.GetHasMore(), nil
}

// MarkRead moves the user's read cursor of a conversation to seq, which
// sends a READ receipt to the other members and to the user's other
// devices. A seq lower than the current cursor is ignored. MarkRead waits
// for a connection until ctx ends.
func (c *Client) MarkRead(ctx context.Context, convID string, seq int64) error {
	if convID == "" || seq < 1 {
		return errors.New("magpie: mark read: empty conversation id or seq below 1")
	}
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_Read{Read: &magpiev1.Read{ConvId: convID, Seq: seq}}})
	return err
}

// me returns the user id of the last login, or "" before the first.
func (c *Client) me() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}
