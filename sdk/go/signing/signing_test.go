package signing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vectorsPath is the shared test-vector file, relative to this package.
const vectorsPath = "../../../testdata/request-signing.json"

type vectorCase struct {
	Note           string `json:"note"`
	Method         string `json:"method"`
	RequestTarget  string `json:"request_target"`
	Body           string `json:"body"`
	Timestamp      string `json:"timestamp"`
	Nonce          string `json:"nonce"`
	CanonicalQuery string `json:"canonical_query"`
	StringToSign   string `json:"string_to_sign"`
	Signature      string `json:"signature"`
}

type vectorFile struct {
	AppSecret string       `json:"app_secret"`
	Cases     []vectorCase `json:"cases"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if v.AppSecret == "" || len(v.Cases) == 0 {
		t.Fatalf("vectors file %s has no secret or no cases", vectorsPath)
	}
	return v
}

func TestVectors(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Cases {
		t.Run(tc.Note, func(t *testing.T) {
			path, rawQuery, _ := strings.Cut(tc.RequestTarget, "?")
			query, err := CanonicalQuery(rawQuery)
			if err != nil {
				t.Fatalf("CanonicalQuery(%q) error: %v", rawQuery, err)
			}
			if query != tc.CanonicalQuery {
				t.Errorf("CanonicalQuery(%q) = %q, want %q", rawQuery, query, tc.CanonicalQuery)
			}
			sts := StringToSign(tc.Method, path, query, tc.Timestamp, tc.Nonce, []byte(tc.Body))
			if sts != tc.StringToSign {
				t.Errorf("StringToSign = %q, want %q", sts, tc.StringToSign)
			}
			if got := Sign(v.AppSecret, tc.StringToSign); got != tc.Signature {
				t.Errorf("Sign = %q, want %q", got, tc.Signature)
			}
			if !Verify(v.AppSecret, tc.StringToSign, tc.Signature) {
				t.Errorf("Verify(vector signature) = false, want true")
			}
		})
	}
}

// TestSignRequestVectors signs each vector's request as a client would and
// checks the headers against the vector.
func TestSignRequestVectors(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Cases {
		t.Run(tc.Note, func(t *testing.T) {
			r := httptest.NewRequest(tc.Method, "http://api.example.com"+tc.RequestTarget, strings.NewReader(tc.Body))
			sec, err := strconv.ParseInt(tc.Timestamp, 10, 64)
			if err != nil {
				t.Fatalf("vector timestamp %q: %v", tc.Timestamp, err)
			}
			now := time.Unix(sec, 0)
			if err := SignRequest(r, "mak_test", v.AppSecret, []byte(tc.Body), now, tc.Nonce); err != nil {
				t.Fatalf("SignRequest: %v", err)
			}
			for name, want := range map[string]string{
				HeaderAppKey:    "mak_test",
				HeaderTimestamp: tc.Timestamp,
				HeaderNonce:     tc.Nonce,
				HeaderSignature: tc.Signature,
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestVerifyRejectsOneBitChange(t *testing.T) {
	v := loadVectors(t)
	tc := v.Cases[0]
	for i := 0; i < len(tc.Signature); i++ {
		sig := []byte(tc.Signature)
		sig[i] ^= 1 // a hex digit flipped to another character
		if Verify(v.AppSecret, tc.StringToSign, string(sig)) {
			t.Fatalf("Verify(signature with bit flipped at %d) = true, want false", i)
		}
	}
	sts := []byte(tc.StringToSign)
	sts[0] ^= 1
	if Verify(v.AppSecret, string(sts), tc.Signature) {
		t.Errorf("Verify(string to sign with a bit flipped) = true, want false")
	}
	if Verify(v.AppSecret+"x", tc.StringToSign, tc.Signature) {
		t.Errorf("Verify(wrong secret) = true, want false")
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := loadVectors(t)
	tc := v.Cases[0]
	for _, sig := range []string{
		"",
		"zz",
		tc.Signature[:62],
		tc.Signature + "00",
		strings.ToUpper(tc.Signature),
		"g" + tc.Signature[1:],
	} {
		if Verify(v.AppSecret, tc.StringToSign, sig) {
			t.Errorf("Verify(%q) = true, want false", sig)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"only separators", "&&&", ""},
		{"single", "a=1", "a=1"},
		{"sorted by name", "b=2&a=1", "a=1&b=2"},
		{"repeated keys sorted by value", "k=3&k=1&k=2", "k=1&k=2&k=3"},
		{"repeated identical pairs kept", "k=1&k=1", "k=1&k=1"},
		{"key without equals", "flag&a=1", "a=1&flag="},
		{"key with empty value", "flag=", "flag="},
		{"empty name", "=v", "=v"},
		{"only first equals splits", "a=b=c", "a=b%3Dc"},
		{"plus is space", "q=a+b", "q=a%20b"},
		{"encoded plus stays plus", "q=a%2Bb", "q=a%2Bb"},
		{"lower hex upper-cased", "q=%2f", "q=%2F"},
		{"unreserved decoded", "q=%41%7E%2D", "q=A~-"},
		{"reserved encoded", "q=a/b:c", "q=a%2Fb%3Ac"},
		{"semicolon is data", "a=1;b=2", "a=1%3Bb%3D2"},
		{"encoded names", "a%20b=1", "a%20b=1"},
		{"utf-8", "n=é", "n=%C3%A9"},
		{"sort compares encoded forms", "k=%C3%A9&k=B", "k=%C3%A9&k=B"},
		{"empty segments dropped", "&a=1&&b=2&", "a=1&b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalQuery(tt.in)
			if err != nil {
				t.Fatalf("CanonicalQuery(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("CanonicalQuery(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalQueryInvalidEscape(t *testing.T) {
	for _, in := range []string{"a=%", "a=%4", "a=%zz", "%g1=x", "a=1&b=%%", "%"} {
		if got, err := CanonicalQuery(in); err == nil {
			t.Errorf("CanonicalQuery(%q) = %q, nil; want error", in, got)
		}
	}
}

func TestSignRequestRejects(t *testing.T) {
	now := time.Unix(1767225600, 0)
	tests := []struct {
		name, target, appKey, secret, nonce string
	}{
		{"empty app key", "/v1/users", "", "s", "n0nce-0000000001"},
		{"empty secret", "/v1/users", "k", "", "n0nce-0000000001"},
		{"short nonce", "/v1/users", "k", "s", "short"},
		{"bad nonce char", "/v1/users", "k", "s", "n0nce.0000000001"},
		{"bad query", "/v1/users?a=%zz", "k", "s", "n0nce-0000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://x.test", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.URL.Path, r.URL.RawQuery, _ = strings.Cut(tt.target, "?")
			if err := SignRequest(r, tt.appKey, tt.secret, nil, now, tt.nonce); err == nil {
				t.Errorf("SignRequest = nil, want error")
			}
			if got := r.Header.Get(HeaderSignature); got != "" {
				t.Errorf("signature header set to %q after failure", got)
			}
		})
	}
}

// TestSignRequestEmptyPath checks that a URL without a path is signed with
// the "/" net/http sends on the request line.
func TestSignRequestEmptyPath(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "http://x.test?b=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1767225600, 0)
	if err := SignRequest(r, "k", "s", nil, now, "n0nce-0000000001"); err != nil {
		t.Fatal(err)
	}
	sts := StringToSign("GET", "/", "b=1", "1767225600", "n0nce-0000000001", nil)
	if !Verify("s", sts, r.Header.Get(HeaderSignature)) {
		t.Errorf("signature does not cover path %q", "/")
	}
}

func TestNewNonce(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		n := NewNonce()
		if len(n) != 32 {
			t.Fatalf("NewNonce() = %q, len %d, want 32", n, len(n))
		}
		if !ValidNonce(n) {
			t.Fatalf("ValidNonce(NewNonce() = %q) = false", n)
		}
		if seen[n] {
			t.Fatalf("NewNonce() repeated %q", n)
		}
		seen[n] = true
	}
}

func TestValidNonce(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{strings.Repeat("a", MinNonceLen-1), false},
		{strings.Repeat("a", MinNonceLen), true},
		{strings.Repeat("Z", MaxNonceLen), true},
		{strings.Repeat("a", MaxNonceLen+1), false},
		{"abcdefgh-_012345", true},
		{"abcdefgh.0123456", false},
		{"abcdefgh~0123456", false},
		{"abcdefgh 0123456", false},
		{"abcdefgh/0123456", false},
		{"abcdéfgh01234567", false},
	}
	for _, tt := range tests {
		if got := ValidNonce(tt.in); got != tt.want {
			t.Errorf("ValidNonce(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Unix(1767225600, 0)
	tests := []struct {
		in   string
		ok   bool
		note string
	}{
		{"1767225600", true, "now"},
		{"1767225300", true, "window behind"},
		{"1767225900", true, "window ahead"},
		{"1767225299", false, "just too old"},
		{"1767225901", false, "just too new"},
		{"", false, "empty"},
		{"+1767225600", false, "sign"},
		{"-1", false, "negative"},
		{"1767225600.0", false, "fraction"},
		{" 1767225600", false, "space"},
		{"99999999999999999999", false, "overflow"},
	}
	for _, tt := range tests {
		err := CheckTimestamp(tt.in, now)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTimestamp(%q) [%s] = %v, want ok=%v", tt.in, tt.note, err, tt.ok)
		}
	}
}

// TestSignRequestHash: signing a body by its hash is signing the body.
func TestSignRequestHash(t *testing.T) {
	body := []byte("\x89PNG\r\n\x1a\n not really an image")
	now := time.Unix(1_700_000_000, 0)
	a, _ := http.NewRequest("POST", "https://api.example/v1/files?conv_id=g%3Ahikers", nil)
	b, _ := http.NewRequest("POST", "https://api.example/v1/files?conv_id=g%3Ahikers", nil)
	if err := SignRequest(a, "mk_1", "msk_1", body, now, "nonce-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := SignRequestHash(b, "mk_1", "msk_1", hex.EncodeToString(sum[:]), now, "nonce-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	if a.Header.Get(HeaderSignature) != b.Header.Get(HeaderSignature) || a.Header.Get(HeaderSignature) == "" {
		t.Errorf("SignRequestHash = %q, SignRequest = %q", b.Header.Get(HeaderSignature), a.Header.Get(HeaderSignature))
	}
}
