package httpx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/telemetry"
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

// TestDirect: a request served without the router gets what the router's
// middleware give it: an id (the caller's, if sane) in X-Request-Id, a
// count and a duration in the API metrics by route and status (101 for a
// hijacked connection), and a debug line carrying its id.
func TestDirect(t *testing.T) {
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))

	missing := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusNotFound) })
	req := httptest.NewRequest(http.MethodGet, "/r", nil)
	req.Header.Set("X-Request-Id", "caller-id_1")
	rec := httptest.NewRecorder()
	Direct(log, m, "/r", missing, rec, req)
	if rec.Code != http.StatusNotFound || rec.Header().Get("X-Request-Id") != "caller-id_1" {
		t.Fatalf("status %d, X-Request-Id %q", rec.Code, rec.Header().Get("X-Request-Id"))
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line["request_id"] != "caller-id_1" || line["route"] != "/r" || line["status"] != float64(404) {
		t.Fatalf("log line %s (%v)", out.Bytes(), err)
	}

	// An upgrade: the handler hijacks the connection and answers on it.
	hijack := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		id := w.Header().Get("X-Request-Id")
		_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nX-Request-Id: "+id+"\r\n\r\n")
		_ = nc.Close()
	})
	served := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		Direct(slog.New(slog.DiscardHandler), m, "/up", hijack, w, r)
	}))
	defer srv.Close()
	nc, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "GET /up HTTP/1.1\r\nHost: x\r\nX-Request-Id: not sane!\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id := res.Header.Get("X-Request-Id"); res.StatusCode != http.StatusSwitchingProtocols || len(id) != len("req_")+24 {
		t.Fatalf("status %d, X-Request-Id %q", res.StatusCode, id)
	}
	// Direct returns (and counts) after the client read its answer.
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Direct did not return after the upgrade")
	}
	body := scrape(t, m)
	for _, want := range []string{
		`magpie_api_requests_total{route="/r",status="404"} 1`,
		`magpie_api_request_duration_seconds_count{route="/r"} 1`,
		`magpie_api_requests_total{route="/up",status="101"} 1`,
		`magpie_api_request_duration_seconds_count{route="/up"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// scrape returns m's /metrics page.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}
