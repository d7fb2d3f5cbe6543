package httpx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// RequestIDs gives each request an id (the caller's, if sane), echoed in
// X-Request-Id, returned by RequestID and carried by every line of the
// request's Logger, however many times the handler asks for it.
func TestRequestIDs(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	r := gin.New()
	r.Use(RequestIDs(log))
	var seen string
	r.GET("/x", func(c *gin.Context) {
		seen = RequestID(c)
		Logger(c).Info("one")
		Logger(c).Info("two")
		c.Status(http.StatusNoContent)
	})
	for _, given := range []string{"", "caller-id_1.2", "not sane!"} {
		out.Reset()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if given != "" {
			req.Header.Set("X-Request-Id", given)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		id := w.Header().Get("X-Request-Id")
		switch {
		case id == "" || id != seen:
			t.Fatalf("given %q: header %q, RequestID %q", given, id, seen)
		case given == "caller-id_1.2" && id != given, given != "caller-id_1.2" && len(id) != len("req_")+24:
			t.Fatalf("given %q: id %q", given, id)
		}
		dec := json.NewDecoder(&out)
		for _, msg := range []string{"one", "two"} {
			var rec map[string]any
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("given %q: log line %s: %v", given, msg, err)
			}
			if rec["msg"] != msg || rec["request_id"] != id {
				t.Fatalf("given %q: log line %v, want msg %s with request_id %s", given, rec, msg, id)
			}
		}
	}
	// Outside RequestIDs: no id, and a logger that discards.
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	if RequestID(c) != "" || Logger(c).Enabled(t.Context(), slog.LevelError) {
		t.Fatal("a context without RequestIDs has an id or a live logger")
	}
}
