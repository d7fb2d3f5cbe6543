package store

import (
	"context"
	"slices"
	"time"
)

// MessageStore persists an app's conversations, messages and cursors. It is
// part of AppStore, so every method is scoped to one app.
//
// Sequence numbers are per conversation, start at 1 and increase by one with
// every stored message. Several processes may append to one conversation at
// once (cluster mode: two gateways, two store handles); the store gives each
// message the next seq as it stores it, never reserving a seq first: a seq
// becomes visible (GetMessage, ListMessages) only together with its durable
// message, so a reader never sees a seq that a failure leaves empty.
type MessageStore interface {
	// AppendMessages stores drafts durably, as a group commit (one
	// transaction or one bulk write where the engine allows it). For each
	// draft, in order: if the app already holds a message from the same
	// sender with the same non-empty client message id (in any
	// conversation), the result is that message with Duplicate set and
	// nothing is stored; otherwise the draft is stored with its
	// conversation's next seq, the conversation and its members' entries
	// are created on first use, and the sender's read cursor advances to
	// the new seq. Drafts of one conversation get seqs in input order.
	//
	// Results are in input order. A draft that could not be stored has Err
	// set (and no message); so does every later draft of the same
	// conversation in the call, so that a seq never overtakes an earlier
	// draft's. Other drafts may be stored: the results say which (an
	// engine with transactions may fail them all). A returned error means
	// the call failed as a whole and any draft may or may not be stored:
	// appending them again is safe, deduplicated by client message id.
	AppendMessages(ctx context.Context, drafts []Draft) ([]Appended, error)
	// GetMessage returns one message, or ErrNotFound.
	GetMessage(ctx context.Context, convID string, seq int64) (Message, error)
	// GetMessageByClientID returns the message a sender stored with this
	// (non-empty) client message id, in any conversation: the one a resend
	// would be deduplicated against. ErrNotFound if there is none (also
	// for a deleted sender's messages, whose client ids are forgotten).
	GetMessageByClientID(ctx context.Context, senderID, clientMsgID string) (Message, error)
	// ClientMsgIDsStored asks GetMessageByClientID's question of many
	// sends at once, in one read: for each key, whether its sender stored
	// a message with its client message id (false for an empty one).
	ClientMsgIDsStored(ctx context.Context, keys []ClientMsgKey) ([]bool, error)
	// ListMessages returns up to r.Limit messages of a conversation in the
	// range r describes.
	ListMessages(ctx context.Context, convID string, r Range) ([]Message, error)
	// RecallMessage marks a message recalled and erases its body and push
	// options; recalling twice is not an error. It returns the updated
	// message.
	RecallMessage(ctx context.Context, convID string, seq int64, at time.Time) (Message, error)

	// GetConversation returns a conversation, or ErrNotFound.
	GetConversation(ctx context.Context, convID string) (Conversation, error)
	// GetUserConversation returns one user's view of a conversation, or
	// ErrNotFound if the user is not a member of it.
	GetUserConversation(ctx context.Context, userID, convID string) (UserConversation, error)
	// ListUserConversations returns up to limit of a user's conversations
	// with conversation id > after, by conversation id.
	ListUserConversations(ctx context.Context, userID, after string, limit int) ([]UserConversation, error)

	// AckDelivered records device delivery acknowledgements in one commit.
	// Each moves the device's delivery cursor forward to Seq (never back,
	// never beyond the conversation's max seq) and the user's cursor to the
	// highest of its devices. Results are in input order; each reports the
	// cursors as that ack left them (earlier acks of the batch applied) and,
	// in ReceivedSeq, the newest message among those it newly delivered to
	// the user that the user did not send.
	AckDelivered(ctx context.Context, acks []DeliveryAck) ([]AckResult, error)
	// GetDeviceCursors returns a device's delivery cursors, by conversation id.
	GetDeviceCursors(ctx context.Context, userID, deviceID string) (map[string]int64, error)
	// SetConversationPrefs changes a user's own settings of a
	// conversation (pin, draft, cleared history) and returns its view
	// after the change. ErrNotFound if the user is not a member.
	SetConversationPrefs(ctx context.Context, userID, convID string, p ConvPrefs) (UserConversation, error)
	// MarkRead moves a user's read cursor forward to seq (clamped to the
	// conversation's max seq). It returns the cursor after the call and
	// whether it moved. ErrNotFound if the user is not in the conversation.
	MarkRead(ctx context.Context, userID, convID string, seq int64) (int64, bool, error)
}

// Draft is a message to be appended.
type Draft struct {
	ConvID string
	// Members are the conversation's members, used when the conversation is
	// created by this draft (for a one-to-one conversation: both users). A
	// non-empty sender is always made a member. In a conversation that
	// exists, a member (of the stored member list) who has no entry but is
	// an existing user (re-created after a deletion) gets an entry whose
	// FirstSeq is the draft's seq.
	Members     []string
	SenderID    string // empty for system messages
	ClientMsgID string
	Type        string
	Body        []byte
	// Push is the message's push options, JSON chosen by the sender
	// (title/body override, silent, collapse id, priority), opaque to the
	// store; nil when none.
	Push []byte
	// Mentions are the members the message mentions: each one's
	// UserConversation.MentionSeq moves to the message's seq (members
	// only; other ids are ignored). MentionAll mentions every member,
	// with one write on the conversation, not one per member.
	Mentions   []string
	MentionAll bool
	CreatedAt  time.Time
}

