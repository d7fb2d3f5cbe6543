package push_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/push"
)

var t0 = time.UnixMilli(1_700_000_000_123).UTC()

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		job  push.OfflineJob
	}{
		{"text", push.OfflineJob{UserID: "bob", ConvID: "p:alice:bob", Seq: 7, SenderID: "alice", Type: "text", Preview: "hello", CreatedAt: t0}},
		{"system", push.OfflineJob{UserID: "bob", ConvID: "s:bob", Seq: 1, Type: "text", CreatedAt: t0}},
		{"longest", push.OfflineJob{
			UserID: strings.Repeat("u", push.MaxIDBytes), ConvID: strings.Repeat("c", push.MaxIDBytes),
			SenderID: strings.Repeat("s", push.MaxIDBytes), Type: strings.Repeat("t", push.MaxTypeBytes),
			Seq: 1<<63 - 1, Preview: strings.Repeat("😀", push.PreviewRunes), CreatedAt: t0,
		}},
		{"escapes", push.OfflineJob{UserID: `a"b\c`, ConvID: "c\x00\n1", Seq: 2, Type: "custom", Preview: "<tag> & \u2028", CreatedAt: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := push.EncodeOffline(tc.job)
			if err != nil {
				t.Fatalf("EncodeOffline(%+v) = %v", tc.job, err)
			}
			got, err := push.DecodeOffline(b)
			if err != nil || got != tc.job {
				t.Errorf("DecodeOffline(%s) = %+v, %v, want %+v", b, got, err, tc.job)
			}
		})
	}
}

