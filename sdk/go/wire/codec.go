package wire

import (
	"sync"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var (
	_ Codec = ProtoCodec{}
	_ Codec = JSONCodec{}
)

// ProtoCodec is the [Codec] of [SubprotocolProto]: binary protobuf frames.
//
// Unmarshal drops fields this version does not know, so that a newer peer's
// additions are ignored rather than kept in memory, and rejects invalid
// UTF-8 in string fields. The zero value is ready to use.
type ProtoCodec struct{}

var (
	protoMarshal   = proto.MarshalOptions{}
	protoUnmarshal = proto.UnmarshalOptions{DiscardUnknown: true}
)

// Subprotocol returns [SubprotocolProto].
func (ProtoCodec) Subprotocol() string { return SubprotocolProto }

// Binary returns true.
func (ProtoCodec) Binary() bool { return true }

// Marshal encodes f into a new slice of exactly its size.
func (ProtoCodec) Marshal(f *magpiev1.Frame) ([]byte, error) {
	// MarshalAppend to a nil slice sizes the message first and allocates
	// once.
	return protoMarshal.MarshalAppend(nil, f)
}

// MarshalAppend appends the encoding of f to dst.
func (ProtoCodec) MarshalAppend(dst []byte, f *magpiev1.Frame) ([]byte, error) {
	return protoMarshal.MarshalAppend(dst, f)
}

// Unmarshal decodes data into f. A Deliver push's strings share one copy
// of its payload.
func (ProtoCodec) Unmarshal(data []byte, f *magpiev1.Frame) error {
	if unmarshalDeliver(data, f) {
		return nil
	}
	return protoUnmarshal.Unmarshal(data, f)
}

// JSONCodec is the [Codec] of [SubprotocolJSON]: frames in the protobuf JSON
// mapping, one JSON object per text message.
//
// Marshal writes the .proto field names (client_msg_id, not clientMsgId),
// omits fields with zero values and writes 64-bit integers as strings; its
// spacing is not stable, so compare frames, not bytes. Unmarshal accepts
// either name form and 64-bit integers as strings or numbers, and rejects
// unknown fields ([Decode] reports them as [ErrUnknownField]). The zero value
// is ready to use.
type JSONCodec struct{}

var (
	jsonMarshal   = protojson.MarshalOptions{UseProtoNames: true}
	jsonUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: false}
)

// jsonBufs holds scratch buffers for [JSONCodec.Marshal], whose output size
// is not known in advance.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledJSON is the largest buffer returned to jsonBufs, so that one huge
// frame does not pin its buffer.
const maxPooledJSON = 64 << 10

// Subprotocol returns [SubprotocolJSON].
func (JSONCodec) Subprotocol() string { return SubprotocolJSON }

// Binary returns false.
func (JSONCodec) Binary() bool { return false }

// Marshal encodes f into a new slice of exactly its size. It renders into a
// pooled scratch buffer and copies the result, so the encoder's growth does
// not allocate.
func (JSONCodec) Marshal(f *magpiev1.Frame) ([]byte, error) {
	bp := jsonBufs.Get().(*[]byte)
	b, err := jsonMarshal.MarshalAppend((*bp)[:0], f)
	if err != nil {
		jsonBufs.Put(bp)
		return nil, err
	}
	out := make([]byte, len(b))
	copy(out, b)
	if cap(b) <= maxPooledJSON {
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
	return out, nil
}

// MarshalAppend appends the encoding of f to dst.
func (JSONCodec) MarshalAppend(dst []byte, f *magpiev1.Frame) ([]byte, error) {
	return jsonMarshal.MarshalAppend(dst, f)
}

// Unmarshal decodes data into f.
func (JSONCodec) Unmarshal(data []byte, f *magpiev1.Frame) error {
	return jsonUnmarshal.Unmarshal(data, f)
}

// lenientCodec is a codec whose Unmarshal rejects unknown fields and that
// can also decode ignoring them, so that [Decode] can tell a frame with an
// unknown field from a malformed one.
type lenientCodec interface {
	unmarshalLenient(data []byte, f *magpiev1.Frame) error
}

var (
	_ lenientCodec = JSONCodec{}

	jsonUnmarshalLenient = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// unmarshalLenient decodes data into f, dropping unknown fields.
func (JSONCodec) unmarshalLenient(data []byte, f *magpiev1.Frame) error {
	return jsonUnmarshalLenient.Unmarshal(data, f)
}
