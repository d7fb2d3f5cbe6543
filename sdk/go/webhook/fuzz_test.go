package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzVerify checks that Verify never panics on arbitrary headers and body,
// that every error is one of the package's sentinels, and that it accepts a
// delivery only when the signature list holds the key's v1 signature.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := ParseSecret(secret)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1614265330, 0)
	good := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", now, []byte(`{"test": 2432232314}`))
	for _, seed := range []struct{ id, ts, sig, body string }{
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good, `{"test": 2432232314}`},
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v2,abc " + good, `{"test": 2432232314}`},
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331", good, `{"test": 2432232314}`},
		{"msg_1", "1614265330", "v1,", ""},
		{"", "", "", ""},
		{"msg 1", "-1", "v1,,,, v1,=== ", "\x00"},
		{"msg_1", "99999999999999999999", "v1,AAAA", "{}"},
		{strings.Repeat("a", 257), "1614265330", strings.Repeat("v1,AAAA ", 600), "{}"},
	} {
		f.Add(seed.id, seed.ts, seed.sig, []byte(seed.body))
	}
	v, err := NewVerifier(secret)
	if err != nil {
		f.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := v.Verify(h, body)
		if err != nil {
			for _, sentinel := range []error{ErrMissingHeaders, ErrHeaders, ErrTimestamp, ErrSignature} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("Verify(%q, %q, %q) = %v, not one of the sentinel errors", id, ts, sig, err)
		}
		// Accepted: the timestamp is this clock's second, give or take the
		// tolerance, so re-signing at that second must reproduce an entry.
		var sec int64
		for _, c := range []byte(ts) {
			sec = sec*10 + int64(c-'0')
		}
		want := Sign(key, id, time.Unix(sec, 0), body)
		for _, entry := range strings.Fields(sig) {
			if entry == want {
				return
			}
		}
		t.Fatalf("Verify(%q, %q, %q) = nil, but no entry is %q", id, ts, sig, want)
	})
}
