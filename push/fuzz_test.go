package push_test

import (
	"errors"
	"reflect"
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

// FuzzDecodeSend: decoding a send job never panics, refuses with
// ErrMalformed, and what it accepts survives a round trip. Seeds are in
// testdata/fuzz/FuzzDecodeSend.
func FuzzDecodeSend(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := push.DecodeSend(b)
		if err != nil {
			if !errors.Is(err, push.ErrMalformed) {
				t.Fatalf("DecodeSend(%q) = %v, not an ErrMalformed", b, err)
			}
			return
		}
		again, err := push.EncodeSend(j)
		if err != nil {
			t.Fatalf("EncodeSend(%+v) of an accepted body = %v", j, err)
		}
		if _, err := push.DecodeSend(again); err != nil {
			t.Fatalf("DecodeSend(EncodeSend(%+v)) = %v", j, err)
		}
	})
}

// FuzzParseOptions: push options from clients never panic the parser, are
// refused with a *ValidationError, and what is accepted encodes and parses
// back to the same options.
func FuzzParseOptions(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := push.ParseOptions(b)
		if err != nil {
			var ve *push.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParseOptions(%q) = %v, not a *ValidationError", b, err)
			}
			return
		}
		o2, err := push.ParseOptions(o.Encode())
		if err != nil || !reflect.DeepEqual(normData(o), normData(o2)) {
			t.Fatalf("ParseOptions(Encode(%+v)) = %+v, %v", o, o2, err)
		}
	})
}

// normData makes empty data nil, which encodes the same.
func normData(o push.Options) push.Options {
	if len(o.Data) == 0 {
		o.Data = nil
	}
	return o
}
