package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"

	"github.com/magpie-im/magpie/push/provider"
)

// errSingleAttempt cancels an attempt that firebase would retry.
var errSingleAttempt = errors.New("fcm: one attempt per send")

// maxErrorBody bounds the error body an attempt keeps.
const maxErrorBody = 64 << 10

// attemptKey is the context key of an *attempt.
type attemptKey struct{}

// attempt is one Send's request to FCM. singleAttempt records in it the
// outcome firebase would retry (a network error or a 503) and cancels the
// attempt's context so that firebase gives up instead.
type attempt struct {
	cancel context.CancelCauseFunc

	mu     sync.Mutex // guards the following fields
	sent   int        // requests made
	err    error      // the network error, if that was the outcome
	status int        // the 503, if that was the outcome
	header http.Header
	body   []byte
}

// withAttempt returns a context for one Send and its attempt. The caller
// must call a.cancel.
func withAttempt(ctx context.Context) (context.Context, *attempt) {
	ctx, cancel := context.WithCancelCause(ctx)
	a := &attempt{cancel: cancel}
	return context.WithValue(ctx, attemptKey{}, a), a
}

// begin counts a request and reports whether it is the first.
func (a *attempt) begin() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent++
	return a.sent == 1
}

// stop records a retryable outcome and cancels the attempt.
func (a *attempt) stop(err error, res *http.Response, body []byte) {
	a.mu.Lock()
	a.err = err
	if res != nil {
		a.status, a.header, a.body = res.StatusCode, res.Header.Clone(), body
	}
	a.mu.Unlock()
	a.cancel(errSingleAttempt)
}

// singleAttempt lets one request through per attempt (the context's), and
// stops the attempt after an outcome firebase would retry.
type singleAttempt struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t singleAttempt) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := req.Context().Value(attemptKey{}).(*attempt)
	if !ok {
		return t.base.RoundTrip(req)
	}
	if !a.begin() {
		return nil, errSingleAttempt
	}
	res, err := t.base.RoundTrip(req)
	if err != nil {
		a.stop(err, nil, nil)
		return nil, err
	}
	if res.StatusCode != http.StatusServiceUnavailable {
		return res, nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_ = res.Body.Close()
	if err != nil {
		a.stop(err, nil, nil)
		return nil, err
	}
	a.stop(nil, res, body)
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// sendError maps the error of firebase's Send, and what a recorded, to a
// *provider.Error.
func sendError(err error, a *attempt) error {
	a.mu.Lock()
	sent, netErr, status, header, body := a.sent, a.err, a.status, a.header, a.body
	a.mu.Unlock()
	switch {
	case netErr != nil:
		return networkError(netErr)
	case status != 0:
		// err is firebase's report of the retry we cancelled: not news.
		return &provider.Error{
			Provider: Name, Status: status, Reason: reason(status, body), Retryable: true,
			RetryAfter: provider.ParseRetryAfter(header.Get("Retry-After"), time.Now()),
		}
	case sent == 0:
		// firebase refused the message before sending it.
		return &provider.Error{Provider: Name, Reason: "InvalidMessage", Err: err}
	}
	return fcmError(err)
}

// networkError maps a failed request: the token endpoint's refusal of the
// credential is permanent, anything else retryable.
func networkError(err error) error {
	terr := tokenError(err)
	if errors.Is(terr, provider.ErrCredential) {
		return &provider.Error{Provider: Name, Reason: "CredentialRefused", Err: terr}
	}
	return &provider.Error{Provider: Name, Reason: "network error", Retryable: true, Err: err}
}

// fcmError maps an error response of FCM (a firebase error):
//
//   - UNREGISTERED, INVALID_ARGUMENT (FCM's answer to a malformed token;
//     Send's own checks keep malformed messages from reaching FCM) and
//     SENDER_ID_MISMATCH (a token of another project): InvalidToken;
//   - QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, and any 429 or 5xx:
//     Retryable, with FCM's Retry-After;
//   - THIRD_PARTY_AUTH_ERROR (the app's APNs key or certificate in
//     Firebase), 401 and 403: permanent, wrapping provider.ErrCredential;
//   - anything else: permanent.
//
// Reason is FCM's errorCode, else its status ("NOT_FOUND").
func fcmError(err error) error {
	e := &provider.Error{Provider: Name, Reason: "unknown", Err: err}
	if res := errorutils.HTTPResponse(err); res != nil {
		body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		_ = res.Body.Close() // a buffered copy: closing is a no-op
		e.Status = res.StatusCode
		e.Reason = reason(res.StatusCode, body)
		e.RetryAfter = provider.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	switch {
	case messaging.IsUnregistered(err), messaging.IsInvalidArgument(err), messaging.IsSenderIDMismatch(err):
		e.InvalidToken = true
	case messaging.IsQuotaExceeded(err), messaging.IsUnavailable(err), messaging.IsInternal(err),
		e.Status == http.StatusTooManyRequests, e.Status >= 500:
		e.Retryable = true
	case messaging.IsThirdPartyAuthError(err), e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		e.Err = fmt.Errorf("%w: %w", provider.ErrCredential, err)
	}
	if !e.Retryable {
		e.RetryAfter = 0
	}
	return e
}

// errorBody is FCM's error JSON.
type errorBody struct {
	Error struct {
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// reason returns the FcmError errorCode of an error body, else its
// status, else the HTTP status text.
func reason(status int, body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		for _, d := range eb.Error.Details {
			if d.Type == "type.googleapis.com/google.firebase.fcm.v1.FcmError" && d.ErrorCode != "" {
				return d.ErrorCode
			}
		}
		if eb.Error.Status != "" {
			return eb.Error.Status
		}
	}
	return http.StatusText(status)
}
