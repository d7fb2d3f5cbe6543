package messaging

import "context"

// Codes of the errors a ContactGate refuses a one-to-one message with.
const (
	// CodeBlocked: the recipient blocks the sender.
	CodeBlocked = "blocked"
	// CodeNotFriends: the app lets only friends message each other, and
	// the two users are not friends.
	CodeNotFriends = "not_friends"
)

// ContactGate decides whether a user may send a one-to-one message to
// another (blocklists, the app's only-friends setting); package contacts
// implements it. Submit asks it for every one-to-one send that is not a
// system message, before the message is queued: a refusal is returned to
// the sender as is (a *Error with CodeBlocked or CodeNotFriends) and
// nothing is stored. Group and system messages are never asked about. It
// is on the hot path: implementations answer from memory.
type ContactGate interface {
	CheckSend(ctx context.Context, appID, fromID, toID string) error
}

type gateBox struct{ g ContactGate }

// SetContactGate installs (or, with nil, removes) the gate after the
// Service was built (the gate's service posts its notices through this
// one). It is safe to call at any time; Config.Contacts is the gate at
// construction.
func (s *Service) SetContactGate(g ContactGate) {
	if g == nil {
		s.gate.Store(nil)
		return
	}
	s.gate.Store(&gateBox{g})
}

// checkContacts asks the gate, if any, about a one-to-one send.
func (s *Service) checkContacts(ctx context.Context, req *SendRequest) error {
	b := s.gate.Load()
	if b == nil || req.System {
		return nil
	}
	return b.g.CheckSend(ctx, req.AppID, req.SenderID, req.ToUserID)
}

// NewError returns a *Error with the given code, for the services that
// refuse sends on the messaging core's behalf (a ContactGate).
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }
