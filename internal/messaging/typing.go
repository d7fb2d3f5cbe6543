package messaging

import "context"

// Signals that are relayed like receipts but are no cursors: they are
// never stored.
const (
	// ReceiptTyping: UserID is typing in ConvID.
	ReceiptTyping ReceiptKind = 100 + iota
	// ReceiptTypingStopped: UserID stopped typing in ConvID.
	ReceiptTypingStopped
)

// MaxTypingGroup is the largest group whose members are told who types:
// in a larger one the signal would be noise, and a storm.
const MaxTypingGroup = 100

// Typing relays that userID is typing in convID (or stopped) to the other
// members' online devices: an ephemeral signal, never stored. It checks
// membership (forbidden otherwise) and relays nothing in groups of more
// than MaxTypingGroup members.
func (s *Service) Typing(ctx context.Context, appID, userID, convID string, typing bool) error {
	members, err := s.memberOf(ctx, appID, userID, convID)
	if err != nil {
		return err
	}
	if len(members) > MaxTypingGroup {
		return nil
	}
	r := Receipt{Kind: ReceiptTyping, ConvID: convID, UserID: userID, At: s.now()}
	if !typing {
		r.Kind = ReceiptTypingStopped
	}
	for _, m := range members {
		if m != userID {
			s.router.PushReceipt(appID, m, "", r)
		}
	}
	return nil
}
