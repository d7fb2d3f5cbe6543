package httpx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/tenant"
)

const (
	ctxRequest = "magpie.request" // *request
	ctxBody    = "magpie.body"
	ctxCreds   = "magpie.creds"
)

// RequestIDs returns the middleware that assigns every request an id (the
// caller's X-Request-Id when it is sane), echoes it in the response and
// puts a logger carrying it, derived from log, in the context.
func RequestIDs(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !saneRequestID(id) {
			id = NewRequestID()
		}
		c.Header("X-Request-Id", id)
		c.Set(ctxRequest, &request{id: id, base: log})
		c.Next()
	}
}

// request is what RequestIDs keeps of a request: its id, and the logger
// carrying it, derived on first use (most requests log nothing, and
// deriving it cost a WebSocket login more than its id).
type request struct {
	id   string
	base *slog.Logger
	once sync.Once
	log  *slog.Logger
}

func (r *request) logger() *slog.Logger {
	r.once.Do(func() { r.log = r.base.With("request_id", r.id) })
	return r.log
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// NewRequestID returns a new request id: req_ and 24 hex digits.
func NewRequestID() string { return NewID("req_") }

// NewID returns prefix followed by 12 random bytes in hex.
//
// The bytes come from ChaCha8 generators seeded from crypto/rand, pooled:
// as unpredictable as crypto/rand's, without its system call per id (two
// ids per WebSocket login, one per request).
func NewID(prefix string) string {
	var b [12]byte
	g := idRand.Get().(*mrand.ChaCha8)
	_, _ = g.Read(b[:])
	idRand.Put(g)
	return prefix + hex.EncodeToString(b[:])
}

var idRand = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails; see crypto/rand.Read
	return mrand.NewChaCha8(seed)
}}

// RequestID returns the request's id.
func RequestID(c *gin.Context) string {
	if v, ok := c.Get(ctxRequest); ok {
		return v.(*request).id
	}
	return ""
}

// Logger returns the request's logger, which carries its id.
func Logger(c *gin.Context) *slog.Logger {
	if v, ok := c.Get(ctxRequest); ok {
		return v.(*request).logger()
	}
	return slog.New(slog.DiscardHandler)
}

// AccessLog logs one line per request after it completes, at debug level:
// with debug off it derives no logger and builds no line.
func AccessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	if v, ok := c.Get(ctxRequest); !ok || !v.(*request).base.Enabled(c.Request.Context(), slog.LevelDebug) {
		return
	}
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	attrs := []any{"method", c.Request.Method, "route", route, "status", c.Writer.Status(),
		"duration_ms", time.Since(start).Milliseconds()}
	if creds := Creds(c); creds != nil {
		attrs = append(attrs, "app_id", creds.App.ID)
	}
	Logger(c).DebugContext(c.Request.Context(), "http request", attrs...)
}

// Direct serves r with h as the router would serve it on route with
// RequestIDs, Metrics and AccessLog, but without the router: for a route
// taken so often that the router's share counts (the client WebSocket
// upgrade, where gin's context, its middleware chain and the stack it
// grew were about 8% of a login's CPU, docs/benchmarks.md). h sees no gin
// context: the request's id reaches it as the response's X-Request-Id
// header. A hijack (an upgrade) counts as status 101.
func Direct(log *slog.Logger, m *telemetry.Metrics, route string, h http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !saneRequestID(id) {
		id = NewRequestID()
	}
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w}
	h.ServeHTTP(sw, r)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	m.APIRequest(route, status, time.Since(start))
	if log.Enabled(r.Context(), slog.LevelDebug) {
		log.DebugContext(r.Context(), "http request", "request_id", id, "method", r.Method, "route", route,
			"status", status, "duration_ms", time.Since(start).Milliseconds())
	}
}

// statusWriter records the status of the response written through it;
// it passes a hijack through (an upgrader needs one).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot hijack its connection")
	}
	nc, rw, err := hj.Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return nc, rw, err
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Metrics returns the middleware that records every request in
// magpie_api_requests_total and magpie_api_request_duration_seconds, by
// route pattern ("unmatched" for none, so the label stays bounded) and
// status. A nil m records nothing.
func Metrics(m *telemetry.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.APIRequest(route, c.Writer.Status(), time.Since(start))
	}
}

// Tracing is the middleware that records a server span per request, named
// "HTTP <method> <route pattern>", with the attributes http.request.method,
// http.route and http.response.status_code, and status error for a 5xx
// response. Its parent is the caller's traceparent header, if any. With
// tracing off (telemetry.TracingOn) it only calls the next handler.
func Tracing(c *gin.Context) {
	if !telemetry.TracingOn() {
		c.Next()
		return
	}
	method, route := c.Request.Method, c.FullPath()
	name := "HTTP " + method
	attrs := []attribute.KeyValue{attribute.String("http.request.method", method)}
	if route != "" {
		name += " " + route
		attrs = append(attrs, attribute.String("http.route", route))
	}
	ctx := telemetry.ExtractHTTP(c.Request.Context(), c.Request.Header)
	ctx, span := telemetry.StartSpan(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	defer span.End()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	status := c.Writer.Status()
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// Recoverer turns a panic in a handler into a logged 500.
func Recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a recovered value, not an error chain
				panic(v)
			}
			Logger(c).ErrorContext(c.Request.Context(), "handler panic", "panic", fmt.Sprint(v))
			WriteError(c, NewError(http.StatusInternalServerError, CodeInternal, "internal error"))
		}
	}()
	c.Next()
}

// DefaultMaxBodyBytes is the body limit of ReadBody(0).
const DefaultMaxBodyBytes = 1 << 20

// ReadBody returns the middleware that reads the whole request body up to
// limit bytes (zero means DefaultMaxBodyBytes) and keeps it in the context
// (signatures hash it; handlers decode it).
func ReadBody(limit int64) gin.HandlerFunc {
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	return func(c *gin.Context) { readBody(c, limit) }
}

func readBody(c *gin.Context, limit int64) {
	if c.Request.ContentLength > limit {
		WriteError(c, NewError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body exceeds %d bytes", limit)))
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err != nil {
		WriteError(c, NewError(http.StatusBadRequest, CodeInvalidJSON, "cannot read request body"))
		return
	}
	if int64(len(body)) > limit {
		WriteError(c, NewError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body exceeds %d bytes", limit)))
		return
	}
	c.Set(ctxBody, body)
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Next()
}

// Body returns the request body ReadBody read.
func Body(c *gin.Context) []byte {
	b, _ := c.Get(ctxBody)
	body, _ := b.([]byte)
	return body
}

// DecodeJSON strictly decodes the request body into v: the content type must
// be JSON, unknown fields and trailing data are rejected.
func DecodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return NewError(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Content-Type must be application/json")
		}
	}
	body := Body(c)
	if len(bytes.TrimSpace(body)) == 0 {
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return NewError(http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ) && typ.Field == "":
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object")
	case errors.As(err, &typ):
		return FieldError(typ.Field, "must be "+jsonType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: http.StatusBadRequest, Code: CodeUnknownField, Message: "unknown field " + field, Field: field}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "truncated JSON")
	default:
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON")
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	default:
		return "a number"
	}
}

// SetCreds keeps the credentials of the app a signed request authenticated
// as in the context.
func SetCreds(c *gin.Context, creds *tenant.Credentials) { c.Set(ctxCreds, creds) }

// Creds returns the credentials SetCreds kept, or nil.
func Creds(c *gin.Context) *tenant.Credentials {
	v, ok := c.Get(ctxCreds)
	if !ok {
		return nil
	}
	return v.(*tenant.Credentials)
}
