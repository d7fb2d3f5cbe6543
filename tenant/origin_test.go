package tenant

import (
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

func TestOriginPatterns(t *testing.T) {
	for _, bad := range []string{"*", "", "javascript:alert(1)", "null", "https://", "ftp://example.com",
		"https://example.com/path", "https://example.com?q", "https://user@example.com", "https://*",
		"https://*.", "https://exa mple.com", "https://example.com:0", "https://example.com:99999",
		"https://*.127.0.0.1", "example.com", "//example.com", "https://example.com#x"} {
		if _, ok := parseOrigin(bad); ok {
			t.Errorf("parseOrigin(%q) accepted", bad)
		}
		if err := validateSettings(store.Settings{AllowedOrigins: []string{bad}}); err == nil {
			t.Errorf("validateSettings(allowed_origins=[%q]) = nil, want an error", bad)
		}
	}
	patterns := []string{"https://chat.example.com", "https://*.example.org", "http://localhost:3000", "https://[::1]:8443"}
	if err := validateSettings(store.Settings{AllowedOrigins: patterns}); err != nil {
		t.Fatalf("validateSettings(%q) = %v", patterns, err)
	}
	for origin, want := range map[string]bool{
		"https://chat.example.com":      true,
		"HTTPS://Chat.Example.com":      true,
		"http://chat.example.com":       false, // scheme
		"https://chat.example.com:8443": false, // port
		"https://evil.example.com":      false,
		"https://app.example.org":       true,
		"https://a.b.example.org":       true,
		"https://example.org":           false, // the wildcard needs a subdomain
		"https://evilexample.org":       false,
		"http://localhost:3000":         true,
		"http://localhost":              false,
		"https://[::1]:8443":            true,
		"null":                          false,
		"":                              true, // not a browser
	} {
		if got := OriginAllowed(patterns, origin); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if !OriginAllowed(nil, "https://anything.example") {
		t.Error("an empty allow-list must allow every origin")
	}
}

// FuzzOrigins: parsing never panics, an accepted pattern is an http(s)
// origin, and a pattern allows the very origin it names (wildcards
// excepted).
func FuzzOrigins(f *testing.F) {
	for _, s := range []string{"https://chat.example.com", "https://*.example.org", "http://localhost:3000",
		"https://[::1]:8443", "*", "javascript:alert(1)", "null", "https://a.b.c:65535/", "HTTPS://X.Y"} {
		f.Add(s, "https://chat.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, ok := parseOrigin(pattern)
		_ = OriginAllowed([]string{pattern}, origin)
		if !ok {
			return
		}
		if p.scheme != "http" && p.scheme != "https" || p.host == "" {
			t.Fatalf("parseOrigin(%q) = %+v, not an http(s) origin", pattern, p)
		}
		if !p.wildcard && !OriginAllowed([]string{pattern}, strings.TrimSuffix(pattern, "/")) {
			t.Fatalf("pattern %q does not allow its own origin", pattern)
		}
	})
}
