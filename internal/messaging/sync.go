package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Page bounds for sync queries. A message page also stops at MaxPageBytes
// of content (but holds at least one message), so that a page of large
// messages fits a connection's outbound queue even JSON-escaped.
const (
	DefaultPage  = 50
	MaxPage      = 200
	MaxPageBytes = 1 << 20
)

// ConvState is one user's (and one device's) view of a conversation.
type ConvState struct {
	store.UserConversation
	DeviceDeliveredSeq int64 // this device's delivery cursor
	PeerReadSeq        int64 // one-to-one only: the peer's read cursor
	PeerDeliveredSeq   int64 // one-to-one only: the peer's delivery cursor
	Last               *store.Message
}

func clampPage(limit int) int {
	if limit <= 0 {
		return DefaultPage
	}
	return min(limit, MaxPage)
}

// Conversations returns a page of the user's conversations, by conversation
// id, after the given one, and the id to continue after ("" at the end).
func (s *Service) Conversations(ctx context.Context, appID, userID, deviceID, after string, limit int) ([]ConvState, string, error) {
	limit = clampPage(limit)
	as := s.store.App(appID)
	ucs, err := as.ListUserConversations(ctx, userID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list conversations: %w", err)
	}
	next := ""
	if len(ucs) > limit {
		ucs = ucs[:limit]
		next = ucs[limit-1].ConvID
	}
	out, err := s.convStates(ctx, appID, userID, deviceID, ucs)
	return out, next, err
}

// MaxConversationIDs bounds the conversations ConversationsByID returns.
const MaxConversationIDs = 100

// ConversationsByID returns the states of the given conversations, in the
// order given, leaving out those the user is not in.
func (s *Service) ConversationsByID(ctx context.Context, appID, userID, deviceID string, ids []string) ([]ConvState, error) {
	if len(ids) > MaxConversationIDs {
		return nil, errorf("invalid_argument", "at most %d conv_ids", MaxConversationIDs)
	}
	as := s.store.App(appID)
	ucs := make([]store.UserConversation, 0, len(ids))
	for _, id := range ids {
		if !ValidConvID(id) {
			return nil, errorf("invalid_argument", "conv_id %q is not a conversation id", id)
		}
		uc, err := as.GetUserConversation(ctx, userID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get conversation: %w", err)
		}
		ucs = append(ucs, uc)
	}
	return s.convStates(ctx, appID, userID, deviceID, ucs)
}

// convStates completes a user's conversation entries with this device's
// cursors, the peer's cursors (one-to-one) and the last message.
func (s *Service) convStates(ctx context.Context, appID, userID, deviceID string, ucs []store.UserConversation) ([]ConvState, error) {
	as := s.store.App(appID)
	var cursors map[string]int64
	var err error
	if deviceID != "" && len(ucs) > 0 {
		if cursors, err = as.GetDeviceCursors(ctx, userID, deviceID); err != nil {
			return nil, fmt.Errorf("get device cursors: %w", err)
		}
	}
	out := make([]ConvState, len(ucs))
	for i, uc := range ucs {
		// Messages the user cleared are no longer its to see: for its
		// devices the conversation starts after them.
		uc.FirstSeq = visibleFrom(uc)
		st := ConvState{UserConversation: uc, DeviceDeliveredSeq: cursors[uc.ConvID]}
		if peers := others(uc.Members, userID); len(peers) == 1 {
			peer, err := as.GetUserConversation(ctx, peers[0], uc.ConvID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("get peer state: %w", err)
			}
			st.PeerReadSeq, st.PeerDeliveredSeq = peer.ReadSeq, peer.DeliveredSeq
		}
		if uc.MaxSeq >= uc.FirstSeq {
			m, err := as.GetMessage(ctx, uc.ConvID, uc.MaxSeq)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("get last message: %w", err)
			}
			if err == nil {
				st.Last = &m
			}
		}
		out[i] = st
	}
	return out, nil
}

// MessageQuery selects a range of a conversation's messages.
type MessageQuery struct {
	ConvID   string
	From, To int64 // inclusive; To 0 means no bound
	Limit    int
	Desc     bool
}

// Messages returns a page of a conversation's messages for a member, and
// whether the range holds more.
//
// A user sees nothing before the first seq of its conversation entry: a new
// user with the id of a deleted one does not see the deleted user's history.
func (s *Service) Messages(ctx context.Context, appID, userID string, q MessageQuery) ([]store.Message, bool, error) {
	if !ValidConvID(q.ConvID) {
		return nil, false, errorf("forbidden", "not a member of conversation %q", q.ConvID)
	}
	uc, err := s.store.App(appID).GetUserConversation(ctx, userID, q.ConvID)
	if errors.Is(err, store.ErrNotFound) {
		// No entry: the conversation has no message yet, or the user's
		// entry went with a deleted user of the same id (nothing to see),
		// or the user is not a member.
		members, err := s.members(ctx, appID, q.ConvID)
		if err == nil && !isMember(members, userID) {
			return nil, false, errorf("forbidden", "not a member of conversation %q", q.ConvID)
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get conversation entry: %w", err)
	}
	first := visibleFrom(uc)
	if q.To > 0 && q.To < first {
		return nil, false, nil
	}
	q.From = max(q.From, first)
	return s.History(ctx, appID, q)
}

// History returns a page of a conversation's messages, for the server API,
// and whether the range holds more.
func (s *Service) History(ctx context.Context, appID string, q MessageQuery) ([]store.Message, bool, error) {
	if !ValidConvID(q.ConvID) {
		return nil, false, errorf("invalid_argument", "conv_id %q is not a conversation id", q.ConvID)
	}
	if q.From < 0 || q.To < 0 || (q.To > 0 && q.To < q.From) {
		return nil, false, errorf("invalid_argument", "bad seq range %d-%d", q.From, q.To)
	}
	limit := clampPage(q.Limit)
	msgs, err := s.store.App(appID).ListMessages(ctx, q.ConvID, store.Range{From: q.From, To: q.To, Desc: q.Desc, Limit: limit + 1})
	if err != nil {
		return nil, false, fmt.Errorf("list messages: %w", err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	size := 0
	for i, m := range msgs {
		size += len(m.Body)
		if i > 0 && size > MaxPageBytes {
			return msgs[:i], true, nil
		}
	}
	return msgs, more, nil
}

// Recall marks a message recalled, erases its content and pushes the
// recalled message to every member's online devices.
func (s *Service) Recall(ctx context.Context, appID, convID string, seq int64) (store.Message, error) {
	if !ValidConvID(convID) || seq < 1 {
		return store.Message{}, errorf("invalid_argument", "bad conversation id or seq")
	}
	m, err := s.store.App(appID).RecallMessage(ctx, convID, seq, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Message{}, errorf("message_not_found", "no message %d in %q", seq, convID)
	}
	if err != nil {
		return store.Message{}, fmt.Errorf("recall: %w", err)
	}
	members, err := s.members(ctx, appID, convID)
	if s.cfg.Events != nil {
		s.cfg.Events.MessageRecalled(appID, m, members)
	}
	if err != nil {
		// Recalled and stored; online devices learn it at their next sync.
		s.log.WarnContext(ctx, "push recall", "err", err, "app_id", appID)
		return m, nil
	}
	ds := make([]Delivery, len(members))
	for i, u := range members {
		ds[i] = Delivery{AppID: appID, UserID: u, Msg: &m}
	}
	s.router.Deliver(ds)
	return m, nil
}

// Now returns the service clock's current time.
func (s *Service) Now() time.Time { return s.now() }
