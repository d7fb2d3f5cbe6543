package manage

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// consolePage is served at /console/ until the web console ships: it says
// what exists today instead of answering 404 at the URL `magpie dev` prints.
const consolePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Magpie console</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>Magpie</h1>
<p>The web console is not part of this build yet. Everything it will do is available now through
the management API under <code>/manage/v1</code> (log in with the operator email and password that
<code>magpie dev</code> printed on its first start) and the signed server API under <code>/v1</code>.</p>
<p>The API reference is <code>docs/openapi.yaml</code> in the repository; <code>docs/signing.md</code>
explains request signing.</p>
</body></html>`

// ServeConsole serves the console page.
func ServeConsole(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(consolePage))
}
