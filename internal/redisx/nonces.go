package redisx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultNonceHold is how long Nonces remembers a nonce when NewNonces is
// given zero: twice the server API's 5-minute signing window, since a
// request's timestamp may be up to one window early or late.
const DefaultNonceHold = 10 * time.Minute

// Nonces is the cluster-wide nonce cache of the server API: it has the
// method set of api.NonceCache (package gateway/api), so that a request replayed to any
// gateway is refused. A nonce is one key, prefix + app id + ":nonce:" +
// nonce, written with SET NX and a relative expiry of the hold: one round
// trip, atomic across gateways. Expiry follows the Redis server's clock. It
// is safe for concurrent use.
type Nonces struct {
	c      *Client
	prefix string
	hold   time.Duration
}

// NewNonces returns a nonce cache on c whose keys start with prefix and
// that remembers each nonce for hold. Zero hold means DefaultNonceHold.
func NewNonces(c *Client, prefix string, hold time.Duration) *Nonces {
	if hold <= 0 {
		hold = DefaultNonceHold
	}
	return &Nonces{c: c, prefix: prefix, hold: hold}
}

// Seen records nonce for the app and reports whether it had been recorded
// within the hold. now is not used: the hold runs on the Redis server's
// clock, which every gateway shares.
func (n *Nonces) Seen(ctx context.Context, appID, nonce string, _ time.Time) (bool, error) {
	if appID == "" || strings.Contains(appID, ":") {
		return false, fmt.Errorf("record nonce: invalid app id %q", appID)
	}
	err := n.c.rdb.SetArgs(ctx, n.prefix+appID+":nonce:"+nonce, "1", redis.SetArgs{Mode: "NX", TTL: n.hold}).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("record nonce: %w", Err(err))
	}
	return false, nil
}
