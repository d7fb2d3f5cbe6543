package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
)

// signedAPI authenticates a server API request by its signature (see
// docs/signing.md): known app key, timestamp within the window, and an
// HMAC-SHA256 signature by one of the app's active secrets. The app's
// credentials are left in the context. freshNonce completes the check,
// before the rate limit.
func (s *Server) signedAPI(c *gin.Context) {
	key := c.GetHeader(signing.HeaderAppKey)
	ts := c.GetHeader(signing.HeaderTimestamp)
	nonce := c.GetHeader(signing.HeaderNonce)
	sig := c.GetHeader(signing.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		httpx.WriteError(c, httpx.NewError(http.StatusUnauthorized, httpx.CodeMissingAuth,
			"the X-Magpie-App-Key, X-Magpie-Timestamp, X-Magpie-Nonce and X-Magpie-Signature headers are required"))
		return
	}
	creds, err := s.tenants.Resolve(c.Request.Context(), key)
	if err != nil {
		failResolve(c, err)
		return
	}
	sum := sha256.Sum256(httpx.Body(c))
	if ae := s.verifySignature(c, creds, ts, nonce, sig, hex.EncodeToString(sum[:])); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	if creds.App.Disabled {
		httpx.WriteError(c, httpx.NewError(http.StatusForbidden, httpx.CodeAppDisabled, "the app is disabled"))
		return
	}
	httpx.SetCreds(c, creds)
	if s.cfg.Usage != nil {
		s.cfg.Usage.APICall(creds.App.ID)
	}
	c.Next()
}

// freshNonce rejects a nonce the app used within the signing window and
// spends the nonce. It runs before the rate limit: replays do not spend the
// app's budget, and a request refused with 429 cannot be replayed later.
func (s *Server) freshNonce(c *gin.Context) {
	if ae := s.spendNonce(c); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	c.Next()
}

// spendNonce records the request's nonce, or says why it cannot be used.
func (s *Server) spendNonce(c *gin.Context) *httpx.Error {
	creds := httpx.Creds(c)
	seen, err := s.nonces.Seen(c.Request.Context(), creds.App.ID, c.GetHeader(signing.HeaderNonce), s.now())
	if errors.Is(err, groupcommit.ErrOverloaded) || errors.Is(err, groupcommit.ErrStopped) {
		c.Header("Retry-After", "1")
		return httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the server is busy; retry with a new nonce")
	}
	if err != nil {
		httpx.Logger(c).ErrorContext(c.Request.Context(), "nonce check failed", "err", err)
		return httpx.NewError(http.StatusInternalServerError, httpx.CodeInternal, "internal error")
	}
	if seen {
		return httpx.NewError(http.StatusUnauthorized, httpx.CodeNonceReplayed, "nonce already used within the signing window")
	}
	return nil
}

// verifySignature checks a request's signature, its body known by its hex
// SHA-256.
func (s *Server) verifySignature(c *gin.Context, creds *tenant.Credentials, ts, nonce, sig, bodySHA256 string) *httpx.Error {
	if ae := s.checkWindow(ts, nonce); ae != nil {
		return ae
	}
	path, rawQuery, _ := strings.Cut(c.Request.RequestURI, "?")
	query, err := signing.CanonicalQuery(rawQuery)
	if err != nil {
		return httpx.NewError(http.StatusUnauthorized, httpx.CodeBadSignature, "query string is not valid percent-encoding")
	}
	sts := signing.StringToSignHash(c.Request.Method, path, query, ts, nonce, bodySHA256)
	for _, secret := range creds.Secrets {
		if signing.Verify(secret, sts, sig) {
			return nil
		}
	}
	return httpx.NewError(http.StatusUnauthorized, httpx.CodeBadSignature, "signature does not match")
}

// checkWindow checks what can be checked of a signature before the body
// is read: the nonce's form and the timestamp's window.
func (s *Server) checkWindow(ts, nonce string) *httpx.Error {
	if !signing.ValidNonce(nonce) {
		return httpx.NewError(http.StatusUnauthorized, httpx.CodeBadNonce, "nonce must be 16-64 characters of [A-Za-z0-9_-]")
	}
	if err := signing.CheckTimestamp(ts, s.now()); err != nil {
		return httpx.NewError(http.StatusUnauthorized, httpx.CodeTimestampWindow,
			"timestamp must be Unix seconds within 300 seconds of server time")
	}
	return nil
}
