package push_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/magpie-im/magpie/push"
)

// FuzzDecodeOffline: decoding never panics, refuses with ErrMalformed, and
// what it accepts is within the limits and survives a round trip through
// EncodeOffline. Seeds are in testdata/fuzz/FuzzDecodeOffline.
func FuzzDecodeOffline(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := push.DecodeOffline(b)
		if err != nil {
			if !errors.Is(err, push.ErrMalformed) {
				t.Fatalf("DecodeOffline(%q) = %v, not an ErrMalformed", b, err)
			}
			return
		}
		switch {
		case j.UserID == "" || j.ConvID == "" || j.Type == "" || j.Seq <= 0 || j.CreatedAt.UnixMilli() <= 0:
			t.Fatalf("DecodeOffline(%q) accepted %+v, which lacks a field", b, j)
		case len(j.UserID) > push.MaxIDBytes || len(j.ConvID) > push.MaxIDBytes || len(j.SenderID) > push.MaxIDBytes ||
			len(j.Type) > push.MaxTypeBytes || utf8.RuneCountInString(j.Preview) > push.PreviewRunes:
			t.Fatalf("DecodeOffline(%q) accepted %+v, beyond a limit", b, j)
		}
		again, err := push.EncodeOffline(j)
		if err != nil {
			t.Fatalf("EncodeOffline(%+v) of an accepted body = %v", j, err)
		}
		if j2, err := push.DecodeOffline(again); err != nil || j2 != j {
			t.Fatalf("DecodeOffline(EncodeOffline(%+v)) = %+v, %v", j, j2, err)
		}
	})
}
