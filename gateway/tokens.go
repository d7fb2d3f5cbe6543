package gateway

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/users"
)

type tokenRequest struct {
	TTLSeconds int64 `json:"ttl_seconds"`
}

// tokenSubject checks a token request and refuses it for a user who does
// not exist or is blocked. It runs before the idempotency layer, so that
// replaying an earlier request never hands out a token the user may no
// longer get. It leaves the grant for issueToken.
func (g *Gateway) tokenSubject(c *gin.Context) {
	var in tokenRequest
	if len(strings.TrimSpace(string(bodyOf(c)))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			fail(c, err)
			return
		}
	}
	grant, err := g.users.CheckToken(c.Request.Context(), credsOf(c).App, c.Param("id"), in.TTLSeconds)
	if err != nil {
		failUser(c, err)
		return
	}
	c.Set(ctxTokenGrant, grant)
	c.Next()
}

// issueToken mints a client token (JWT) for the grant tokenSubject checked.
func (g *Gateway) issueToken(c *gin.Context) {
	tok, exp, err := g.users.IssueToken(credsOf(c), c.MustGet(ctxTokenGrant).(users.Grant))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": exp})
}

// revokeTokens serves POST /v1/users/{id}/tokens:revoke: every token of
// the user issued before now stops working, and live sessions using one are
// closed.
func (g *Gateway) revokeTokens(c *gin.Context) {
	before, err := g.users.RevokeTokens(c.Request.Context(), credsOf(c).App.ID, c.Param("id"))
	if err != nil {
		failUser(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"revoked_before": before})
}
