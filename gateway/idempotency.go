package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
)

// idempotent makes a creating POST replayable: a request carrying an
// Idempotency-Key that the app has used before with the same method, path
// and body gets the stored response (with Idempotent-Replayed: true) and
// changes nothing; the same key with a different request is refused.
// Only successful (2xx) responses are stored: a request that failed may be
// corrected and retried with the same key.
func (g *Gateway) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	if len(key) > 255 {
		writeError(c, &apiError{Status: http.StatusBadRequest, Code: CodeValidation,
			Message: "Idempotency-Key must be at most 255 characters", Field: "Idempotency-Key"})
		return
	}
	ctx := c.Request.Context()
	apps := g.store.App(credsOf(c).App.ID)
	hash := requestHash(c)
	rec, err := apps.GetIdempotency(ctx, key)
	switch {
	case err == nil:
		g.replay(c, rec, hash)
		return
	case !errors.Is(err, store.ErrNotFound):
		fail(c, err)
		return
	}
	w := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	if w.Status() < 200 || w.Status() > 299 {
		return
	}
	// Responses hold user data and, for tokens, credentials: sealed at rest.
	sealed := g.tenants.Seal(credsOf(c).App.ID, "idempotency:"+key, w.buf.Bytes())
	_, _, err = apps.PutIdempotency(ctx, store.Idempotency{
		Key: key, RequestHash: hash, Status: w.Status(), Body: sealed, CreatedAt: g.now(),
	})
	if err != nil {
		logger(c).ErrorContext(ctx, "store idempotency record", "err", err)
	}
}

func (g *Gateway) replay(c *gin.Context, rec store.Idempotency, hash string) {
	if rec.RequestHash != hash {
		writeError(c, newError(http.StatusUnprocessableEntity, CodeIdempotencyReused,
			"this Idempotency-Key was used with a different request"))
		return
	}
	body, err := g.tenants.Open(credsOf(c).App.ID, "idempotency:"+rec.Key, rec.Body)
	if err != nil {
		fail(c, fmt.Errorf("open stored response: %w", err))
		return
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(rec.Status, "application/json; charset=utf-8", body)
	c.Abort()
}

func requestHash(c *gin.Context) string {
	h := sha256.New()
	h.Write([]byte(c.Request.Method + "\n" + c.Request.URL.EscapedPath() + "\n"))
	h.Write(bodyOf(c))
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
