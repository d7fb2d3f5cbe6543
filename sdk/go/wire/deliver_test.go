package wire

import (
	"bytes"
	"slices"
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestDeliverFastPathCoversMessage fails when Deliver or Message gains a
// field unmarshalDeliver does not decode: such frames would silently go
// to the slow path (or, worse, a field of the right number and another
// meaning would be misread). Add the field to deliver.go, then here.
func TestDeliverFastPathCoversMessage(t *testing.T) {
	want := map[protoreflect.FullName]map[protoreflect.FieldNumber]protoreflect.Kind{
		"magpie.v1.Deliver": {deliverMessagesField: protoreflect.MessageKind},
		"magpie.v1.Message": {
			messageConvID: protoreflect.StringKind, messageSeq: protoreflect.Int64Kind,
			messageSenderID: protoreflect.StringKind, messageClientMsgID: protoreflect.StringKind,
			messageType: protoreflect.StringKind, messageContent: protoreflect.StringKind,
			messageCreatedAt: protoreflect.Int64Kind, messageRecalled: protoreflect.BoolKind,
			messageMentions: protoreflect.StringKind, messageMentionAll: protoreflect.BoolKind,
			messageEditedAt: protoreflect.Int64Kind,
		},
	}
	for _, md := range []protoreflect.MessageDescriptor{
		(&magpiev1.Deliver{}).ProtoReflect().Descriptor(), (&magpiev1.Message{}).ProtoReflect().Descriptor(),
	} {
		fields := md.Fields()
		known := want[md.FullName()]
		if fields.Len() != len(known) {
			t.Errorf("%s has %d fields, the fast path decodes %d", md.FullName(), fields.Len(), len(known))
		}
		for i := range fields.Len() {
			fd := fields.Get(i)
			kind, ok := known[fd.Number()]
			if !ok || kind != fd.Kind() {
				t.Errorf("%s field %d (%s, %s) is not decoded by the fast path", md.FullName(), fd.Number(), fd.Name(), fd.Kind())
			}
		}
	}
	// The frame's fields the fast path reads.
	fd := (&magpiev1.Frame{}).ProtoReflect().Descriptor().Fields()
	if f := fd.ByNumber(frameIDField); f == nil || f.Name() != "id" || f.Kind() != protoreflect.Uint64Kind {
		t.Errorf("Frame field %d is not the uint64 id", frameIDField)
	}
	if f := fd.ByNumber(frameDeliverField); f == nil || f.Name() != "deliver" {
		t.Errorf("Frame field %d is not deliver", frameDeliverField)
	}
}

// fastFrames are Deliver frames the fast path must take, encoded as the
// server sends them.
func fastFrames(t testing.TB) map[string][]byte {
	t.Helper()
	enc := func(f *magpiev1.Frame) []byte {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := testMessage(9)
	full.Recalled, full.MentionAll = true, true
	full.Mentions = []string{"bob", "carol", "dävid"}
	full.EditedAtMs = 1767225609999
	full.Content = "héllo, 世界 👋"
	one := enc(deliverFrame(1))
	msg, err := proto.Marshal(testMessage(1))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"one":  one,
		"many": enc(deliverFrame(32)),
		"every field": enc(&magpiev1.Frame{Id: 77, Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{full, testMessage(10)}}}}),
		"empty deliver": enc(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{}}}),
		"empty message": enc(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{{}}}}}),
		// The server merges consecutive pushes by joining their encodings.
		"merged": bytes.Join([][]byte{one, enc(deliverFrame(3)), enc(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{
			Deliver: &magpiev1.Deliver{Messages: []*magpiev1.Message{full}}}})}, nil),
		// A field given twice: the last one wins, as in proto.
		"repeated id": append(idField(idField(nil, 5), 6), one...),
		// Fields this version does not know (a newer server's, field 9
		// reserved here; or a known number of another wire type) are
		// dropped, as proto's DiscardUnknown drops them.
		"unknown in message": deliverOf(slices.Concat(msg,
			protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), []byte("bob\xff")),
			protowire.AppendFixed64(protowire.AppendTag(nil, 99, protowire.Fixed64Type), 7),
			protowire.AppendFixed32(protowire.AppendTag(nil, 98, protowire.Fixed32Type), 7),
			protowire.AppendVarint(protowire.AppendTag(nil, 97, protowire.VarintType), 7),
			protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(protowire.AppendTag(nil, 96, protowire.StartGroupType), 1, protowire.VarintType), 2), 96, protowire.EndGroupType))),
		"wrong wire types": deliverOf(slices.Concat(msg,
			protowire.AppendBytes(protowire.AppendTag(nil, messageSeq, protowire.BytesType), []byte{1}),
			protowire.AppendVarint(protowire.AppendTag(nil, messageConvID, protowire.VarintType), 3),
			protowire.AppendFixed32(protowire.AppendTag(nil, messageMentions, protowire.Fixed32Type), 3))),
		"unknown in deliver": protowire.AppendBytes(protowire.AppendTag(nil, frameDeliverField, protowire.BytesType), slices.Concat(
			protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1),
			protowire.AppendBytes(protowire.AppendTag(nil, deliverMessagesField, protowire.BytesType), msg),
			protowire.AppendVarint(protowire.AppendTag(nil, deliverMessagesField, protowire.VarintType), 1),
			protowire.AppendBytes(protowire.AppendTag(nil, deliverMessagesField, protowire.BytesType), msg))),
	}
}

