package client

import (
	"errors"
	"fmt"

	"github.com/magpie-im/magpie/sdk/go/wire"
)

// Errors returned by the client.
var (
	// ErrClosed is returned by every method once Close has been called.
	ErrClosed = errors.New("magpie: client closed")
	// ErrRunning is returned by Run when the client is already running.
	ErrRunning = errors.New("magpie: client already running")
	// ErrSendTimeout is returned by a send that the server did not
	// acknowledge within Config.SendDeadline. It wraps the last error of the
	// send, if any. The message may still have been stored: if it was, it
	// appears in the conversation as a Message with Own set.
	ErrSendTimeout = errors.New("magpie: send not acknowledged before the deadline")
	// errConnLost means the connection ended before a reply arrived; the
	// request may be sent again on the next connection.
	errConnLost = errors.New("magpie: connection lost")
	// errRequestTimeout means no reply arrived within Config.RequestTimeout.
	errRequestTimeout = errors.New("magpie: request timed out")
)

// CloseError is the reason the server gave for closing the connection: the
// code of its Close frame, which is also the WebSocket close code.
//
// Codes 4100-4199 are terminal ([wire.CloseCode.Reconnect] is false): Run
// returns the CloseError, except for [wire.CloseTokenExpired], after which
// the client asks the TokenProvider for a fresh token and reconnects. Every
// other code, [wire.CloseReauthenticate] included, makes the client
// reconnect with backoff, with a token from the TokenProvider.
type CloseError struct {
	// Code is the close code, such as wire.CloseTokenRevoked.
	Code wire.CloseCode
	// Reason is the server's human-readable reason, for logs.
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("magpie: connection closed: %s (%d)", e.Code, int(e.Code))
	}
	return fmt.Sprintf("magpie: connection closed: %s (%d): %s", e.Code, int(e.Code), e.Reason)
}

// Temporary reports whether the client reconnects by itself after this
// close: true outside the terminal range, and for token_expired.
func (e *CloseError) Temporary() bool {
	return e.Code.Reconnect() || e.Code == wire.CloseTokenExpired
}

// Error is an Error frame the server answered a request with.
type Error struct {
	// Code is the stable error code, one of the wire.Code* constants.
	Code string
	// Message is the server's human-readable detail, for logs.
	Message string
	// Retryable reports whether the same request may succeed later. The
	// client retries retryable errors itself; it returns only the others.
	Retryable bool
	// Reason is, for code message_rejected (wire.CodeMessageRejected), the
	// code of the app's moderation rule ("keyword_blocked") or pre-send
	// webhook that rejected the message; empty otherwise.
	Reason string
	// Status is, for an error of an HTTP request (UploadFile), its HTTP
	// status; zero for an Error frame.
	Status int
}

// Error implements error.
func (e *Error) Error() string {
	if e.Reason != "" {
		return "magpie: " + e.Code + " (" + e.Reason + "): " + e.Message
	}
	return "magpie: " + e.Code + ": " + e.Message
}

// terminal reports whether err ends Run instead of causing a reconnect.
func terminal(err error) bool {
	var ce *CloseError
	return errors.Is(err, ErrClosed) || errors.As(err, &ce) && !ce.Temporary()
}

// retryable reports whether a request that failed with err may be sent
// again: on a new connection, after a timeout, or after a retryable error.
func retryable(err error) bool {
	var se *Error
	if errors.As(err, &se) {
		return se.Retryable
	}
	return errors.Is(err, errConnLost) || errors.Is(err, errRequestTimeout)
}
