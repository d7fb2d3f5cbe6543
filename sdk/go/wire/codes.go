package wire

import "strconv"

// CloseCode is a WebSocket close code sent by the gateway, also carried in
// the [magpiev1.Close] frame that precedes the close.
//
// Codes come in two ranges:
//
//   - 4000–4099, reconnect: the fault is the server's or the network's. The
//     client reconnects with backoff and jitter and resyncs.
//   - 4100–4199, terminal: reconnecting as before would fail the same way.
//     The client stops and tells the app, which may fix the cause (a new
//     token after [CloseTokenExpired], for example) and connect again.
//
// Codes 4200–4999 are reserved. Codes outside 4000–4999, such as the standard
// 1001 (going away) or 1006 (abnormal closure) of a proxy or a broken
// network, count as reconnect.
type CloseCode int

// Reconnect range, 4000–4099.
const (
	// CloseServerShutdown: the server is shutting down or draining; another
	// one takes the connection.
	CloseServerShutdown CloseCode = 4000
	// CloseOverload: the server sheds load.
	CloseOverload CloseCode = 4001
	// CloseHeartbeatTimeout: no frame arrived from the client within the
	// heartbeat timeout.
	CloseHeartbeatTimeout CloseCode = 4002
	// CloseSlowConsumer: the client read too slowly and its send queue
	// overflowed; it resyncs what it missed.
	CloseSlowConsumer CloseCode = 4003
	// CloseLoginTimeout: no Login arrived in time after the connection
	// opened.
	CloseLoginTimeout CloseCode = 4004
	// CloseInternalError: an unexpected server error.
	CloseInternalError CloseCode = 4005
	// CloseReauthenticate: the session's credentials ended while it was
	// open: its token expired, or the app secret that signed the token was
	// revoked. The client gets a fresh token (from its token provider) and
	// reconnects; nothing is lost.
	CloseReauthenticate CloseCode = 4006
)

// Terminal range, 4100–4199.
const (
	// CloseBadToken: the token is malformed, or its signature or issuer is
	// wrong.
	CloseBadToken CloseCode = 4100
	// CloseTokenExpired: the token expired. The client gets a fresh token
	// from the app, then may reconnect.
	CloseTokenExpired CloseCode = 4101
	// CloseTokenRevoked: the token was revoked.
	CloseTokenRevoked CloseCode = 4102
	// CloseKicked: another device took this device's slot, or the app's
	// backend disconnected the user.
	CloseKicked CloseCode = 4103
	// CloseAppDisabled: the app is disabled.
	CloseAppDisabled CloseCode = 4104
	// CloseUserBlocked: the user is blocked.
	CloseUserBlocked CloseCode = 4105
	// CloseProtocolError: the client sent a frame that cannot be decoded,
	// or requests before logging in.
	CloseProtocolError CloseCode = 4106
	// CloseTooManyDevices: the user has too many devices connected.
	CloseTooManyDevices CloseCode = 4107
	// CloseUnsupportedSubprotocol: the client offered none of
	// [Subprotocols].
	CloseUnsupportedSubprotocol CloseCode = 4108
)

// Bounds of the terminal range of close codes.
const (
	closeTerminalMin CloseCode = 4100
	closeTerminalMax CloseCode = 4199
)

// Reconnect reports whether a client closed with c reconnects on its own:
// true unless c is in the terminal range 4100–4199.
func (c CloseCode) Reconnect() bool {
	return c < closeTerminalMin || c > closeTerminalMax
}

var closeNames = map[CloseCode]string{
	CloseServerShutdown:         "server_shutdown",
	CloseOverload:               "overload",
	CloseHeartbeatTimeout:       "heartbeat_timeout",
	CloseSlowConsumer:           "slow_consumer",
	CloseLoginTimeout:           "login_timeout",
	CloseInternalError:          "internal_error",
	CloseReauthenticate:         "reauthenticate",
	CloseBadToken:               "bad_token",
	CloseTokenExpired:           "token_expired",
	CloseTokenRevoked:           "token_revoked",
	CloseKicked:                 "kicked",
	CloseAppDisabled:            "app_disabled",
	CloseUserBlocked:            "user_blocked",
	CloseProtocolError:          "protocol_error",
	CloseTooManyDevices:         "too_many_devices",
	CloseUnsupportedSubprotocol: "unsupported_subprotocol",
}

// String returns the code's snake_case name, such as "token_expired", or
// "close_code(N)" for a code this package does not name.
func (c CloseCode) String() string {
	if name, ok := closeNames[c]; ok {
		return name
	}
	return "close_code(" + strconv.Itoa(int(c)) + ")"
}