// TestEncodeFormat pins the wire form: workers of another version read it.
func TestEncodeFormat(t *testing.T) {
	b, err := push.EncodeOffline(push.OfflineJob{UserID: "bob", ConvID: "c1", Seq: 3, SenderID: "alice",
		Type: "text", Preview: "hi", CreatedAt: t0})
	const want = `{"v":1,"user_id":"bob","conv_id":"c1","seq":3,"sender_id":"alice","type":"text","preview":"hi","created_at_ms":1700000000123}`
	if err != nil || string(b) != want {
		t.Errorf("EncodeOffline = %s, %v, want %s", b, err, want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	const valid = `"user_id":"bob","conv_id":"c1","seq":3,"type":"text","created_at_ms":1700000000123`
	tests := []struct {
		name, body, why string
	}{
		{"empty", ``, "EOF"},
		{"not json", `offline`, "invalid character"},
		{"null", `null`, "version 0"},
		{"array", `[1]`, "cannot unmarshal"},
		{"no version", `{` + valid + `}`, "version 0"},
		{"future version", `{"v":2,` + valid + `}`, "version 2"},
		{"no user", `{"v":1,"conv_id":"c1","seq":3,"type":"text","created_at_ms":1}`, "user_id is empty"},
		{"no conversation", `{"v":1,"user_id":"bob","seq":3,"type":"text","created_at_ms":1}`, "conv_id is empty"},
		{"no type", `{"v":1,"user_id":"bob","conv_id":"c1","seq":3,"created_at_ms":1}`, "type is empty"},
		{"seq zero", `{"v":1,"user_id":"bob","conv_id":"c1","seq":0,"type":"text","created_at_ms":1}`, "seq 0"},
		{"seq negative", `{"v":1,"user_id":"bob","conv_id":"c1","seq":-4,"type":"text","created_at_ms":1}`, "seq -4"},
		{"seq fraction", `{"v":1,"user_id":"bob","conv_id":"c1","seq":1.5,"type":"text","created_at_ms":1}`, "cannot unmarshal"},
		{"seq string", `{"v":1,"user_id":"bob","conv_id":"c1","seq":"1","type":"text","created_at_ms":1}`, "cannot unmarshal"},
		{"seq overflow", `{"v":1,"user_id":"bob","conv_id":"c1","seq":9223372036854775808,"type":"text","created_at_ms":1}`, "cannot unmarshal"},
		{"no time", `{"v":1,"user_id":"bob","conv_id":"c1","seq":1,"type":"text"}`, "created_at_ms 0"},
		{"long user", `{"v":1,` + valid + `,"user_id":"` + strings.Repeat("u", push.MaxIDBytes+1) + `"}`, "user_id is 257 bytes"},
		{"long sender", `{"v":1,` + valid + `,"sender_id":"` + strings.Repeat("s", push.MaxIDBytes+1) + `"}`, "sender_id is 257 bytes"},
		{"long type", `{"v":1,` + valid + `,"type":"` + strings.Repeat("t", push.MaxTypeBytes+1) + `"}`, "type is 65 bytes"},
		{"long preview", `{"v":1,` + valid + `,"preview":"` + strings.Repeat("é", push.PreviewRunes+1) + `"}`, "longer than 100 runes"},
		{"oversized", `{"v":1,` + valid + `}` + strings.Repeat(" ", push.MaxJobBytes), "the limit is 16384"},
		{"trailing data", `{"v":1,` + valid + `}{}`, "data after"},
		{"truncated", `{"v":1,` + valid, "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := push.DecodeOffline([]byte(tc.body))
			if !errors.Is(err, push.ErrMalformed) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("DecodeOffline(%.80q) = %+v, %v, want an ErrMalformed saying %q", tc.body, j, err, tc.why)
			}
		})
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	body := `{"v":1,"user_id":"bob","conv_id":"c1","seq":3,"type":"text","created_at_ms":1700000000123,"badge":4}`
	want := push.OfflineJob{UserID: "bob", ConvID: "c1", Seq: 3, Type: "text", CreatedAt: t0}
	if got, err := push.DecodeOffline([]byte(body)); err != nil || got != want {
		t.Errorf("DecodeOffline(%s) = %+v, %v, want %+v", body, got, err, want)
	}
}

func TestEncodeRefuses(t *testing.T) {
	ok := push.OfflineJob{UserID: "bob", ConvID: "c1", Seq: 1, Type: "text", CreatedAt: t0}
	tests := []struct {
		name   string
		change func(*push.OfflineJob)
	}{
		{"no user", func(j *push.OfflineJob) { j.UserID = "" }},
		{"seq zero", func(j *push.OfflineJob) { j.Seq = 0 }},
		{"zero time", func(j *push.OfflineJob) { j.CreatedAt = time.Time{} }},
		{"long conversation", func(j *push.OfflineJob) { j.ConvID = strings.Repeat("c", push.MaxIDBytes+1) }},
		{"invalid UTF-8", func(j *push.OfflineJob) { j.Preview = "ab\xff" }},
		{"long preview", func(j *push.OfflineJob) { j.Preview = strings.Repeat("x", push.PreviewRunes+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := ok
			tc.change(&j)
			if b, err := push.EncodeOffline(j); !errors.Is(err, push.ErrMalformed) {
				t.Errorf("EncodeOffline(%+v) = %s, %v, want ErrMalformed", j, b, err)
			}
		})
	}
}

func TestOfflineJobID(t *testing.T) {
	id := push.OfflineJobID("A", "bob", "c1", 3)
	if id != push.OfflineJobID("A", "bob", "c1", 3) {
		t.Fatal("OfflineJobID is not deterministic")
	}
	if !strings.HasPrefix(id, "off_") || len(id) != 36 {
		t.Errorf("OfflineJobID = %q, want off_ and 32 hex digits", id)
	}
	others := [][4]any{
		{"B", "bob", "c1", int64(3)},
		{"A", "bo", "bc1", int64(3)}, // the same bytes, split differently
		{"A", "bob", "c1", int64(4)},
		{"Ab", "ob", "c1", int64(3)},
		{"A", "bob", "c2", int64(3)},
	}
	for _, o := range others {
		if other := push.OfflineJobID(o[0].(string), o[1].(string), o[2].(string), o[3].(int64)); other == id {
			t.Errorf("OfflineJobID%v = %q, the same as for (A, bob, c1, 3)", o, other)
		}
	}
}

func TestPreview(t *testing.T) {
	long := strings.Repeat("ab", 80)
	emoji := strings.Repeat("😀", 120)
	tests := []struct {
		typ, body, want string
	}{
		{"text", "hello", "hello"},
		{"text", "", ""},
		{"text", long, long[:100]},
		{"text", emoji, strings.Repeat("😀", 100)},
		{"text", "ok\xffno", ""},
		{"custom", `{"card":1}`, ""},
	}
	for _, tc := range tests {
		if got := push.Preview(tc.typ, []byte(tc.body)); got != tc.want {
			t.Errorf("Preview(%q, %.20q) = %.20q, want %.20q", tc.typ, tc.body, got, tc.want)
		}
	}
}
