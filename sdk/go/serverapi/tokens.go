package serverapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/magpie-im/magpie/sdk/go/token"
)

// Token is a client token for one user, to hand to that user's app, which
// presents it to the WebSocket gateway.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueToken asks the server for a client token for the user with userID
// (POST /v1/users/{id}/tokens), valid for ttl rounded up to a whole second.
// A ttl of 0 means the server's default (24 hours); otherwise it must be
// from 60 seconds to 30 days.
func (c *Client) IssueToken(ctx context.Context, userID string, ttl time.Duration) (Token, error) {
	if ttl < 0 {
		return Token{}, errors.New("magpie: negative token ttl")
	}
	path, err := userPath(userID, "/tokens")
	if err != nil {
		return Token{}, err
	}
	in := struct {
		TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	}{int64((ttl + time.Second - 1) / time.Second)}
	var tok Token
	if err := c.do(ctx, request{method: http.MethodPost, path: path, in: in, out: &tok}); err != nil {
		return Token{}, err
	}
	return tok, nil
}

// RevokeTokens revokes the client tokens issued so far to the user with
// userID (POST /v1/users/{id}/tokens:revoke) and returns the cutoff: the
// user's tokens issued before it are rejected. Tokens carry their issue time
// in whole seconds, so a token minted locally (MintToken) within the same
// second as the cutoff is rejected too; IssueToken accounts for this, or
// mint after the cutoff's next whole second.
func (c *Client) RevokeTokens(ctx context.Context, userID string) (time.Time, error) {
	path, err := userPath(userID, "/tokens:revoke")
	if err != nil {
		return time.Time{}, err
	}
	var resp struct {
		RevokedBefore time.Time `json:"revoked_before"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, path: path, out: &resp}); err != nil {
		return time.Time{}, err
	}
	return resp.RevokedBefore, nil
}

// MintToken signs a client token for userID locally with the app secret,
// valid for ttl (more than 0, at most 30 days, rounded up to a whole second).
// It makes no request, so it cannot tell whether the user exists or is
// blocked, and a token minted within the second of a RevokeTokens cutoff is
// revoked with the older ones (see RevokeTokens).
func (c *Client) MintToken(userID string, ttl time.Duration) (Token, error) {
	tok, exp, err := token.Mint(c.appKey, c.secret, userID, ttl, c.now())
	if err != nil {
		return Token{}, err
	}
	return Token{Token: tok, ExpiresAt: exp}, nil
}
