package webhook

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// signedAt is the signing time of the deliveries in these tests.
var signedAt = time.Unix(1767225600, 0)

// newTestVerifier returns a Verifier for secrets whose clock reads now.
func newTestVerifier(t *testing.T, now time.Time, secrets ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	v.Now = func() time.Time { return now }
	return v
}

func newTestSecret(t *testing.T) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	secret := newTestSecret(t)
	body := []byte(`{"type":"message.created"}`)
	h := Headers(mustParse(t, secret), "msg_1", signedAt, body)
	v := newTestVerifier(t, signedAt.Add(30*time.Second), secret)
	if err := v.Verify(h, body); err != nil {
		t.Errorf("Verify(own signature) = %v, want nil", err)
	}
	other := newTestVerifier(t, signedAt, newTestSecret(t))
	if err := other.Verify(h, body); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify with another secret = %v, want ErrSignature", err)
	}
}

func TestRotation(t *testing.T) {
	newest, oldest := newTestSecret(t), newTestSecret(t)
	body := []byte(`{}`)
	h := Headers(mustParse(t, newest, oldest), "msg_1", signedAt, body)
	sigs := strings.Split(h.Get(HeaderSignature), " ")
	if len(sigs) != 2 {
		t.Fatalf("%s = %q, want two signatures", HeaderSignature, h.Get(HeaderSignature))
	}
	if want := Sign(mustParse(t, newest)[0], "msg_1", signedAt, body); sigs[0] != want {
		t.Errorf("first signature = %q, want the newest secret's %q", sigs[0], want)
	}
	for name, secrets := range map[string][]string{
		"newest only":          {newest},
		"oldest only":          {oldest},
		"both":                 {oldest, newest},
		"newest and unrelated": {newTestSecret(t), newest},
	} {
		if err := newTestVerifier(t, signedAt, secrets...).Verify(h, body); err != nil {
			t.Errorf("%s: Verify = %v, want nil", name, err)
		}
	}
}

// delivery returns a header and body signed with secret at signedAt.
func delivery(t *testing.T, secret string) (http.Header, []byte) {
	t.Helper()
	body := []byte(`{"type":"message.created","text":"hello"}`)
	return Headers(mustParse(t, secret), "msg_2mZ4dKqYwB1nVx7pH3sLtE", signedAt, body), body
}

func TestVerifyTampered(t *testing.T) {
	secret := newTestSecret(t)
	v := newTestVerifier(t, signedAt, secret)
	for _, tc := range []struct {
		name   string
		change func(h http.Header, body []byte) []byte
	}{
		{"body byte", func(_ http.Header, body []byte) []byte { body[3] ^= 1; return body }},
		{"body appended", func(_ http.Header, body []byte) []byte { return append(body, ' ') }},
		{"body empty", func(http.Header, []byte) []byte { return nil }},
		{"id", func(h http.Header, body []byte) []byte { h.Set(HeaderID, "msg_other"); return body }},
		{"timestamp", func(h http.Header, body []byte) []byte {
			h.Set(HeaderTimestamp, "1767225601")
			return body
		}},
		{"signature byte", func(h http.Header, body []byte) []byte {
			sig := []byte(h.Get(HeaderSignature))
			sig[5] ^= 1
			h.Set(HeaderSignature, string(sig))
			return body
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, body := delivery(t, secret)
			body = tc.change(h, body)
			if err := v.Verify(h, body); !errors.Is(err, ErrSignature) {
				t.Errorf("Verify(%s changed) = %v, want ErrSignature", tc.name, err)
			}
		})
	}
}

func TestVerifyTimestampTolerance(t *testing.T) {
	secret := newTestSecret(t)
	h, body := delivery(t, secret)
	for _, tol := range []time.Duration{0, time.Minute} {
		eff := tol
		if eff == 0 {
			eff = DefaultTolerance
		}
		for _, tc := range []struct {
			skew time.Duration // now minus the signing time
			ok   bool
		}{
			{0, true},
			{eff, true},
			{eff + time.Second, false},
			{eff + time.Millisecond, false},
			{-eff, true},
			{-eff - time.Second, false},
			{24 * time.Hour, false},
		} {
			v := newTestVerifier(t, signedAt.Add(tc.skew), secret)
			v.Tolerance = tol
			err := v.Verify(h, body)
			if tc.ok && err != nil {
				t.Errorf("tolerance %s, now = signed %+v: Verify = %v, want nil", tol, tc.skew, err)
			}
			if !tc.ok && !errors.Is(err, ErrTimestamp) {
				t.Errorf("tolerance %s, now = signed %+v: Verify = %v, want ErrTimestamp", tol, tc.skew, err)
			}
		}
	}
}

