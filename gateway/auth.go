package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
)

// signedAPI authenticates a server API request by its signature (see
// docs/signing.md): known app key, timestamp within the window, and an
// HMAC-SHA256 signature by one of the app's active secrets. The app's
// credentials are left in the context. freshNonce completes the check,
// before the rate limit.
func (g *Gateway) signedAPI(c *gin.Context) {
	key := c.GetHeader(signing.HeaderAppKey)
	ts := c.GetHeader(signing.HeaderTimestamp)
	nonce := c.GetHeader(signing.HeaderNonce)
	sig := c.GetHeader(signing.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		writeError(c, newError(http.StatusUnauthorized, CodeMissingAuth,
			"the X-Magpie-App-Key, X-Magpie-Timestamp, X-Magpie-Nonce and X-Magpie-Signature headers are required"))
		return
	}
	creds, err := g.tenants.Resolve(c.Request.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		writeError(c, newError(http.StatusUnauthorized, CodeUnknownAppKey, "unknown app key"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if ae := g.verifySignature(c, creds, ts, nonce, sig); ae != nil {
		writeError(c, ae)
		return
	}
	if creds.App.Disabled {
		writeError(c, newError(http.StatusForbidden, CodeAppDisabled, "the app is disabled"))
		return
	}
	c.Set(ctxCreds, creds)
	c.Next()
}

// freshNonce rejects a nonce the app used within the signing window and
// spends the nonce. It runs before the rate limit: replays do not spend the
// app's budget, and a request refused with 429 cannot be replayed later.
func (g *Gateway) freshNonce(c *gin.Context) {
	creds := credsOf(c)
	seen, err := g.nonces.Seen(c.Request.Context(), creds.App.ID, c.GetHeader(signing.HeaderNonce), g.now())
	if errors.Is(err, groupcommit.ErrOverloaded) || errors.Is(err, groupcommit.ErrStopped) {
		c.Header("Retry-After", "1")
		writeError(c, newError(http.StatusServiceUnavailable, CodeUnavailable, "the server is busy; retry with a new nonce"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if seen {
		writeError(c, newError(http.StatusUnauthorized, CodeNonceReplayed, "nonce already used within the signing window"))
		return
	}
	c.Next()
}

func (g *Gateway) verifySignature(c *gin.Context, creds *tenant.Credentials, ts, nonce, sig string) *apiError {
	if !signing.ValidNonce(nonce) {
		return newError(http.StatusUnauthorized, CodeBadNonce, "nonce must be 16-64 characters of [A-Za-z0-9_-]")
	}
	if err := signing.CheckTimestamp(ts, g.now()); err != nil {
		return newError(http.StatusUnauthorized, CodeTimestampWindow,
			"timestamp must be Unix seconds within 300 seconds of server time")
	}
	path, rawQuery, _ := strings.Cut(c.Request.RequestURI, "?")
	query, err := signing.CanonicalQuery(rawQuery)
	if err != nil {
		return newError(http.StatusUnauthorized, CodeBadSignature, "query string is not valid percent-encoding")
	}
	sts := signing.StringToSign(c.Request.Method, path, query, ts, nonce, bodyOf(c))
	for _, secret := range creds.Secrets {
		if signing.Verify(secret, sts, sig) {
			return nil
		}
	}
	return newError(http.StatusUnauthorized, CodeBadSignature, "signature does not match")
}

func credsOf(c *gin.Context) *tenant.Credentials {
	v, ok := c.Get(ctxCreds)
	if !ok {
		return nil
	}
	return v.(*tenant.Credentials)
}