// Error codes of [magpiev1.Error] frames. They are stable: clients switch on
// them. A retryable code ([Retryable]) means the same request may succeed
// when sent again later with backoff.
const (
	// CodeInvalidFrame: the frame could not be decoded, or had no body or
	// an unknown one.
	CodeInvalidFrame = "invalid_frame"
	// CodeNotLoggedIn: a request other than Login came before the login
	// succeeded.
	CodeNotLoggedIn = "not_logged_in"
	// CodeAlreadyLoggedIn: a second Login on the same connection.
	CodeAlreadyLoggedIn = "already_logged_in"
	// CodeRateLimited: too many requests; retryable.
	CodeRateLimited = "rate_limited"
	// CodeMessageTooLarge: the content exceeds the login's max_message_bytes.
	CodeMessageTooLarge = "message_too_large"
	// CodeInvalidMessage: the message is invalid, such as an unknown type,
	// or "custom" content that is not JSON.
	CodeInvalidMessage = "invalid_message"
	// CodeInvalidArgument: a request field is missing or out of range.
	CodeInvalidArgument = "invalid_argument"
	// CodeUserNotFound: the recipient does not exist in the app.
	CodeUserNotFound = "user_not_found"
	// CodeConversationNotFound: the conversation does not exist, or the
	// user is not a member.
	CodeConversationNotFound = "conversation_not_found"
	// CodeNotFound: the request names something that does not exist, such
	// as a conversation to mute the user is not a member of.
	CodeNotFound = "not_found"
	// CodeTooManyDevices: the user already registered the most devices for
	// push an app allows (20).
	CodeTooManyDevices = "too_many_devices"
	// CodeForbidden: the user may not do this, such as writing to a user
	// who blocked them.
	CodeForbidden = "forbidden"
	// CodeMessageRejected: the app's moderation (its keyword rules or its
	// pre-send webhook) refused the message; the Error's reason holds the
	// rule's or the webhook's own code. Sending it again fails the same way.
	CodeMessageRejected = "message_rejected"
	// CodeConflict: the request conflicts with the current state, such as
	// opening a support session while one is open, or rating twice.
	CodeConflict = "conflict"
	// CodeGroupNotFound: the group does not exist in the app, or was
	// dismissed.
	CodeGroupNotFound = "group_not_found"
	// CodeGroupExists: a group with this id exists or existed.
	CodeGroupExists = "group_exists"
	// CodeGroupFull: the group would have more members than the app
	// allows.
	CodeGroupFull = "group_full"
	// CodeMemberMuted: the sender is muted in the group or room.
	CodeMemberMuted = "member_muted"
	// CodeGroupMuted: the group is muted; only its owner and admins send.
	CodeGroupMuted = "group_muted"
	// CodeMessageNotFound: the conversation has no message with this seq
	// (RecallMessage, EditMessage, AddReaction).
	CodeMessageNotFound = "message_not_found"
	// CodeRecallWindowPassed: RecallMessage after the app's recall window.
	CodeRecallWindowPassed = "recall_window_passed"
	// CodeEditWindowPassed: EditMessage after the app's edit window.
	CodeEditWindowPassed = "edit_window_passed"
	// CodeMessageRecalled: EditMessage or AddReaction of a recalled
	// message.
	CodeMessageRecalled = "message_recalled"
	// CodeTooManyReactions: AddReaction of a 21st distinct emoji on a
	// message.
	CodeTooManyReactions = "too_many_reactions"
	// CodeRoomNotFound: the chat room does not exist in the app, or was
	// destroyed; or, for a send, the connection has not joined it.
	CodeRoomNotFound = "room_not_found"
	// CodeRoomFull: the chat room has its maximum number of members.
	CodeRoomFull = "room_full"
	// CodeRoomBanned: the app's backend banned the user from the chat
	// room; joining it fails until the ban is lifted.
	CodeRoomBanned = "room_banned"
	// CodeFileNotFound: the app has no uploaded file with this id
	// (GetFileUrl, DeleteFile).
	CodeFileNotFound = "file_not_found"
	// CodeInternal: an unexpected server error; retryable.
	CodeInternal = "internal"
	// CodeUnavailable: a dependency is temporarily unavailable; retryable.
	CodeUnavailable = "unavailable"
)

// Retryable reports whether an Error with this code may succeed when the
// same request is sent again later: true for [CodeRateLimited],
// [CodeInternal] and [CodeUnavailable], false for every other code,
// including unknown ones.
func Retryable(code string) bool {
	switch code {
	case CodeRateLimited, CodeInternal, CodeUnavailable:
		return true
	}
	return false
}