func TestDeliverFastPathDecodesAsProto(t *testing.T) {
	for name, data := range fastFrames(t) {
		t.Run(name, func(t *testing.T) {
			want := &magpiev1.Frame{}
			if err := protoUnmarshal.Unmarshal(data, want); err != nil { // the codec's options: unknown fields dropped
				t.Fatal(err)
			}
			got := &magpiev1.Frame{Id: 3, Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}} // reset, as by proto
			if !unmarshalDeliver(data, got) {
				t.Fatal("the fast path did not take the frame")
			}
			if !proto.Equal(got, want) {
				t.Fatalf("fast path decoded\n%v\nproto decoded\n%v", got, want)
			}
			// The strings are copies: the buffer may be reused at once.
			clone := proto.Clone(got)
			for i := range data {
				data[i] = 0xff
			}
			if !proto.Equal(got, clone) {
				t.Fatal("the decoded frame changed with the input buffer")
			}
		})
	}
}

func TestDeliverFastPathLeavesOtherFramesToProto(t *testing.T) {
	enc := func(f *magpiev1.Frame) []byte {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one := enc(deliverFrame(1))
	msg, _ := proto.Marshal(testMessage(1))
	badUTF8 := bytes.Replace(one, []byte("alice"), []byte("al\xffce"), 1)
	cases := map[string]struct {
		data    []byte
		protoOK bool // proto.Unmarshal decodes it (with unknown fields dropped)
	}{
		"send":                 {enc(samples()[0].frame), true},
		"no body":              {enc(&magpiev1.Frame{Id: 4}), true},
		"unknown in frame":     {protowire.AppendVarint(protowire.AppendTag(one, 999, protowire.VarintType), 1), true},
		"field number too big": {deliverOf(protowire.AppendVarint(protowire.AppendTag(msg, protowire.MaxValidNumber+1, protowire.VarintType), 1)), false},
		"unmatched end group":  {deliverOf(protowire.AppendTag(msg, 20, protowire.EndGroupType)), false},
		"invalid UTF-8":        {badUTF8, false},
		"truncated":            {one[:len(one)-3], false},
		"truncated tag":        {append(one[:len(one):len(one)], 0x80), false},
		"deliver not a bytes":  {protowire.AppendVarint(protowire.AppendTag(nil, frameDeliverField, protowire.VarintType), 1), true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := &magpiev1.Frame{Id: 3}
			if unmarshalDeliver(c.data, f) {
				t.Fatal("the fast path took the frame")
			}
			if f.GetId() != 3 {
				t.Fatal("the fast path changed the frame it did not take")
			}
			// Through the codec, the frame decodes as proto decodes it.
			var want, got magpiev1.Frame
			wantErr := protoUnmarshal.Unmarshal(c.data, &want)
			gotErr := ProtoCodec{}.Unmarshal(c.data, &got)
			if (wantErr == nil) != c.protoOK || (gotErr == nil) != c.protoOK {
				t.Fatalf("proto error %v, codec error %v; want success %v", wantErr, gotErr, c.protoOK)
			}
			if c.protoOK && !proto.Equal(&got, &want) {
				t.Fatalf("codec decoded\n%v\nproto decoded\n%v", &got, &want)
			}
		})
	}
}

// FuzzDeliverFastPath checks that whatever the fast path takes, proto
// decodes to an equal frame.
func FuzzDeliverFastPath(f *testing.F) {
	for _, data := range fastFrames(f) {
		f.Add(data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got magpiev1.Frame
		if !unmarshalDeliver(data, &got) {
			return
		}
		var want magpiev1.Frame
		if err := protoUnmarshal.Unmarshal(data, &want); err != nil {
			t.Fatalf("fast path took %q, proto fails: %v", data, err)
		}
		if !proto.Equal(&got, &want) {
			t.Fatalf("fast path decoded %q as\n%v\nproto as\n%v", data, &got, &want)
		}
	})
}

// idField appends a frame id field of value v to b.
func idField(b []byte, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, frameIDField, protowire.VarintType), v)
}

// deliverOf encodes a Deliver frame of one message whose encoding is msg.
func deliverOf(msg []byte) []byte {
	d := protowire.AppendBytes(protowire.AppendTag(nil, deliverMessagesField, protowire.BytesType), msg)
	return protowire.AppendBytes(protowire.AppendTag(nil, frameDeliverField, protowire.BytesType), d)
}