// Message is a stored message.
type Message struct {
	ConvID      string
	Seq         int64
	SenderID    string
	ClientMsgID string
	Type        string
	Body        []byte
	// Push is the message's push options, JSON chosen by the sender
	// (title/body override, silent, collapse id, priority), opaque to the
	// store; nil when none, and after a recall.
	Push []byte
	// Mentions and MentionAll are the draft's, as stored.
	Mentions   []string
	MentionAll bool
	CreatedAt  time.Time
	RecalledAt time.Time // zero unless recalled
	EditedAt   time.Time // zero unless edited (RichStore.EditMessage)
}

// Appended is the outcome of one draft of AppendMessages.
type Appended struct {
	Message
	// Duplicate is set when the draft repeated an earlier client message id
	// and Message is the original.
	Duplicate bool
	// Err is set when the draft was not stored; Message is then zero.
	Err error
	// Dropped is never set by a store: the messaging core sets it on the
	// result of a message its moderation dropped, which was neither stored
	// nor delivered. Message then holds only the conversation, sender,
	// client message id, type and time; Seq is 0.
	Dropped bool
}

// Range selects messages of a conversation by seq.
type Range struct {
	// From and To bound the seqs, inclusive; To zero means no upper bound.
	From, To int64
	// Desc returns the newest messages of the range first.
	Desc bool
	// Limit caps the number of messages returned; it must be positive.
	Limit int
}

// Conversation is a conversation's shared state.
type Conversation struct {
	ID        string
	Members   []string // sorted
	MaxSeq    int64
	CreatedAt time.Time
	UpdatedAt time.Time // time of the last message
}

// UserConversation is one user's view of a conversation.
type UserConversation struct {
	ConvID       string
	Members      []string
	MaxSeq       int64
	ReadSeq      int64 // user-driven read cursor
	DeliveredSeq int64 // highest delivery cursor of the user's devices
	// FirstSeq is the first seq the user may see: 1, or for a user who
	// joined later (a new user with a deleted user's id), the seq of the
	// first message after joining.
	FirstSeq int64
	// Muted: the user muted the conversation: no push for its messages.
	// An entry starts unmuted (a user re-created after a deletion, too).
	Muted bool
	// MentionSeq is the newest message, at or after FirstSeq, that
	// mentioned the user (by id or by mentioning all); 0 if none. The user
	// has an unread mention while it is above ReadSeq.
	MentionSeq int64
	// PinnedAt is when the user pinned the conversation; zero if not
	// pinned. Draft is the user's unsent text, kept for all its devices.
	// ClearedSeq hides, for this user only, every message up to it
	// ("clear history for me"); 0 if never cleared.
	PinnedAt   time.Time
	Draft      string
	ClearedSeq int64
	UpdatedAt  time.Time
}

// ConvPrefs changes a user's own settings of a conversation; nil fields
// (and a zero ClearTo) leave theirs alone.
type ConvPrefs struct {
	// Pinned pins (PinnedAt becomes At, unless already pinned) or unpins.
	Pinned *bool
	Draft  *string
	// ClearTo moves ClearedSeq, and the read cursor, forward to it,
	// clamped to the conversation's max seq.
	ClearTo int64
	At      time.Time
}

// Unread is the number of messages after the read cursor.
func (c UserConversation) Unread() int64 { return max(c.MaxSeq-c.ReadSeq, 0) }

// DeliveryAck is one device's acknowledgement that it holds every message of
// a conversation up to Seq.
type DeliveryAck struct {
	UserID   string
	DeviceID string
	ConvID   string
	Seq      int64
}

// AckResult is the outcome of one DeliveryAck.
type AckResult struct {
	// DeviceSeq is the device's cursor after the ack.
	DeviceSeq int64
	// UserPrev and UserSeq are the user's cursor before and after the ack;
	// messages in (UserPrev, UserSeq] were delivered to the user for the
	// first time.
	UserPrev, UserSeq int64
	// ReceivedSeq is the highest seq in (UserPrev, UserSeq] of a message
	// whose sender is not the user (another member's message, or a system
	// message, whose sender is empty); 0 when that range holds none, which
	// includes every ack that did not move the user's cursor. A delivery
	// receipt tells the other members something new only when it is set: a
	// cursor that moved over the user's own messages alone tells them
	// nothing.
	ReceivedSeq int64
}

// MemberSet returns the sorted, de-duplicated members of a conversation a
// draft creates: the draft's members and its sender (empty for a system
// message), whose read cursor must exist to move. Implementations use it so
// that they agree.
func MemberSet(members []string, sender string) []string {
	out := make([]string, 0, len(members)+1)
	out = append(out, members...)
	if sender != "" {
		out = append(out, sender)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ClientMsgKey names the message a sender stored with a client message id
// (MessageStore.ClientMsgIDsStored).
type ClientMsgKey struct {
	SenderID, ClientMsgID string
}
