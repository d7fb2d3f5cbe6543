package fcm_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push/fcm"
	"github.com/magpie-im/magpie/push/provider"
)

// FuzzParseCredential: ParseCredential never panics, refuses with
// ErrCredential, and what it accepts has its fields and can make a Sender.
// Seeds are in testdata/fuzz/FuzzParseCredential (a good service account,
// with a key made for these tests only, and near misses).
func FuzzParseCredential(f *testing.F) {
	f.Add([]byte(`{"type":"service_account","project_id":"p","client_email":"a@b","private_key":"x","token_uri":"https://h/t"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := fcm.ParseCredential(b)
		if err != nil {
			if !errors.Is(err, provider.ErrCredential) {
				t.Fatalf("ParseCredential(%q) = %v, not an ErrCredential", b, err)
			}
			return
		}
		if c.ProjectID == "" || c.ClientEmail == "" || c.TokenURI == "" || len(c.JSON) > fcm.MaxCredentialBytes {
			t.Fatalf("ParseCredential(%q) accepted %+v", b, c)
		}
		s, err := fcm.New(t.Context(), c, fcm.Options{})
		if err != nil {
			t.Fatalf("New of an accepted credential = %v", err)
		}
		s.Close()
	})
}

// TestFuzzSeedsAccepted keeps the good seeds good: a corpus of refusals
// only would not reach New.
func TestFuzzSeedsAccepted(t *testing.T) {
	for _, name := range []string{"good", "pkcs1-key"} {
		b, err := os.ReadFile("testdata/fuzz/FuzzParseCredential/" + name)
		if err != nil {
			t.Fatal(err)
		}
		_, arg, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(arg, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if _, err := fcm.ParseCredential([]byte(v)); err != nil {
			t.Errorf("ParseCredential(seed %s) = %v", name, err)
		}
	}
}
