package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const testMax = 1 << 20

func TestSamplesCoverEveryBody(t *testing.T) {
	have := map[string]bool{}
	for _, s := range samples() {
		if got := BodyName(s.frame); got != s.name {
			t.Errorf("BodyName(sample %q) = %q", s.name, got)
		}
		have[s.name] = true
	}
	fields := bodyOneof.Fields()
	for i := range fields.Len() {
		if name := string(fields.Get(i).Name()); !have[name] {
			t.Errorf("no sample frame for body %q", name)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range codecs() {
		for _, s := range samples() {
			t.Run(c.Subprotocol()+"/"+s.name, func(t *testing.T) {
				data, err := c.Marshal(s.frame)
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				if !c.Binary() && !utf8.Valid(data) {
					t.Fatalf("Marshal = %q, not UTF-8 text", data)
				}
				got, err := Decode(c, data, testMax)
				if err != nil {
					t.Fatalf("Decode(%q) error = %v", data, err)
				}
				if !proto.Equal(got, s.frame) {
					t.Errorf("Decode(Marshal(f)) = %v, want %v", got, s.frame)
				}
				// MarshalAppend keeps dst's prefix and appends the same frame.
				prefix := []byte("xyz")
				appended, err := c.MarshalAppend(prefix, s.frame)
				if err != nil {
					t.Fatalf("MarshalAppend: %v", err)
				}
				if !bytes.HasPrefix(appended, prefix) {
					t.Fatalf("MarshalAppend lost the prefix: %q", appended)
				}
				got, err = Decode(c, appended[len(prefix):], testMax)
				if err != nil || !proto.Equal(got, s.frame) {
					t.Errorf("Decode(MarshalAppend(f)) = %v, %v; want %v", got, err, s.frame)
				}
			})
		}
	}
}

func TestJSONUsesProtoNames(t *testing.T) {
	data, err := JSONCodec{}.Marshal(samples()[0].frame)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		ID   any            `json:"id"`
		Send map[string]any `json:"send"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("Marshal = %q, not a JSON frame: %v", data, err)
	}
	for _, key := range []string{"client_msg_id", "to_user_id", "type", "content"} {
		if _, ok := obj.Send[key]; !ok {
			t.Errorf("Marshal = %s, want key send.%s", data, key)
		}
	}
	// The id is a JSON string, per the protobuf JSON mapping of uint64.
	if obj.ID != "1" {
		t.Errorf("Marshal = %s, want \"id\":\"1\"", data)
	}
}

func TestJSONAcceptsNumbersAndCamelCase(t *testing.T) {
	in := `{"id":9,"deliverAck":{"cursors":[{"convId":"p:a:b","seq":3}]}}`
	got, err := Decode(JSONCodec{}, []byte(in), testMax)
	if err != nil {
		t.Fatalf("Decode(%q) error = %v", in, err)
	}
	want := &magpiev1.Frame{Id: 9, Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
		Cursors: []*magpiev1.Cursor{{ConvId: "p:a:b", Seq: 3}},
	}}}
	if !proto.Equal(got, want) {
		t.Errorf("Decode(%q) = %v, want %v", in, got, want)
	}
}

// appendField appends a length-delimited field.
func appendField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func TestDecodeErrors(t *testing.T) {
	// A Send whose content (field 4) is not UTF-8.
	badSend := appendField(nil, 10, appendField(nil, 4, []byte("hi \xff")))
	// A SyncConversations whose conv_ids (field 3, repeated) holds an id
	// that is not UTF-8.
	badMember := appendField(nil, 30, appendField(nil, 3, []byte("\xc3\x28")))
	// A frame with id 7 and only a field this version does not know.
	unknownBody := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7)
	unknownBody = appendField(unknownBody, 99, []byte("future"))

	tests := []struct {
		name   string
		codec  Codec
		data   []byte
		limit  int
		want   error
		wantID uint64 // frame id returned with ErrEmpty and ErrUnknownField
	}{
		{"proto/too_large", ProtoCodec{}, make([]byte, 11), 10, ErrTooLarge, 0},
		{"json/too_large", JSONCodec{}, []byte(`{"ping":{}}`), 10, ErrTooLarge, 0},
		{"proto/truncated", ProtoCodec{}, []byte{0x52, 0x05, 0x0a}, testMax, ErrMalformed, 0},
		{"proto/bad_tag", ProtoCodec{}, []byte{0xff, 0xff, 0xff}, testMax, ErrMalformed, 0},
		{"proto/wrong_wire_type", ProtoCodec{}, []byte{0x52, 0x01}, testMax, ErrMalformed, 0},
		{"proto/invalid_utf8", ProtoCodec{}, badSend, testMax, ErrMalformed, 0},
		{"proto/invalid_utf8_repeated", ProtoCodec{}, badMember, testMax, ErrMalformed, 0},
		{"json/syntax", JSONCodec{}, []byte(`{"id":`), testMax, ErrMalformed, 0},
		{"json/not_object", JSONCodec{}, []byte(`[1,2]`), testMax, ErrMalformed, 0},
		{"json/unknown_field_and_syntax", JSONCodec{}, []byte(`{"id":"1","bogus":1,"ping":`), testMax, ErrMalformed, 0},
		{"json/unknown_field_and_wrong_type", JSONCodec{}, []byte(`{"bogus":1,"read":{"seq":"abc"}}`), testMax, ErrMalformed, 0},
		{"json/two_bodies", JSONCodec{}, []byte(`{"ping":{},"pong":{}}`), testMax, ErrMalformed, 0},
		{"json/wrong_type", JSONCodec{}, []byte(`{"read":{"seq":"abc"}}`), testMax, ErrMalformed, 0},
		{"json/invalid_utf8", JSONCodec{}, []byte("{\"send\":{\"content\":\"hi \xff\"}}"), testMax, ErrMalformed, 0},
		{"proto/empty", ProtoCodec{}, nil, testMax, ErrEmpty, 0},
		{"proto/unknown_body", ProtoCodec{}, unknownBody, testMax, ErrEmpty, 7},
		{"json/empty", JSONCodec{}, []byte(`{"id":"7"}`), testMax, ErrEmpty, 7},
		{"json/null_body", JSONCodec{}, []byte(`{"ping":null}`), testMax, ErrEmpty, 0},
		{"json/unknown_body", JSONCodec{}, []byte(`{"id":3,"fooBar":{}}`), testMax, ErrUnknownField, 3},
		{"json/unknown_field", JSONCodec{}, []byte(`{"id":"1","ping":{},"bogus":1}`), testMax, ErrUnknownField, 1},
		{"json/unknown_nested_field", JSONCodec{}, []byte(`{"id":"5","send":{"content":"x","colour":"red"}}`), testMax, ErrUnknownField, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.codec, tt.data, tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) = %v, %v; want error %v", tt.data, f, err, tt.want)
			}
			switch {
			case tt.want == ErrEmpty, tt.want == ErrUnknownField:
				if f == nil || f.GetId() != tt.wantID {
					t.Errorf("Decode(%q) frame = %v, want id %d", tt.data, f, tt.wantID)
				}
			case f != nil:
				t.Errorf("Decode(%q) frame = %v, want nil", tt.data, f)
			}
			if tt.want == ErrMalformed {
				var u interface{ Unwrap() []error }
				if !errors.As(err, &u) || len(u.Unwrap()) != 2 {
					t.Errorf("Decode(%q) error %v does not wrap the cause", tt.data, err)
				}
			}
		})
	}
}

func TestDecodeLimit(t *testing.T) {
	data, err := ProtoCodec{}.Marshal(deliverFrame(4))
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{len(data), 0, -1} {
		if _, err := Decode(ProtoCodec{}, data, limit); err != nil {
			t.Errorf("Decode(%d bytes, limit %d) error = %v, want nil", len(data), limit, err)
		}
	}
	if _, err := Decode(ProtoCodec{}, data, len(data)-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode(%d bytes, limit %d) error = %v, want ErrTooLarge", len(data), len(data)-1, err)
	}
}

func TestMarshalRejectsInvalidUTF8(t *testing.T) {
	f := &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{Content: "bad \xff"}}}
	for _, c := range codecs() {
		if data, err := c.Marshal(f); err == nil {
			t.Errorf("%s Marshal(invalid UTF-8) = %q, want error", c.Subprotocol(), data)
		}
	}
}

func TestProtoDropsUnknownFields(t *testing.T) {
	data, err := ProtoCodec{}.Marshal(samples()[0].frame)
	if err != nil {
		t.Fatal(err)
	}
	data = appendField(data, 99, []byte("from a newer client"))
	f, err := Decode(ProtoCodec{}, data, testMax)
	if err != nil {
		t.Fatalf("Decode(%q) error = %v", data, err)
	}
	if u := f.ProtoReflect().GetUnknown(); len(u) != 0 {
		t.Errorf("Decode kept unknown fields %q, want them dropped", u)
	}
}

func TestCodecFor(t *testing.T) {
	for _, sp := range Subprotocols() {
		c, ok := CodecFor(sp)
		if !ok || c.Subprotocol() != sp {
			t.Errorf("CodecFor(%q) = %v, %v", sp, c, ok)
		}
	}
	if c, _ := CodecFor(SubprotocolProto); !c.Binary() {
		t.Errorf("CodecFor(%q).Binary() = false, want true", SubprotocolProto)
	}
	if c, _ := CodecFor(SubprotocolJSON); c.Binary() {
		t.Errorf("CodecFor(%q).Binary() = true, want false", SubprotocolJSON)
	}
	for _, sp := range []string{"", "magpie.v2.proto", "MAGPIE.V1.JSON"} {
		if c, ok := CodecFor(sp); ok {
			t.Errorf("CodecFor(%q) = %v, true; want false", sp, c)
		}
	}
}

func TestBodyNameEmpty(t *testing.T) {
	for _, f := range []*magpiev1.Frame{nil, {}, {Id: 3}} {
		if got := BodyName(f); got != "" {
			t.Errorf("BodyName(%v) = %q, want \"\"", f, got)
		}
	}
}

func TestErrorFrame(t *testing.T) {
	tests := []struct {
		code      string
		retryable bool
	}{
		{CodeRateLimited, true},
		{CodeInternal, true},
		{CodeUnavailable, true},
		{CodeInvalidArgument, false},
		{"some_future_code", false},
	}
	for _, tt := range tests {
		f := ErrorFrame(12, tt.code, "detail")
		e := f.GetError()
		if f.GetId() != 12 || e.GetCode() != tt.code || e.GetMessage() != "detail" || e.GetRetryable() != tt.retryable {
			t.Errorf("ErrorFrame(12, %q, \"detail\") = %v, want retryable %v", tt.code, f, tt.retryable)
		}
	}
}

// TestDeps keeps the package light for client SDKs: it may import only the
// standard library, the protobuf runtime and the generated protocol package.
func TestDeps(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			ok := std || path == "github.com/magpie-im/magpie/sdk/proto/magpie/v1" ||
				strings.HasPrefix(path, "google.golang.org/protobuf/")
			if !ok {
				t.Errorf("%s imports %q; wire may import only the standard library, protobuf and magpiev1", name, path)
			}
		}
	}
}

// TestNewClientMsgIDGrowsWithTime checks the layout the server's dedup
// index is fast with: 32 hex digits that sort, as strings, in the order
// they were made (one millisecond apart or more), distinct within a
// millisecond, starting with the time.
func TestNewClientMsgIDGrowsWithTime(t *testing.T) {
	start := time.UnixMilli(1_767_225_600_000)
	if got, want := NewClientMsgID(start)[:12], "019b76daa800"; got != want { // 1,767,225,600,000 ms in hex
		t.Errorf("time part = %s, want %s", got, want)
	}
	var prev string
	seen := map[string]bool{}
	for i := range 2000 {
		at := start.Add(time.Duration(i/4) * time.Millisecond) // four per millisecond
		id := NewClientMsgID(at)
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q: want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if i%4 == 0 && id <= prev {
			t.Fatalf("id %q at %v sorts before %q, made a millisecond earlier", id, at, prev)
		}
		prev = id
	}
}
