package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
)

// idempotent makes a creating POST replayable: a request carrying an
// Idempotency-Key that the app has used before with the same method, path
// and body gets the stored response (with Idempotent-Replayed: true) and
// changes nothing; the same key with a different request is refused.
// Only successful (2xx) responses are stored: a request that failed may be
// corrected and retried with the same key.
func (s *Server) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	if len(key) > 255 {
		httpx.WriteError(c, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeValidation,
			Message: "Idempotency-Key must be at most 255 characters", Field: "Idempotency-Key"})
		return
	}
	ctx := c.Request.Context()
	apps := s.store.App(httpx.Creds(c).App.ID)
	hash := requestHash(c)
	rec, err := apps.GetIdempotency(ctx, key)
	switch {
	case err == nil:
		s.replay(c, rec, hash)
		return
	case !errors.Is(err, store.ErrNotFound):
		httpx.Fail(c, err)
		return
	}
	w := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	if w.Status() < 200 || w.Status() > 299 {
		return
	}
	// Responses hold user data and, for tokens, credentials: sealed at rest.
	sealed := s.tenants.Seal(httpx.Creds(c).App.ID, "idempotency:"+key, w.buf.Bytes())
	_, _, err = apps.PutIdempotency(ctx, store.Idempotency{
		Key: key, RequestHash: hash, Status: w.Status(), Body: sealed, CreatedAt: s.now(),
	})
	if err != nil {
		httpx.Logger(c).ErrorContext(ctx, "store idempotency record", "err", err)
	}
}

func (s *Server) replay(c *gin.Context, rec store.Idempotency, hash string) {
	if rec.RequestHash != hash {
		httpx.WriteError(c, httpx.NewError(http.StatusUnprocessableEntity, httpx.CodeIdempotencyReused,
			"this Idempotency-Key was used with a different request"))
		return
	}
	body, err := s.tenants.Open(httpx.Creds(c).App.ID, "idempotency:"+rec.Key, rec.Body)
	if err != nil {
		httpx.Fail(c, fmt.Errorf("open stored response: %w", err))
		return
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(rec.Status, "application/json; charset=utf-8", body)
	c.Abort()
}

func requestHash(c *gin.Context) string {
	h := sha256.New()
	h.Write([]byte(c.Request.Method + "\n" + c.Request.URL.EscapedPath() + "\n"))
	h.Write(httpx.Body(c))
	return hex.EncodeToString(h.Sum(nil))
}

// captureWriter keeps a copy of the response body.
type captureWriter struct {
	gin.ResponseWriter
	buf bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.buf.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
