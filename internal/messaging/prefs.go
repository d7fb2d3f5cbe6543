package messaging

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// MaxDraftBytes bounds a conversation's draft.
const MaxDraftBytes = 4096

// ConvPrefs changes a user's own settings of a conversation, for all its
// devices; nil fields stay.
type ConvPrefs struct {
	Pinned *bool
	Draft  *string
	// ClearHistory hides, for this user only, every message sent so far.
	ClearHistory bool
}

// visibleFrom is the first seq of a conversation its user may see: after
// the messages before it joined and those it cleared.
func visibleFrom(uc store.UserConversation) int64 {
	return max(uc.FirstSeq, uc.ClearedSeq+1)
}

// SetConversationPrefs pins or unpins a conversation for a user, keeps its
// draft, or clears its history for the user (which also reads it: the
// user's other devices get a READ receipt), and returns the user's view of
// the conversation after the change.
func (s *Service) SetConversationPrefs(ctx context.Context, appID, userID, deviceID, session, convID string, p ConvPrefs) (ConvState, error) {
	if !ValidConvID(convID) {
		return ConvState{}, errorf("conversation_not_found", "no conversation %q", convID)
	}
	if p.Draft != nil && (len(*p.Draft) > MaxDraftBytes || !utf8.ValidString(*p.Draft)) {
		return ConvState{}, errorf("invalid_argument", "draft: at most %d bytes of UTF-8", MaxDraftBytes)
	}
	sp := store.ConvPrefs{Pinned: p.Pinned, Draft: p.Draft, At: s.now()}
	if p.ClearHistory {
		sp.ClearTo = math.MaxInt64
	}
	uc, err := s.store.App(appID).SetConversationPrefs(ctx, userID, convID, sp)
	if errors.Is(err, store.ErrNotFound) {
		return ConvState{}, errorf("conversation_not_found", "no conversation %q of this user", convID)
	}
	if err != nil {
		return ConvState{}, fmt.Errorf("set conversation preferences: %w", err)
	}
	if p.ClearHistory && uc.ClearedSeq > 0 {
		s.router.PushReceipt(appID, userID, session, Receipt{Kind: ReceiptRead, ConvID: convID, Seq: uc.ReadSeq, UserID: userID, At: sp.At})
	}
	states, err := s.convStates(ctx, appID, userID, deviceID, []store.UserConversation{uc})
	if err != nil {
		return ConvState{}, err
	}
	return states[0], nil
}
