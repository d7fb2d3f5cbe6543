package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/console"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	console.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAssets checks every asset is served with its media type, the strict
// CSP and nosniff; pages of the app (paths without an extension) get the
// app shell; missing files and other methods do not.
func TestAssets(t *testing.T) {
	cases := []struct {
		path, ctype string
		status      int
		contains    string
	}{
		{"/console/", "text/html; charset=utf-8", 200, `<script type="module" src="/console/app.js">`},
		{"/console", "text/html; charset=utf-8", 200, "<title>Magpie console</title>"},
		{"/console/index.html", "text/html; charset=utf-8", 200, "<title>Magpie console</title>"},
		{"/console/app.js", "text/javascript; charset=utf-8", 200, "import"},
		{"/console/api.js", "text/javascript; charset=utf-8", 200, "/manage/v1"},
		{"/console/dom.js", "text/javascript; charset=utf-8", 200, "export function h"},
		{"/console/style.css", "text/css; charset=utf-8", 200, ":root"},
		{"/console/favicon.svg", "image/svg+xml", 200, "<svg"},
		// Pages of the single-page app: the shell.
		{"/console/apps", "text/html; charset=utf-8", 200, "<title>Magpie console</title>"},
		{"/console/apps/app_123/secrets", "text/html; charset=utf-8", 200, "<title>Magpie console</title>"},
		// Missing files: 404, never the shell (a script must not be HTML).
		{"/console/missing.js", "text/plain; charset=utf-8", 404, "404"},
		{"/console/static/app.js", "text/plain; charset=utf-8", 404, "404"},
		{"/console/../go.mod", "text/plain; charset=utf-8", 404, "404"},
		{"/console/console.go", "text/plain; charset=utf-8", 404, "404"},
		{"/other/app.js", "text/plain; charset=utf-8", 404, "404"},
	}
	for _, c := range cases {
		r := get(t, "GET", c.path)
		b := body(t, r)
		if r.StatusCode != c.status || r.Header.Get("Content-Type") != c.ctype || !strings.Contains(b, c.contains) {
			t.Errorf("GET %s = %d %q, body %.80q; want %d %q containing %q", c.path, r.StatusCode, r.Header.Get("Content-Type"), b, c.status, c.ctype, c.contains)
		}
		if got := r.Header.Get("Content-Security-Policy"); got != console.CSP {
			t.Errorf("GET %s: CSP %q", c.path, got)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.path)
		}
	}
	if r := get(t, "HEAD", "/console/app.js"); r.StatusCode != 200 || body(t, r) != "" || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD app.js = %d", r.StatusCode)
	}
	if r := get(t, "POST", "/console/"); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /console/ = %d", r.StatusCode)
	}
}

// TestCSPIsStrict keeps the policy strict: only the console's own origin,
// no inline or eval'd script or style, no framing.
func TestCSPIsStrict(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(console.CSP+";", want) {
			t.Errorf("CSP %q lacks %q", console.CSP, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(console.CSP, bad) {
			t.Errorf("CSP %q allows %q", console.CSP, bad)
		}
	}
}

// TestNoInlineOrThirdParty checks the assets hold no inline script, inline
// style attribute or event handler (the CSP would block them) and load
// nothing from another origin.
func TestNoInlineOrThirdParty(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<\s]|\sstyle=|\son[a-z]+=|javascript:`)
	remote := regexp.MustCompile(`(?i)(?:src|href)=["']?(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//|fetch\(\s*["'\x60]https?:`)
	root := console.Files()
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil && strings.HasSuffix(p, ".html") {
			t.Errorf("%s: inline script, style or handler: %q", p, m)
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s: loads from another origin: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
