package apns_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push/apns"
	"github.com/magpie-im/magpie/push/provider"
)

// FuzzParseCredential: ParseCredential never panics, refuses with
// ErrCredential, and what it accepts passes Check and New. Seeds are in
// testdata/fuzz/FuzzParseCredential (a good credential, with a key made for
// these tests only, and near misses).
func FuzzParseCredential(f *testing.F) {
	f.Add([]byte("not a key"), "ABCDEFGHIJ", "0123456789", "im.magpie.app")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), "ABC", "", "")
	f.Fuzz(func(t *testing.T, key []byte, keyID, teamID, topic string) {
		c, err := apns.ParseCredential(key, keyID, teamID, topic)
		if err != nil {
			if !errors.Is(err, provider.ErrCredential) {
				t.Fatalf("ParseCredential = %v, not an ErrCredential", err)
			}
			return
		}
		if err := apns.Check(c); err != nil {
			t.Fatalf("Check of an accepted credential = %v", err)
		}
		s, err := apns.New(c, apns.Options{})
		if err != nil {
			t.Fatalf("New of an accepted credential = %v", err)
		}
		s.Close()
	})
}

// TestFuzzSeedAccepted keeps the good seed good: a corpus of refusals only
// would not reach Check and New.
func TestFuzzSeedAccepted(t *testing.T) {
	b, err := os.ReadFile("testdata/fuzz/FuzzParseCredential/good")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var vals []string
	for _, l := range lines[1:5] {
		l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(l, "[]byte("), "string("), ")")
		v, err := strconv.Unquote(l)
		if err != nil {
			t.Fatalf("seed line %q: %v", l, err)
		}
		vals = append(vals, v)
	}
	if _, err := apns.ParseCredential([]byte(vals[0]), vals[1], vals[2], vals[3]); err != nil {
		t.Errorf("ParseCredential(good seed) = %v", err)
	}
}
