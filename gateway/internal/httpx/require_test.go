package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// Require refuses a route whose service the server lacks with 503
// unavailable, naming the service, and passes it on otherwise.
func TestRequire(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, available := range []bool{false, true} {
		r := gin.New()
		r.GET("/x", Require(available, "chat rooms are"), func(c *gin.Context) { c.String(http.StatusOK, "served") })
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
		if available {
			if w.Code != http.StatusOK || w.Body.String() != "served" {
				t.Errorf("available: %d %q, want 200 served", w.Code, w.Body)
			}
			continue
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusServiceUnavailable ||
			body.Error.Code != CodeUnavailable || body.Error.Message != "chat rooms are not available on this server" {
			t.Errorf("unavailable: %d %s (%v), want 503 unavailable naming the service", w.Code, w.Body, err)
		}
	}
}
