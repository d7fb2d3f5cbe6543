package rooms

import (
	"context"
	"fmt"

	"github.com/magpie-im/magpie/internal/messaging"
)

// RoomConvID is the conversation id a room's messages carry in the
// moderation of the app (messaging.Candidate.ConvID, the pre-send hook's
// conv_id): "room:" and the room id. Rooms have no stored conversation.
func RoomConvID(roomID string) string { return "room:" + roomID }

// moderate runs the app's moderation on a room message, as the messaging
// core does on every other: the keyword rules, then, for a message they
// let through, the pre-send hook, which the send waits for (within the
// hook's timeout and the app's fail-open or fail-closed policy). It
// returns the content to send, drop for a Drop verdict, or a
// message_rejected *messaging.Error. Without a Config.Moderator, or an
// app that moderates nothing, the message goes as it is.
func (s *Service) moderate(ctx context.Context, req SendRequest) (content string, drop bool, err error) {
	if s.cfg.Moderator == nil {
		return req.Content, false, nil
	}
	pol, err := s.cfg.Moderator.Policy(ctx, req.AppID, req.Backend)
	if err != nil {
		return "", false, fmt.Errorf("moderation policy: %w", err)
	}
	if pol == nil {
		return req.Content, false, nil
	}
	c := messaging.Candidate{AppID: req.AppID, SenderID: req.SenderID, ConvID: RoomConvID(req.RoomID),
		ClientMsgID: req.ClientMsgID, Type: req.Type, Content: req.Content, ServerAPI: req.Backend}
	v := pol.Filter(c)
	if v.Action == messaging.Allow && pol.HasHook() {
		v = pol.Hook(ctx, c)
	}
	switch v.Action {
	case messaging.Reject:
		msg := v.Message
		if msg == "" {
			msg = "the message was rejected by moderation"
		}
		return "", false, &messaging.Error{Code: messaging.CodeMessageRejected, Message: msg, Reason: v.Code}
	case messaging.Drop:
		return "", true, nil
	case messaging.Modify:
		if err := messaging.CheckContent(req.Type, v.Content, req.MaxBytes); err != nil {
			return "", false, &messaging.Error{Code: messaging.CodeMessageRejected,
				Message: "moderation replaced the content with an invalid one", Reason: messaging.ReasonModerationInvalid}
		}
		return v.Content, false, nil
	}
	return req.Content, false, nil
}
