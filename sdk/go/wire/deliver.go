package wire

import (
	"unicode/utf8"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// A client spends most of its decoding on Deliver pushes: a member of a
// busy group gets hundreds of messages a second, and the generic decoder
// allocates every string of every message on its own (five or more a
// message). unmarshalDeliver decodes the common shape of that one frame
// with a single copy of the payload, every string field a slice of it, and
// the frame's messages in one array. It takes a frame only when it can
// decode it exactly as proto.Unmarshal would; anything else (another body,
// invalid UTF-8, a malformed encoding) goes to the generic decoder. Inside
// a Deliver or a Message, a field it does not know (one a newer server
// added, or one of the wrong wire type) is skipped, as the codec's
// DiscardUnknown drops it, so that an older client keeps the fast path.
// TestDeliverFastPathCoversMessage fails when a field is added to Deliver
// or Message and not here.
//
// The strings share one allocation, so a string kept from a frame keeps
// the whole frame's payload alive; frames are bounded by the server's
// frame limit.

// Field numbers of the frames unmarshalDeliver decodes.
const (
	frameIDField      = 1
	frameDeliverField = 12

	deliverMessagesField = 1

	messageConvID      = 1
	messageSeq         = 2
	messageSenderID    = 3
	messageClientMsgID = 4
	messageType        = 5
	messageContent     = 6
	messageCreatedAt   = 7
	messageRecalled    = 8
	messageMentions    = 10
	messageMentionAll  = 11
	messageEditedAt    = 90
)

// unmarshalDeliver decodes data into f if it is a Deliver frame of the
// shape it knows, reporting whether it did; f is left untouched when not.
// A frame may hold the Deliver field several times (the server merges
// consecutive pushes so): proto merges them, which for a Deliver, whose
// one field is repeated, joins their messages in order.
func unmarshalDeliver(data []byte, f *magpiev1.Frame) bool {
	var (
		id       uint64
		delivers int
		count    int
	)
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == frameIDField && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			id, b = v, b[n:]
		case num == frameDeliverField && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			c, ok := countMessages(v)
			if !ok {
				return false
			}
			delivers, count, b = delivers+1, count+c, b[n:]
		default:
			return false
		}
	}
	if delivers == 0 {
		return false
	}
	// One copy of the frame backs every string: an offset into data is
	// one into base.
	base := string(data)
	var msgs []*magpiev1.Message
	if count > 0 {
		arr := make([]magpiev1.Message, count)
		msgs = make([]*magpiev1.Message, count)
		for i := range arr {
			msgs[i] = &arr[i]
		}
	}
	next := 0
	for off := 0; off < len(data); {
		num, _, n := protowire.ConsumeTag(data[off:])
		off += n
		if num == frameIDField {
			_, n := protowire.ConsumeVarint(data[off:])
			off += n
			continue
		}
		v, n := protowire.ConsumeBytes(data[off:])
		dstart := off + n - len(v)
		off += n
		for d := 0; d < len(v); {
			num, typ, n := protowire.ConsumeTag(v[d:])
			if num != deliverMessagesField || typ != protowire.BytesType {
				d += n + protowire.ConsumeFieldValue(num, typ, v[d+n:]) // skipped, as counted
				continue
			}
			mv, m := protowire.ConsumeBytes(v[d+n:])
			at := dstart + d + n + m - len(mv)
			if !decodeMessage(mv, base[at:at+len(mv)], msgs[next]) {
				return false
			}
			next++
			d += n + m
		}
	}
	// Reset as proto.Unmarshal does, then fill.
	*f = magpiev1.Frame{}
	f.Id = id
	f.Body = &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{Messages: msgs}}
	return true
}

// countMessages counts the messages of an encoded Deliver, reporting false
// if it is malformed.
func countMessages(b []byte) (int, bool) {
	count := 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return 0, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return 0, false
		}
		if num == deliverMessagesField && typ == protowire.BytesType {
			count++
		}
		b = b[n+m:]
	}
	return count, true
}

// consumeTag is protowire.ConsumeTag, also refusing the field numbers
// proto.Unmarshal refuses.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// decodeMessage decodes b, whose bytes are also s, into m.
func decodeMessage(b []byte, s string, m *magpiev1.Message) bool {
	off := 0
	str := func(v []byte, at int) (string, bool) {
		if !utf8.Valid(v) {
			return "", false
		}
		return s[at : at+len(v)], true
	}
	for off < len(b) {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return false
		}
		off += n
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return false
			}
			off += n
			switch num {
			case messageSeq:
				m.Seq = int64(v)
			case messageCreatedAt:
				m.CreatedAtMs = int64(v)
			case messageEditedAt:
				m.EditedAtMs = int64(v)
			case messageRecalled:
				m.Recalled = v != 0
			case messageMentionAll:
				m.MentionAll = v != 0
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return false
			}
			at := off + n - len(v)
			off += n
			var dst *string
			switch num {
			case messageConvID:
				dst = &m.ConvId
			case messageSenderID:
				dst = &m.SenderId
			case messageClientMsgID:
				dst = &m.ClientMsgId
			case messageType:
				dst = &m.Type
			case messageContent:
				dst = &m.Content
			case messageMentions:
				m.Mentions = append(m.Mentions, "")
				dst = &m.Mentions[len(m.Mentions)-1]
			default:
				continue // unknown: not checked, as proto does not
			}
			t, ok := str(v, at)
			if !ok {
				return false
			}
			*dst = t
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return false
			}
			off += n
		}
	}
	return true
}
