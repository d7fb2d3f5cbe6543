package users

import (
	"context"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/tenant"
)

// DefaultTokenTTL is the lifetime of a token requested without one (or the
// app's maximum, if shorter).
const DefaultTokenTTL = 24 * time.Hour

// Grant is a token request that passed its checks: the user exists and is
// not blocked, and the lifetime is within the app's maximum.
type Grant struct {
	User store.User
	TTL  time.Duration
}

// CheckToken checks a request for a client token of a user of app, with a
// lifetime of ttlSeconds (zero: DefaultTokenTTL, or the app's maximum if
// shorter). It fails with a *ValidationError for the field "ttl_seconds"
// or "id", ErrNotFound, or ErrBlocked.
func (s *Service) CheckToken(ctx context.Context, app store.App, userID string, ttlSeconds int64) (Grant, error) {
	maxTTL := tenant.MaxTokenLifetime(app)
	ttl := min(DefaultTokenTTL, maxTTL)
	if ttlSeconds != 0 {
		if ttlSeconds < 60 || ttlSeconds > int64(maxTTL/time.Second) {
			return Grant{}, invalid("ttl_seconds", fmt.Sprintf(
				"must be from 60 to %d (the app's max_token_lifetime_seconds)", int64(maxTTL/time.Second)))
		}
		ttl = time.Duration(ttlSeconds) * time.Second
	}
	u, err := s.Get(ctx, app.ID, userID)
	if err != nil {
		return Grant{}, err
	}
	if u.Blocked {
		return Grant{}, ErrBlocked
	}
	return Grant{User: u, TTL: ttl}, nil
}

// IssueToken mints a client token (JWT) for a grant of CheckToken, signed
// with the app's newest active secret. It returns the token and when it
// expires.
func (s *Service) IssueToken(creds *tenant.Credentials, g Grant) (string, time.Time, error) {
	u := g.User
	// A token's iat has one-second precision. If tokens were revoked earlier
	// within this second, date the new one at the next second so the
	// revocation does not also cover it.
	now := s.now()
	if now.Before(u.TokensValidAfter) {
		now = u.TokensValidAfter
	}
	if now.Truncate(time.Second).Before(u.TokensValidAfter) {
		now = now.Truncate(time.Second).Add(time.Second)
	}
	tok, exp, err := token.Mint(creds.App.Key, creds.Secrets[0], u.ID, g.TTL, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint token: %w", err)
	}
	return tok, exp.UTC(), nil
}

// RevokeTokens makes every token of a user issued before now stop working;
// its live sessions using one end on every node. It returns the time
// before which tokens are revoked.
func (s *Service) RevokeTokens(ctx context.Context, appID, id string) (time.Time, error) {
	if _, err := s.Get(ctx, appID, id); err != nil {
		return time.Time{}, err
	}
	now := s.now()
	if err := s.store.App(appID).RevokeTokens(ctx, id, now); err != nil {
		return time.Time{}, fmt.Errorf("revoke tokens: %w", err)
	}
	s.changed(ctx, appID, id, false)
	return now.UTC(), nil
}
