package tenant

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Token lifetime bounds: an app's max_token_lifetime_seconds setting lies
// between them; zero means the longest.
const (
	MinTokenLifetime     = time.Minute
	DefaultTokenLifetime = 30 * 24 * time.Hour
)

// MaxTokenLifetime returns the longest lifetime (exp - iat) the app accepts
// for a client token.
func MaxTokenLifetime(app store.App) time.Duration {
	if s := app.Settings.MaxTokenLifetimeSeconds; s > 0 {
		return time.Duration(s) * time.Second
	}
	return DefaultTokenLifetime
}

// An allowed origin is a browser origin, scheme://host[:port] with scheme
// http or https and nothing after the host (no path, query, fragment or
// credentials), compared case-insensitively. The host may start with "*."
// to allow every subdomain of what follows at any depth (not the domain
// itself): "https://*.example.com" allows https://app.example.com and
// https://a.b.example.com, not https://example.com. Without a port the
// origin must have none; there is no port wildcard.
type originPattern struct {
	scheme, host, port string
	wildcard           bool // host is a suffix: any subdomain of it
}

// parseOrigin parses an allowed-origin pattern, or reports false.
func parseOrigin(s string) (originPattern, bool) {
	u, err := url.Parse(strings.ToLower(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return originPattern{}, false
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(u.Host, ":") && port == "" && !strings.HasSuffix(u.Host, "]") {
		return originPattern{}, false // "host:" with an empty port
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return originPattern{}, false
		}
	}
	p := originPattern{scheme: u.Scheme, host: host, port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		p.wildcard, p.host = true, rest
	}
	if !validHost(p.host, p.wildcard) {
		return originPattern{}, false
	}
	return p, true
}

// validHost accepts a DNS name of letters, digits and hyphens, or (not
// under a wildcard) an IP address.
func validHost(h string, wildcard bool) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if ip := net.ParseIP(h); ip != nil {
		return !wildcard
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// matches reports whether the browser origin o (already parsed) is allowed.
func (p originPattern) matches(o originPattern) bool {
	if o.wildcard || p.scheme != o.scheme || p.port != o.port {
		return false
	}
	if p.wildcard {
		return strings.HasSuffix(o.host, "."+p.host)
	}
	return p.host == o.host
}

// OriginAllowed reports whether a WebSocket with the browser Origin header
// origin may log in to an app whose allow-list is patterns. No Origin
// header (a non-browser client) and an empty allow-list allow everything.
func OriginAllowed(patterns []string, origin string) bool {
	if origin == "" || len(patterns) == 0 {
		return true
	}
	o, ok := parseOrigin(origin)
	if !ok {
		return false // "null", a malformed header
	}
	for _, s := range patterns {
		if p, ok := parseOrigin(s); ok && p.matches(o) {
			return true
		}
	}
	return false
}
