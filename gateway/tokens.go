package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/tenant"
)

// defaultTokenTTL is the lifetime of a token issued without ttl_seconds
// (or the app's maximum, if shorter).
const defaultTokenTTL = 24 * time.Hour

type tokenRequest struct {
	TTLSeconds int64 `json:"ttl_seconds"`
}

// tokenSubject validates a token request and refuses it for a user who
// does not exist or is blocked. It runs before the idempotency layer, so
// that replaying an earlier request never hands out a token the user may no
// longer get. It leaves the user and the lifetime for issueToken.
func (g *Gateway) tokenSubject(c *gin.Context) {
	var in tokenRequest
	if len(strings.TrimSpace(string(bodyOf(c)))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			fail(c, err)
			return
		}
	}
	maxTTL := tenant.MaxTokenLifetime(credsOf(c).App)
	ttl := min(defaultTokenTTL, maxTTL)
	if in.TTLSeconds != 0 {
		if in.TTLSeconds < 60 || in.TTLSeconds > int64(maxTTL/time.Second) {
			writeError(c, fieldError("ttl_seconds", fmt.Sprintf(
				"must be from 60 to %d (the app's max_token_lifetime_seconds)", int64(maxTTL/time.Second))))
			return
		}
		ttl = time.Duration(in.TTLSeconds) * time.Second
	}
	u, ok := g.loadUser(c, c.Param("id"))
	if !ok {
		return
	}
	if u.Blocked {
		writeError(c, newError(http.StatusForbidden, CodeUserBlocked, "the user is blocked"))
		return
	}
	c.Set(ctxTokenUser, u)
	c.Set(ctxTokenTTL, ttl)
	c.Next()
}

// issueToken mints a client token (JWT) for the user tokenSubject checked.
func (g *Gateway) issueToken(c *gin.Context) {
	u := c.MustGet(ctxTokenUser).(store.User)
	ttl := c.MustGet(ctxTokenTTL).(time.Duration)
	creds := credsOf(c)
	// A token's iat has one-second precision. If tokens were revoked earlier
	// within this second, date the new one at the next second so the
	// revocation does not also cover it.
	now := g.now()
	if now.Before(u.TokensValidAfter) {
		now = u.TokensValidAfter
	}
	if now.Truncate(time.Second).Before(u.TokensValidAfter) {
		now = now.Truncate(time.Second).Add(time.Second)
	}
	tok, exp, err := token.Mint(creds.App.Key, creds.Secrets[0], u.ID, ttl, now)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": exp.UTC()})
}

// revokeTokens serves POST /v1/users/{id}/tokens:revoke: every token of
// the user issued before now stops working, and live sessions using one are
// closed.
func (g *Gateway) revokeTokens(c *gin.Context) {
	id := c.Param("id")
	if _, ok := g.loadUser(c, id); !ok {
		return
	}
	now := g.now()
	if err := g.appStore(c).RevokeTokens(c.Request.Context(), id, now); err != nil {
		fail(c, err)
		return
	}
	g.userChanged(c.Request.Context(), credsOf(c).App.ID, id, false)
	c.JSON(http.StatusOK, gin.H{"revoked_before": now.UTC()})
}
