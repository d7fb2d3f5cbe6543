package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/users"
)

// ctxTokenGrant keeps the grant tokenSubject checked for issueToken.
const ctxTokenGrant = "magpie.token_grant"

type tokenRequest struct {
	TTLSeconds int64 `json:"ttl_seconds"`
}

// tokenSubject checks a token request and refuses it for a user who does
// not exist or is blocked. It runs before the idempotency layer, so that
// replaying an earlier request never hands out a token the user may no
// longer get. It leaves the grant for issueToken.
func (s *Server) tokenSubject(c *gin.Context) {
	var in tokenRequest
	if len(strings.TrimSpace(string(httpx.Body(c)))) > 0 {
		if err := httpx.DecodeJSON(c, &in); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	grant, err := s.users.CheckToken(c.Request.Context(), httpx.Creds(c).App, c.Param("id"), in.TTLSeconds)
	if err != nil {
		failUser(c, err)
		return
	}
	c.Set(ctxTokenGrant, grant)
	c.Next()
}

// issueToken mints a client token (JWT) for the grant tokenSubject checked.
func (s *Server) issueToken(c *gin.Context) {
	tok, exp, err := s.users.IssueToken(httpx.Creds(c), c.MustGet(ctxTokenGrant).(users.Grant))
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": exp})
}

// revokeTokens serves POST /v1/users/{id}/tokens:revoke: every token of
// the user issued before now stops working, live sessions using one are
// closed, and the devices the user registered for push before now are
// unregistered (a device that registers again after logging in with a new
// token is kept). If unregistering fails the revocation stands and the
// call answers 500; repeating it is harmless.
func (s *Server) revokeTokens(c *gin.Context) {
	ctx, appID, userID := c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id")
	before, err := s.users.RevokeTokens(ctx, appID, userID)
	if err != nil {
		failUser(c, err)
		return
	}
	if s.push != nil {
		if _, err := s.push.ForgetDevices(ctx, appID, userID, before); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"revoked_before": before})
}
