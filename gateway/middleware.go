package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	ctxRequestID  = "magpie.request_id"
	ctxLogger     = "magpie.logger"
	ctxBody       = "magpie.body"
	ctxCreds      = "magpie.creds"
	ctxMember     = "magpie.member"
	ctxTokenGrant = "magpie.token_grant"
)

// requestIDs assigns every request an id (the caller's X-Request-Id when it
// is sane), echoes it in the response and puts a logger carrying it in the
// context.
func (g *Gateway) requestIDs(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !saneRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-Id", id)
	c.Set(ctxLogger, g.log.With("request_id", id))
	c.Next()
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

func newRequestID() string { return newID("req_") }

// newID returns prefix followed by 12 random bytes in hex.
func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.New(slog.DiscardHandler)
}

// accessLog logs one line per request after it completes.
func (g *Gateway) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	attrs := []any{"method", c.Request.Method, "route", route, "status", c.Writer.Status(),
		"duration_ms", time.Since(start).Milliseconds()}
	if creds := credsOf(c); creds != nil {
		attrs = append(attrs, "app_id", creds.App.ID)
	}
	logger(c).DebugContext(c.Request.Context(), "http request", attrs...)
}

// recoverer turns a panic in a handler into a logged 500.
func recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a recovered value, not an error chain
				panic(v)
			}
			logger(c).ErrorContext(c.Request.Context(), "handler panic", "panic", fmt.Sprint(v))
			writeError(c, newError(http.StatusInternalServerError, CodeInternal, "internal error"))
		}
	}()
	c.Next()
}

// readBody reads the whole request body up to the configured limit and
// keeps it in the context (signatures hash it; handlers decode it).
func (g *Gateway) readBody(c *gin.Context) {
	limit := g.cfg.MaxBodyBytes
	if c.Request.ContentLength > limit {
		writeError(c, newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body exceeds %d bytes", limit)))
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err != nil {
		writeError(c, newError(http.StatusBadRequest, CodeInvalidJSON, "cannot read request body"))
		return
	}
	if int64(len(body)) > limit {
		writeError(c, newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("request body exceeds %d bytes", limit)))
		return
	}
	c.Set(ctxBody, body)
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Next()
}

func bodyOf(c *gin.Context) []byte {
	b, _ := c.Get(ctxBody)
	body, _ := b.([]byte)
	return body
}

// decodeJSON strictly decodes the request body into v: the content type must
// be JSON, unknown fields and trailing data are rejected.
func decodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return newError(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Content-Type must be application/json")
		}
	}
	body := bodyOf(c)
	if len(bytes.TrimSpace(body)) == 0 {
		return newError(http.StatusBadRequest, CodeInvalidJSON, "request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeInvalidJSON, "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return newError(http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ) && typ.Field == "":
		return newError(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object")
	case errors.As(err, &typ):
		return fieldError(typ.Field, "must be "+jsonType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{Status: http.StatusBadRequest, Code: CodeUnknownField, Message: "unknown field " + field, Field: field}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, CodeInvalidJSON, "truncated JSON")
	default:
		return newError(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON")
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
