package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	appKey    = "mak_test"
	secret    = "msk_current"
	oldSecret = "msk_previous"
)

var now = time.Unix(1767225600, 0)

// craft builds a token from header and claims, signed with HMAC using newHash
// and secret; a nil newHash leaves the signature empty.
func craft(t testing.TB, header, claims map[string]any, newHash func() hash.Hash, secret string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	if newHash == nil {
		return signing + "."
	}
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func validClaims() map[string]any {
	return map[string]any{
		"iss": appKey, "sub": "alice", "aud": Audience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "0123456789abcdef0123456789abcdef",
	}
}

var hs256 = map[string]any{"alg": "HS256", "typ": "JWT"}

// decodePart decodes one base64url JSON segment of tok.
func decodePart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", tok, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal part %d: %v", i, err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	tok, exp, err := Mint(appKey, secret, "alice@example.com", time.Hour, now)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if want := now.Add(time.Hour); !exp.Equal(want) {
		t.Errorf("Mint expiry = %v, want %v", exp, want)
	}
	c, err := Parse(tok, appKey, []string{secret}, now)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.AppKey != appKey || c.UserID != "alice@example.com" {
		t.Errorf("Parse claims = %+v, want app %q user %q", c, appKey, "alice@example.com")
	}
	if !c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(exp) {
		t.Errorf("Parse times = %v..%v, want %v..%v", c.IssuedAt, c.ExpiresAt, now, exp)
	}
	if len(c.ID) != 32 || strings.Trim(c.ID, "0123456789abcdef") != "" {
		t.Errorf("Parse ID = %q, want 32 lower-case hex digits", c.ID)
	}
	key, err := PeekAppKey(tok)
	if err != nil || key != appKey {
		t.Errorf("PeekAppKey = %q, %v; want %q, nil", key, err, appKey)
	}
}

// TestMintShape pins the wire form that other implementations rely on.
func TestMintShape(t *testing.T) {
	tok, _, err := Mint(appKey, secret, "alice", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	h := decodePart(t, tok, 0)
	if h["alg"] != "HS256" {
		t.Errorf("header alg = %v, want HS256", h["alg"])
	}
	if _, ok := h["kid"]; ok {
		t.Errorf("header has kid %v, want none", h["kid"])
	}
	c := decodePart(t, tok, 1)
	want := map[string]any{
		"iss": appKey, "sub": "alice", "aud": "magpie",
		"iat": float64(now.Unix()), "exp": float64(now.Unix() + 60),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %#v, want %#v", k, c[k], v)
		}
	}
	if len(c) != 6 {
		t.Errorf("claims = %v, want exactly iss sub aud iat exp jti", c)
	}
	tok2, _, _ := Mint(appKey, secret, "alice", time.Minute, now)
	if decodePart(t, tok2, 1)["jti"] == c["jti"] {
		t.Errorf("two tokens share jti %v", c["jti"])
	}
}

func TestMintRejects(t *testing.T) {
	tests := []struct {
		name, appKey, secret, user string
		ttl                        time.Duration
	}{
		{"empty app key", "", secret, "alice", time.Hour},
		{"empty secret", appKey, "", "alice", time.Hour},
		{"empty user", appKey, secret, "", time.Hour},
		{"long user", appKey, secret, strings.Repeat("a", 65), time.Hour},
		{"user with space", appKey, secret, "al ice", time.Hour},
		{"user with slash", appKey, secret, "a/b", time.Hour},
		{"zero ttl", appKey, secret, "alice", 0},
		{"negative ttl", appKey, secret, "alice", -time.Second},
		{"ttl over 30 days", appKey, secret, "alice", MaxTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, _, err := Mint(tt.appKey, tt.secret, tt.user, tt.ttl, now); err == nil {
				t.Errorf("Mint = %q, nil; want error", tok)
			}
		})
	}
}

