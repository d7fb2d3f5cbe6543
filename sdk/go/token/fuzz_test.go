package token

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that Parse and PeekAppKey never panic on untrusted input,
// fail only with this package's sentinels, and accept only tokens whose
// claims meet the documented rules.
func FuzzParse(f *testing.F) {
	good, _, err := Mint(appKey, secret, "alice", time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(craft(f, map[string]any{"alg": "none"}, validClaims(), nil, ""))
	f.Add(craft(f, hs256, map[string]any{"iss": appKey, "sub": "bob", "aud": []string{"magpie"}, "iat": 1.5, "exp": 1e300}, sha256.New, secret))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")

	sentinels := []error{ErrMalformed, ErrSignature, ErrExpired, ErrWrongApp}
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := PeekAppKey(tok); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("PeekAppKey(%q) = %v, want an ErrMalformed", tok, err)
		}
		c, err := Parse(tok, appKey, []string{"msk_other", secret}, now)
		if err != nil {
			// ParseFor refuses it too, given the same secrets as appKey's
			// (a token of another app fails its lookup here).
			if _, _, err2 := ParseFor(tok, now, secretsOf(map[string][]string{appKey: {"msk_other", secret}})); err2 == nil {
				t.Fatalf("ParseFor(%q) accepted what Parse refused (%v)", tok, err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Parse(%q) = %v, which wraps no sentinel", tok, err)
		}
		if c.AppKey != appKey || !ValidUserID(c.UserID) || !now.Before(c.ExpiresAt) {
			t.Fatalf("Parse(%q) accepted claims %+v", tok, c)
		}
		if key, err := PeekAppKey(tok); err != nil || key != appKey {
			t.Fatalf("PeekAppKey(%q) = %q, %v after Parse accepted it", tok, key, err)
		}
		if c2, used, err := ParseFor(tok, now, secretsOf(map[string][]string{appKey: {"msk_other", secret}})); err != nil || c2 != c || used != secret {
			t.Fatalf("ParseFor(%q) = %+v, %q, %v after Parse accepted it with %+v", tok, c2, used, err, c)
		}
	})
}
