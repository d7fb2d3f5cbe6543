// Package console is Magpie's tenant web console: hand-written HTML, CSS and
// ES modules embedded in the binary (no build step, no framework, no
// third-party requests) that talk only to the management API under
// /manage/v1. Handler serves them under /console/.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Prefix is the URL path the console is served under.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console response: only the
// console's own scripts, styles and images, requests only to its own
// origin, no inline script or style, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes maps the asset extensions to their media types, fixed here
// rather than taken from the system's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

// Handler serves the console. A path naming an asset serves the asset; the
// console root and any other path without a file extension (a page of the
// single-page app) serve the app shell, index.html; any other path (a
// missing asset) answers 404. Only GET and HEAD are served.
func Handler() http.Handler {
	return &handler{root: Files()}
}

// Files returns the console's assets.
func Files() fs.FS {
	root, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded directory exists at build time
	}
	return root
}

type handler struct{ root fs.FS }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(path.Clean(r.URL.Path), strings.TrimSuffix(Prefix, "/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	name = strings.TrimPrefix(name, "/")
	ext := path.Ext(name)
	if name == "" || ext == "" {
		name, ext = "index.html", ".html"
	}
	ctype, known := contentTypes[ext]
	data, err := fs.ReadFile(h.root, name)
	if !known || err != nil || strings.HasPrefix(path.Base(name), ".") {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		http.Error(w, "404 no such console file", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", ctype)
	// The assets change with the binary: revalidate every load (cheap on
	// loopback and small), never serve a stale script after an upgrade.
	hd.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(data)
}
