package apns

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sideshow/apns2"

	"github.com/magpie-im/magpie/push/provider"
)

// responseError maps an APNs response to nil (200) or a *provider.Error:
//
//   - 410, or reason BadDeviceToken, Unregistered or DeviceTokenNotForTopic:
//     InvalidToken;
//   - 429 and 5xx: Retryable, with the Retry-After APNs sent, if any;
//   - 403 (a provider-token or topic refusal): permanent, wrapping
//     provider.ErrCredential;
//   - any other status: permanent.
func responseError(res *apns2.Response, retryAfter time.Duration) error {
	if res.StatusCode == http.StatusOK {
		return nil
	}
	e := &provider.Error{Provider: Name, Status: res.StatusCode, Reason: res.Reason}
	if e.Reason == "" {
		e.Reason = http.StatusText(res.StatusCode)
	}
	switch {
	case res.StatusCode == http.StatusGone,
		res.Reason == apns2.ReasonBadDeviceToken,
		res.Reason == apns2.ReasonUnregistered,
		res.Reason == apns2.ReasonDeviceTokenNotForTopic:
		e.InvalidToken = true
	case res.StatusCode == http.StatusTooManyRequests, res.StatusCode >= 500:
		e.Retryable = true
		e.RetryAfter = retryAfter
	case res.StatusCode == http.StatusForbidden:
		e.Err = provider.ErrCredential
	}
	return e
}

// retryAfterKey is the context key of a *retryAfter.
type retryAfterKey struct{}

// retryAfter receives the Retry-After of one response: apns2.Response does
// not carry the response headers, so retryAfterTransport copies it here.
type retryAfter struct {
	mu sync.Mutex // guards d
	d  time.Duration
}

// withRetryAfter returns a context under which retryAfterTransport records
// the Retry-After of the response in the returned *retryAfter.
func withRetryAfter(ctx context.Context) (context.Context, *retryAfter) {
	ra := &retryAfter{}
	return context.WithValue(ctx, retryAfterKey{}, ra), ra
}

func (ra *retryAfter) set(d time.Duration) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.d = d
}

func (ra *retryAfter) get() time.Duration {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.d
}

// retryAfterTransport records the Retry-After header of each response in
// the *retryAfter of its request's context, if there is one.
type retryAfterTransport struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if ra, ok := req.Context().Value(retryAfterKey{}).(*retryAfter); ok {
		ra.set(provider.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now()))
	}
	return res, nil
}
