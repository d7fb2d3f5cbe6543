// Package wire is the frame codec of Magpie's client protocol, shared by the
// gateway and the Go client SDK.
//
// A connection carries one [magpiev1.Frame] per WebSocket message, in the
// encoding named by the negotiated WebSocket subprotocol: [SubprotocolProto]
// (binary messages, protobuf) or [SubprotocolJSON] (text messages, protobuf
// JSON). [CodecFor] maps a subprotocol to its [Codec], and [Decode] turns one
// received WebSocket message into a frame, enforcing the size limit and
// classifying failures as [ErrTooLarge], [ErrMalformed] or [ErrEmpty].
//
// The package also owns the protocol's constants: the WebSocket close codes
// ([CloseCode], in a reconnect and a terminal range) and the error codes of
// [magpiev1.Error] frames ([CodeInvalidFrame] and the others, with
// [Retryable]), and [NewClientMsgID], the client message ids the SDK and
// the server make.
//
// The protocol itself, frame by frame, is documented in
// sdk/proto/magpie/v1/magpie.proto.
//
// Everything in this package is safe for concurrent use.
package wire

import (
	"errors"
	"fmt"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// WebSocket subprotocols, one per encoding of [magpiev1.Frame].
const (
	// SubprotocolProto carries each frame, protobuf-encoded, in a binary
	// WebSocket message.
	SubprotocolProto = "magpie.v1.proto"
	// SubprotocolJSON carries each frame, in the protobuf JSON mapping with
	// the .proto field names, in a text WebSocket message.
	SubprotocolJSON = "magpie.v1.json"
)

// Subprotocols returns the subprotocols a server accepts, most preferred
// first, as a new slice.
func Subprotocols() []string {
	return []string{SubprotocolProto, SubprotocolJSON}
}

// Codec encodes and decodes frames in one encoding. Implementations are
// stateless and safe for concurrent use.
type Codec interface {
	// Subprotocol returns the WebSocket subprotocol of the encoding.
	Subprotocol() string
	// Binary reports whether frames travel in binary WebSocket messages
	// (true) or text ones (false).
	Binary() bool
	// Marshal encodes f into a new slice that the caller owns: it may keep
	// it, queue it or modify it.
	Marshal(f *magpiev1.Frame) ([]byte, error)
	// MarshalAppend appends the encoding of f to dst and returns the
	// extended slice, so that a writer can reuse one buffer across frames.
	MarshalAppend(dst []byte, f *magpiev1.Frame) ([]byte, error)
	// Unmarshal decodes data into f, replacing its contents. It keeps no
	// reference to data. Prefer [Decode], which also enforces limits.
	Unmarshal(data []byte, f *magpiev1.Frame) error
}

// CodecFor returns the codec of a WebSocket subprotocol, and false if the
// subprotocol is not one of [Subprotocols].
func CodecFor(subprotocol string) (Codec, bool) {
	switch subprotocol {
	case SubprotocolProto:
		return ProtoCodec{}, true
	case SubprotocolJSON:
		return JSONCodec{}, true
	}
	return nil, false
}

// Errors returned by [Decode]. The gateway answers [ErrEmpty] and
// [ErrUnknownField] with an Error frame [CodeInvalidFrame], echoing the
// frame's id, and the others, which leave no id to echo, by closing with
// [CloseProtocolError] (or, for a message over its read limit, the
// WebSocket library closes with 1009 before Decode sees it).
var (
	// ErrTooLarge means the message exceeds the size limit; it was not
	// decoded.
	ErrTooLarge = errors.New("wire: frame too large")
	// ErrMalformed means the message is not a valid frame in the encoding:
	// bad syntax, a field of the wrong type, invalid UTF-8 in a string. It
	// wraps the decoder's error.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrEmpty means the frame has no body, or, in protobuf, a body this
	// version does not know.
	ErrEmpty = errors.New("wire: frame has no body")
	// ErrUnknownField means a JSON frame is well formed but names a field
	// this version does not know, as a body (a newer peer's, or a typo) or
	// inside one; the binary encoding drops such fields instead. The error
	// says which field.
	ErrUnknownField = errors.New("wire: unknown field")
)

// Decode decodes one WebSocket message of at most limit bytes (limit <= 0
// means no limit) into a new frame.
//
// On [ErrEmpty] and [ErrUnknownField] it also returns the frame (without
// the unknown fields), so that the caller can echo its id in an Error reply;
// on any other error the frame is nil.
func Decode(c Codec, data []byte, limit int) (*magpiev1.Frame, error) {
	if limit > 0 && len(data) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), limit)
	}
	f := new(magpiev1.Frame)
	if err := c.Unmarshal(data, f); err != nil {
		// A strict decoder that fails where a lenient one succeeds failed
		// on unknown fields only: the frame is otherwise sound.
		if l, ok := c.(lenientCodec); ok && l.unmarshalLenient(data, f) == nil {
			return f, fmt.Errorf("%w: %v", ErrUnknownField, err) //nolint:errorlint // the decoder's text is detail, not API
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if f.Body == nil {
		return f, ErrEmpty
	}
	return f, nil
}

// bodyOneof describes the oneof that holds a frame's body.
var bodyOneof = (*magpiev1.Frame)(nil).ProtoReflect().Descriptor().Oneofs().ByName("body")

// BodyName returns the .proto name of the body field set in f, such as
// "send" or "deliver_ack", for logs and metric labels; "" if none is set.
func BodyName(f *magpiev1.Frame) string {
	var fd protoreflect.FieldDescriptor
	if f != nil {
		fd = f.ProtoReflect().WhichOneof(bodyOneof)
	}
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

// ErrorFrame returns an Error frame replying to the request with the given
// id (0 for an unsolicited error), its retryable flag set from [Retryable].
func ErrorFrame(id uint64, code, message string) *magpiev1.Frame {
	return RejectedFrame(id, code, message, "")
}

// RejectedFrame returns an Error frame like [ErrorFrame] with a reason: for
// [CodeMessageRejected], the moderation rule's or webhook's own code.
func RejectedFrame(id uint64, code, message, reason string) *magpiev1.Frame {
	return &magpiev1.Frame{
		Id: id,
		Body: &magpiev1.Frame_Error{Error: &magpiev1.Error{
			Code:      code,
			Message:   message,
			Retryable: Retryable(code),
			Reason:    reason,
		}},
	}
}
