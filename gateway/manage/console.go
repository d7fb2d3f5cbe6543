package manage

import (
	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/console"
)

// consoleHandler serves the web console's embedded assets.
var consoleHandler = console.Handler()

// ServeConsole serves the web console (package console) at /console/: its
// embedded HTML, CSS and ES modules, under a strict Content-Security-Policy.
// The console talks only to the management API.
func ServeConsole(c *gin.Context) {
	consoleHandler.ServeHTTP(c.Writer, c.Request)
}