func TestMintTTLBounds(t *testing.T) {
	if _, exp, err := Mint(appKey, secret, "alice", MaxTTL, now); err != nil || !exp.Equal(now.Add(MaxTTL)) {
		t.Errorf("Mint(ttl=MaxTTL) expiry = %v, %v; want %v, nil", exp, err, now.Add(MaxTTL))
	}
	// A sub-second ttl rounds up so the token is not born expired.
	tok, exp, err := Mint(appKey, secret, "alice", time.Millisecond, now.Add(900*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Second); !exp.Equal(want) {
		t.Errorf("Mint(ttl=1ms) expiry = %v, want %v", exp, want)
	}
	if _, err := Parse(tok, appKey, []string{secret}, now.Add(900*time.Millisecond)); err != nil {
		t.Errorf("Parse(1ms token) = %v, want nil", err)
	}
}

func TestValidUserID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true},
		{"alice@example.com", true},
		{"A-Z_a.z@0-9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"a+b", false},
		{"é", false},
		{".", false},
		{"..", false},
		{"...", true},
		{".a", true},
	}
	for _, tt := range tests {
		if got := ValidUserID(tt.in); got != tt.want {
			t.Errorf("ValidUserID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestExpiryIsExact(t *testing.T) {
	tok, exp, err := Mint(appKey, secret, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(tok, appKey, []string{secret}, exp.Add(-time.Nanosecond)); err != nil {
		t.Errorf("Parse just before expiry = %v, want nil", err)
	}
	for _, at := range []time.Time{exp, exp.Add(time.Second)} {
		if _, err := Parse(tok, appKey, []string{secret}, at); !errors.Is(err, ErrExpired) {
			t.Errorf("Parse at %v = %v, want ErrExpired", at, err)
		}
	}
}

func TestRotation(t *testing.T) {
	oldTok, _, err := Mint(appKey, oldSecret, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(oldTok, appKey, []string{secret, oldSecret}, now); err != nil {
		t.Errorf("Parse(token of second secret) = %v, want nil", err)
	}
	if _, err := Parse(oldTok, appKey, []string{secret}, now); !errors.Is(err, ErrSignature) {
		t.Errorf("Parse(token of retired secret) = %v, want ErrSignature", err)
	}
}

func TestParseErrors(t *testing.T) {
	good, _, err := Mint(appKey, secret, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	with := func(edit func(map[string]any)) map[string]any {
		c := validClaims()
		edit(c)
		return c
	}
	tampered := func() string {
		c := decodePart(t, good, 1)
		c["sub"] = "mallory"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}

	tests := []struct {
		name    string
		tok     string
		secrets []string
		want    error
	}{
		{"empty", "", []string{secret}, ErrMalformed},
		{"garbage", "not a token", []string{secret}, ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], []string{secret}, ErrMalformed},
		{"bad base64", parts[0] + ".!!!." + parts[2], []string{secret}, ErrMalformed},
		{"padded signature", good + "=", []string{secret}, ErrMalformed},
		{"too long", good + strings.Repeat("A", maxTokenLen), []string{secret}, ErrMalformed},
		{"wrong secret", good, []string{"msk_other"}, ErrSignature},
		{"no secrets", good, nil, ErrSignature},
		{"only empty secret", good, []string{""}, ErrSignature},
		{"tampered payload", tampered(), []string{secret}, ErrSignature},
		{"truncated signature", good[:len(good)-3], []string{secret}, ErrSignature},
		{"alg none", craft(t, map[string]any{"alg": "none"}, validClaims(), nil, ""), []string{secret}, ErrSignature},
		{"alg missing", craft(t, map[string]any{"typ": "JWT"}, validClaims(), sha256.New, secret), []string{secret}, ErrSignature},
		{"alg HS512", craft(t, map[string]any{"alg": "HS512"}, validClaims(), sha512.New, secret), []string{secret}, ErrSignature},
		{"alg RS256", craft(t, map[string]any{"alg": "RS256"}, validClaims(), sha256.New, secret), []string{secret}, ErrSignature},
		{"no sub", craft(t, hs256, with(func(c map[string]any) { delete(c, "sub") }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"bad sub", craft(t, hs256, with(func(c map[string]any) { c["sub"] = "a b" }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"no exp", craft(t, hs256, with(func(c map[string]any) { delete(c, "exp") }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"no iat", craft(t, hs256, with(func(c map[string]any) { delete(c, "iat") }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"exp string", craft(t, hs256, with(func(c map[string]any) { c["exp"] = "soon" }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"no iss", craft(t, hs256, with(func(c map[string]any) { delete(c, "iss") }), sha256.New, secret), []string{secret}, ErrMalformed},
		{"other app", craft(t, hs256, with(func(c map[string]any) { c["iss"] = "mak_other" }), sha256.New, secret), []string{secret}, ErrWrongApp},
		{"other audience", craft(t, hs256, with(func(c map[string]any) { c["aud"] = "elsewhere" }), sha256.New, secret), []string{secret}, ErrWrongApp},
		{"no audience", craft(t, hs256, with(func(c map[string]any) { delete(c, "aud") }), sha256.New, secret), []string{secret}, ErrWrongApp},
		{"two audiences", craft(t, hs256, with(func(c map[string]any) { c["aud"] = []string{"magpie", "x"} }), sha256.New, secret), []string{secret}, ErrWrongApp},
		{"expired", craft(t, hs256, with(func(c map[string]any) { c["exp"] = now.Unix() }), sha256.New, secret), []string{secret}, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.tok, appKey, tt.secrets, now)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse = %+v, %v; want %v", c, err, tt.want)
			}
			// ParseFor, with tt.secrets as appKey's: the same, but for a
			// token of another app, whose secrets it asks for.
			want := tt.want
			if tt.name == "other app" {
				want = errUnknownApp
			}
			c, used, err := ParseFor(tt.tok, now, secretsOf(map[string][]string{appKey: tt.secrets}))
			if !errors.Is(err, want) || used != "" {
				t.Errorf("ParseFor = %+v, %q, %v; want %v", c, used, err, want)
			}
		})
	}
}

// errUnknownApp is secretsOf's error for an app it does not know.
var errUnknownApp = errors.New("unknown app")

// secretsOf returns a secrets function for ParseFor that knows apps.
func secretsOf(apps map[string][]string) func(string) ([]string, error) {
	return func(key string) ([]string, error) {
		ss, ok := apps[key]
		if !ok {
			return nil, errUnknownApp
		}
		return ss, nil
	}
}

// TestParseFor: the claims and the secret that verified them, of the
// app the token names; the app's secrets are asked for only for a token
// that is well formed and says HS256, and an error of the lookup comes
// back as it is.
func TestParseFor(t *testing.T) {
	tok, exp, err := Mint(appKey, oldSecret, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range [][]string{{oldSecret}, {secret, oldSecret}, {"", oldSecret, secret}} {
		c, used, err := ParseFor(tok, now, secretsOf(map[string][]string{appKey: ss}))
		if err != nil || used != oldSecret || c.AppKey != appKey || c.UserID != "alice" || !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(now) {
			t.Errorf("secrets %q: ParseFor = %+v, %q, %v", ss, c, used, err)
		}
	}
	if _, _, err := ParseFor(tok, now, secretsOf(map[string][]string{appKey: {secret}})); !errors.Is(err, ErrSignature) {
		t.Errorf("retired secret: ParseFor = %v, want ErrSignature", err)
	}
	if _, _, err := ParseFor(tok, now, secretsOf(nil)); !errors.Is(err, errUnknownApp) {
		t.Errorf("unknown app: ParseFor = %v, want the lookup's error", err)
	}
	for name, bad := range map[string]string{
		"garbage":  "not a token",
		"alg none": craft(t, map[string]any{"alg": "none"}, validClaims(), nil, ""),
		"HS512":    craft(t, map[string]any{"alg": "HS512"}, validClaims(), sha512.New, secret),
		"no iss":   craft(t, hs256, map[string]any{"sub": "alice", "aud": Audience, "iat": now.Unix(), "exp": now.Unix() + 60}, sha256.New, secret),
	} {
		asked := false
		_, _, err := ParseFor(bad, now, func(string) ([]string, error) { asked = true; return []string{secret}, nil })
		if err == nil || asked {
			t.Errorf("%s: ParseFor = %v, secrets asked for: %v; want an error without asking", name, err, asked)
		}
	}
}

// TestParseAudienceArray accepts the array form of "aud" other JWT libraries
// write for a single audience.
func TestParseAudienceArray(t *testing.T) {
	c := validClaims()
	c["aud"] = []string{Audience}
	tok := craft(t, hs256, c, sha256.New, secret)
	if _, err := Parse(tok, appKey, []string{secret}, now); err != nil {
		t.Errorf("Parse(aud=[magpie]) = %v, want nil", err)
	}
}

func TestPeekAppKey(t *testing.T) {
	// PeekAppKey does not verify: a token signed with any secret reveals iss.
	tok := craft(t, hs256, validClaims(), sha256.New, "unknown secret")
	if got, err := PeekAppKey(tok); err != nil || got != appKey {
		t.Errorf("PeekAppKey = %q, %v; want %q, nil", got, err, appKey)
	}
	noIss := validClaims()
	delete(noIss, "iss")
	for _, bad := range []string{"", "x.y", "a.b.c", craft(t, hs256, noIss, sha256.New, secret)} {
		if got, err := PeekAppKey(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("PeekAppKey(%q) = %q, %v; want ErrMalformed", bad, got, err)
		}
	}
}

// TestDocumentedExample verifies the worked example of docs/protocol.md
// ("Client tokens"), so that a client written from the docs mints tokens
// this package accepts.
func TestDocumentedExample(t *testing.T) {
	const (
		docKey    = "mk_5f2e8c1a9b3d7e4f6a0c"
		docSecret = "msk_2f9c1e7a5b3d4c6e8f0a1b2c3d4e5f60"
		docToken  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
			"eyJpc3MiOiJta181ZjJlOGMxYTliM2Q3ZTRmNmEwYyIsInN1YiI6ImFsaWNlIiwiYXVkIjoibWFncGllIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjkyMDAsImp0aSI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIn0." +
			"ZN5JIQ_R_hr6CKLJF0O4YnzLmMv2kF8QnkmKEzxnLAg"
	)
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{docKey, docSecret, docToken, `"exp":1767229200`} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/protocol.md no longer shows %q", s)
		}
	}
	c, err := Parse(docToken, docKey, []string{docSecret}, time.Unix(1767225601, 0))
	want := Claims{
		AppKey: docKey, UserID: "alice", IssuedAt: time.Unix(1767225600, 0),
		ExpiresAt: time.Unix(1767229200, 0), ID: "0123456789abcdef0123456789abcdef",
	}
	if err != nil || c.AppKey != want.AppKey || c.UserID != want.UserID || !c.IssuedAt.Equal(want.IssuedAt) ||
		!c.ExpiresAt.Equal(want.ExpiresAt) || c.ID != want.ID {
		t.Errorf("Parse(documented token) = %+v, %v, want %+v", c, err, want)
	}
}

// BenchmarkVerify is what a verifier does with a token: PeekAppKey, then
// Parse with the app's secret ("peek-parse"), or ParseFor (what a gateway
// does at each login).
func BenchmarkVerify(b *testing.B) {
	tok, _, err := Mint(appKey, secret, "alice", time.Hour, now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("peek-parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := PeekAppKey(tok); err != nil {
				b.Fatal(err)
			}
			if _, err := Parse(tok, appKey, []string{secret}, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsefor", func(b *testing.B) {
		secrets := secretsOf(map[string][]string{appKey: {secret}})
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ParseFor(tok, now, secrets); err != nil {
				b.Fatal(err)
			}
		}
	})
}
