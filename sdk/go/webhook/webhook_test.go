package webhook

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// vectorCase is one case of testdata/vectors.json, computed by
// testdata/vectors.py with Python's hmac, hashlib and base64.
type vectorCase struct {
	Note          string   `json:"note"`
	Secrets       []string `json:"secrets"`
	ID            string   `json:"id"`
	Timestamp     int64    `json:"timestamp"`
	Body          string   `json:"body"`
	SignedContent string   `json:"signed_content"`
	Signature     string   `json:"signature"`
}

func loadVectors(t *testing.T) []vectorCase {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v struct {
		Cases []vectorCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(v.Cases) < 3 {
		t.Fatalf("vectors file has %d cases, want at least 3", len(v.Cases))
	}
	return v.Cases
}

func mustParse(t *testing.T, secrets ...string) [][]byte {
	t.Helper()
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			t.Fatalf("ParseSecret(secret %d) error: %v", i, err)
		}
		keys[i] = key
	}
	return keys
}

func TestVectors(t *testing.T) {
	for _, tc := range loadVectors(t) {
		t.Run(tc.Note, func(t *testing.T) {
			keys := mustParse(t, tc.Secrets...)
			ts := time.Unix(tc.Timestamp, 0)
			body := []byte(tc.Body)
			sigs := strings.Fields(tc.Signature)
			if len(sigs) != len(keys) {
				t.Fatalf("vector has %d secrets and %d signatures", len(keys), len(sigs))
			}
			for i, key := range keys {
				if got := Sign(key, tc.ID, ts, body); got != sigs[i] {
					t.Errorf("Sign(key %d) = %q, want %q", i, got, sigs[i])
				}
			}
			h := Headers(keys, tc.ID, ts, body)
			if got := h.Get(HeaderSignature); got != tc.Signature {
				t.Errorf("Headers: %s = %q, want %q", HeaderSignature, got, tc.Signature)
			}
			if got := h.Get(HeaderID); got != tc.ID {
				t.Errorf("Headers: %s = %q, want %q", HeaderID, got, tc.ID)
			}
			v, err := NewVerifier(tc.Secrets...)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			v.Now = func() time.Time { return ts }
			if err := v.Verify(h, body); err != nil {
				t.Errorf("Verify(vector) = %v, want nil", err)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		name, secret string
		wantLen      int // 0: want an error
	}{
		{"min length", "whsec_" + b64(MinKeyLen), MinKeyLen},
		{"max length", "whsec_" + b64(MaxKeyLen), MaxKeyLen},
		{"spec example", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"no prefix", b64(32), 0},
		{"other prefix", "wh_" + b64(32), 0},
		{"empty", "", 0},
		{"prefix only", "whsec_", 0},
		{"too short", "whsec_" + b64(MinKeyLen-1), 0},
		{"too long", "whsec_" + b64(MaxKeyLen+1), 0},
		{"url base64", "whsec_" + strings.ReplaceAll(b64(32), "A", "-"), 0},
		{"missing padding", "whsec_" + strings.TrimRight(b64(32), "="), 0},
		{"spaces", "whsec_ " + b64(32), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseSecret(tc.secret)
			if tc.wantLen == 0 {
				if !errors.Is(err, ErrSecret) {
					t.Errorf("ParseSecret(%q) error = %v, want ErrSecret", tc.secret, err)
				}
				return
			}
			if err != nil || len(key) != tc.wantLen {
				t.Errorf("ParseSecret(%q) = %d bytes, %v; want %d bytes", tc.secret, len(key), err, tc.wantLen)
			}
		})
	}
}

func TestParseSecretErrorHidesSecret(t *testing.T) {
	const secret = "whsec_c2VjcmV0IQ=="
	_, err := ParseSecret(secret)
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("ParseSecret error = %v, want an error without the secret", err)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("NewSecret returned %q twice", a)
	}
	key, err := ParseSecret(a)
	if err != nil || len(key) != newKeyLen {
		t.Errorf("ParseSecret(NewSecret()) = %d bytes, %v; want %d bytes", len(key), err, newKeyLen)
	}
}

func TestNewVerifierCount(t *testing.T) {
	s, _ := NewSecret()
	for _, n := range []int{0, 3} {
		secrets := make([]string, n)
		for i := range secrets {
			secrets[i] = s
		}
		if _, err := NewVerifier(secrets...); !errors.Is(err, ErrSecret) {
			t.Errorf("NewVerifier(%d secrets) error = %v, want ErrSecret", n, err)
		}
	}
	if _, err := NewVerifier(s, "nope"); !errors.Is(err, ErrSecret) {
		t.Errorf("NewVerifier(good, bad) error = %v, want ErrSecret", err)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", true},
		{"a", true},
		{"!~", true},
		{strings.Repeat("x", MaxIDLen), true},
		{strings.Repeat("x", MaxIDLen+1), false},
		{"", false},
		{"msg 1", false},
		{"msg\t1", false},
		{"msg\n1", false},
		{"msg_é", false},
		{"msg\x7f", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
