package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/magpie-im/magpie/internal/telemetry"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
)

// MaxSecrets is how many secrets an endpoint has at once: its current one
// and, during a rotation's overlap, the one it replaces.
const MaxSecrets = 2

// Sign returns the signature headers of a delivery of body with id at ts,
// signed with each of an endpoint's secrets, newest first, so that a
// receiver holding either secret accepts it during a rotation. id must be
// valid per sdk/go/webhook.ValidID and stay the same on every retry of the
// delivery. Errors never contain a secret.
func Sign(secrets []string, id string, ts time.Time, body []byte) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sign webhook: no secrets")
	}
	if len(secrets) > MaxSecrets {
		return nil, fmt.Errorf("sign webhook: %d secrets, want at most %d", len(secrets), MaxSecrets)
	}
	if !sdk.ValidID(id) {
		return nil, fmt.Errorf("sign webhook: invalid id %q", id)
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		key, err := sdk.ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("sign webhook: secret %d: %w", i+1, err)
		}
		keys[i] = key
	}
	return sdk.Headers(keys, id, ts, body), nil
}

// WithTraceparent adds to h the W3C traceparent (and tracestate, if any)
// of the span in ctx, and returns h. With tracing off, or no span in ctx,
// it leaves h as it is. The trace headers are not signed.
func WithTraceparent(ctx context.Context, h http.Header) http.Header {
	for k, v := range telemetry.Inject(ctx, nil) {
		h.Set(k, v)
	}
	return h
}