func TestVerifyDefaultClock(t *testing.T) {
	secret := newTestSecret(t)
	body := []byte(`{}`)
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(Headers(mustParse(t, secret), "msg_1", time.Now(), body), body); err != nil {
		t.Errorf("Verify(signed now, real clock) = %v, want nil", err)
	}
	if err := v.Verify(Headers(mustParse(t, secret), "msg_1", signedAt, body), body); !errors.Is(err, ErrTimestamp) {
		t.Errorf("Verify(signed %s, real clock) = %v, want ErrTimestamp", signedAt, err)
	}
}

func TestVerifyHeaders(t *testing.T) {
	secret := newTestSecret(t)
	v := newTestVerifier(t, signedAt, secret)
	good, _ := delivery(t, secret)
	sig := good.Get(HeaderSignature)
	for _, tc := range []struct {
		name   string
		change func(h http.Header)
		want   error // nil: accepted
	}{
		{"no id", func(h http.Header) { h.Del(HeaderID) }, ErrMissingHeaders},
		{"no timestamp", func(h http.Header) { h.Del(HeaderTimestamp) }, ErrMissingHeaders},
		{"no signature", func(h http.Header) { h.Del(HeaderSignature) }, ErrMissingHeaders},
		{"empty id", func(h http.Header) { h.Set(HeaderID, "") }, ErrMissingHeaders},
		{"empty signature", func(h http.Header) { h.Set(HeaderSignature, "") }, ErrMissingHeaders},
		{"blank signature", func(h http.Header) { h.Set(HeaderSignature, "   ") }, ErrMissingHeaders},
		{"no headers", func(h http.Header) { clear(h) }, ErrMissingHeaders},
		{"id with space", func(h http.Header) { h.Set(HeaderID, "msg 1") }, ErrHeaders},
		{"id too long", func(h http.Header) { h.Set(HeaderID, strings.Repeat("a", MaxIDLen+1)) }, ErrHeaders},
		{"id non-ASCII", func(h http.Header) { h.Set(HeaderID, "msg_é") }, ErrHeaders},
		{"two ids", func(h http.Header) { h.Add(HeaderID, "msg_other") }, ErrHeaders},
		{"two timestamps", func(h http.Header) { h.Add(HeaderTimestamp, "1") }, ErrHeaders},
		{"signature header too long", func(h http.Header) {
			h.Set(HeaderSignature, sig+" "+strings.Repeat("v1,AAAA ", MaxSignatureHeaderLen/8))
		}, ErrHeaders},
		{"timestamp not a number", func(h http.Header) { h.Set(HeaderTimestamp, "soon") }, ErrTimestamp},
		{"timestamp negative", func(h http.Header) { h.Set(HeaderTimestamp, "-1767225600") }, ErrTimestamp},
		{"timestamp signed", func(h http.Header) { h.Set(HeaderTimestamp, "+1767225600") }, ErrTimestamp},
		{"timestamp fraction", func(h http.Header) { h.Set(HeaderTimestamp, "1767225600.0") }, ErrTimestamp},
		{"timestamp huge", func(h http.Header) { h.Set(HeaderTimestamp, strings.Repeat("9", 30)) }, ErrTimestamp},
		{"timestamp in ms", func(h http.Header) { h.Set(HeaderTimestamp, "1767225600000") }, ErrTimestamp},
		{"header names are case-insensitive", func(h http.Header) {
			id := h.Get(HeaderID)
			h.Del(HeaderID)
			h.Set("WEBHOOK-ID", id)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := good.Clone()
			tc.change(h)
			err := v.Verify(h, []byte(`{"type":"message.created","text":"hello"}`))
			if tc.want == nil && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifySignatureList(t *testing.T) {
	secret := newTestSecret(t)
	v := newTestVerifier(t, signedAt, secret)
	good, body := delivery(t, secret)
	sig := good.Get(HeaderSignature)
	b64 := strings.TrimPrefix(sig, "v1,")
	for _, tc := range []struct {
		name, header string
		ok           bool
	}{
		{"alone", sig, true},
		{"after an unknown version", "v2,Zm9vYmFy " + sig, true},
		{"before an unknown version", sig + " v2,Zm9vYmFy", true},
		{"v2 with the right MAC is ignored", "v2," + b64, false},
		{"v1a with the right MAC is ignored", "v1a," + b64, false},
		{"only v2", "v2,Zm9vYmFy", false},
		{"after garbage", "garbage ,,, v1, v1,!!! " + sig, true},
		{"extra spaces", "   " + sig + "   ", true},
		{"tab separated", "v1,AAAA\t" + sig, true},
		{"after a wrong v1", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + sig, true},
		{"comma separated", "v1,AAAA," + sig, false},
		{"no version", b64, false},
		{"upper-case version", "V1," + b64, false},
		{"truncated", sig[:len(sig)-2], false},
		{"unpadded", strings.TrimRight(sig, "="), false},
		{"url base64", "v1," + strings.NewReplacer("+", "-", "/", "_").Replace(b64), !strings.ContainsAny(b64, "+/")},
		{"version only", "v1,", false},
		{"comma only", ",", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := good.Clone()
			h.Set(HeaderSignature, tc.header)
			err := v.Verify(h, body)
			if tc.ok && err != nil {
				t.Errorf("Verify(%s: %q) = %v, want nil", HeaderSignature, tc.header, err)
			}
			if !tc.ok && !errors.Is(err, ErrSignature) {
				t.Errorf("Verify(%s: %q) = %v, want ErrSignature", HeaderSignature, tc.header, err)
			}
		})
	}
	t.Run("split across header lines", func(t *testing.T) {
		h := good.Clone()
		h.Set(HeaderSignature, "v2,Zm9vYmFy")
		h.Add(HeaderSignature, sig)
		if err := v.Verify(h, body); err != nil {
			t.Errorf("Verify(two %s lines) = %v, want nil", HeaderSignature, err)
		}
	})
}

func TestVerifyRequest(t *testing.T) {
	secret := newTestSecret(t)
	v := newTestVerifier(t, signedAt, secret)
	request := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks/magpie", strings.NewReader(body))
		for k, vs := range Headers(mustParse(t, secret), "msg_1", signedAt, []byte(body)) {
			r.Header[k] = vs
		}
		return r
	}
	const body = `{"type":"message.created"}`
	for _, tc := range []struct {
		name    string
		maxBody int64
		want    error
	}{
		{"exact limit", int64(len(body)), nil},
		{"above limit", int64(len(body)) + 1, nil},
		{"default limit", 0, nil},
		{"one byte over", int64(len(body)) - 1, ErrBodyTooLarge},
		{"tiny limit", 1, ErrBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.VerifyRequest(request(body), tc.maxBody)
			if tc.want == nil && (err != nil || string(got) != body) {
				t.Errorf("VerifyRequest(max %d) = %q, %v; want the body", tc.maxBody, got, err)
			}
			if tc.want != nil && (!errors.Is(err, tc.want) || got != nil) {
				t.Errorf("VerifyRequest(max %d) = %q, %v; want nil, %v", tc.maxBody, got, err, tc.want)
			}
		})
	}
	t.Run("default limit exceeded", func(t *testing.T) {
		big := strings.Repeat("x", DefaultMaxBody+1)
		if _, err := v.VerifyRequest(request(big), 0); !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("VerifyRequest(%d bytes, default limit) = %v, want ErrBodyTooLarge", len(big), err)
		}
	})
	t.Run("tampered body", func(t *testing.T) {
		r := request(body)
		r.Body = io.NopCloser(strings.NewReader(body + " "))
		if _, err := v.VerifyRequest(r, 0); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyRequest(tampered) = %v, want ErrSignature", err)
		}
	})
	t.Run("headers checked before the body is read", func(t *testing.T) {
		r := request(body)
		r.Header.Del(HeaderSignature)
		r.Body = io.NopCloser(failingReader{t})
		if _, err := v.VerifyRequest(r, 0); !errors.Is(err, ErrMissingHeaders) {
			t.Errorf("VerifyRequest(unsigned) = %v, want ErrMissingHeaders", err)
		}
	})
}

// failingReader fails the test if it is read.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("body read before the headers were checked")
	return 0, io.EOF
}
