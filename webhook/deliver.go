package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Limits of one HTTP call to an endpoint.
const (
	// maxSnippet bounds the part of an answer's body kept in the log.
	maxSnippet = 1 << 10
	// maxDrain bounds how much more of an answer's body is read (and
	// discarded) so that its connection can be reused; a longer body
	// closes the connection instead.
	maxDrain = 64 << 10
	// userAgent identifies Magpie's requests.
	userAgent = "Magpie-Webhooks/1"
)

// Sealer seals and opens an app's secrets with the installation master key
// (tenant.Service provides it).
type Sealer interface {
	Seal(appID, purpose string, data []byte) []byte
	Open(appID, purpose string, sealed []byte) ([]byte, error)
}

// secretPurpose binds a sealed secret to its endpoint.
func secretPurpose(webhookID string) string { return "webhook-secret:" + webhookID }

// openSecrets returns the plain secrets of w that sign at now, newest
// first.
func openSecrets(keys Sealer, appID string, w store.Webhook, now time.Time) ([]string, error) {
	var out []string
	for _, s := range w.Secrets {
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		plain, err := keys.Open(appID, secretPurpose(w.ID), s.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open secret %s of webhook %s: %w", s.ID, w.ID, err)
		}
		out = append(out, string(plain))
		if len(out) == MaxSecrets {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("webhook %s has no unexpired secret", w.ID)
	}
	return out, nil
}

// result is the outcome of one HTTP call.
type result struct {
	status   int
	snippet  string
	latency  time.Duration
	err      error         // nil on a 2xx answer
	retryIn  time.Duration // the receiver's Retry-After, if any
	response []byte        // the body read (at most limit), for synchronous hooks
}

// post sends body to url, signed with secrets under id. With limit 0 it
// keeps the answer's first maxSnippet bytes (a post event's answer is
// only logged); with limit > 0 it reads the answer whole and fails if it
// is longer than limit (a hook's answer is decoded).
func post(ctx context.Context, client *http.Client, url string, secrets []string, id string, body []byte, now time.Time, limit int) result {
	h, err := Sign(secrets, id, now, body)
	if err != nil {
		return result{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header = WithTraceparent(ctx, h)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return result{latency: time.Since(start), err: fmt.Errorf("post: %w", scrubURL(err))}
	}
	defer resp.Body.Close()
	keep := limit
	if keep == 0 {
		keep = maxSnippet
	}
	read, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(keep)+1))
	r := result{status: resp.StatusCode, latency: time.Since(start), snippet: snippet(read)}
	switch {
	case len(read) > keep && limit > 0:
		r.err = fmt.Errorf("answer longer than %d bytes", limit)
	case len(read) > keep:
		read = read[:keep]
		fallthrough
	case rerr == nil:
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain) // reuse the connection if the rest is short
	}
	r.response = read
	switch {
	case r.err != nil:
	case rerr != nil:
		r.err = fmt.Errorf("read answer: %w", scrubURL(rerr))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		r.err = fmt.Errorf("answered %d", resp.StatusCode)
		r.retryIn = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	return r
}

// snippet is the loggable beginning of an answer: at most maxSnippet
// bytes of valid UTF-8.
func snippet(b []byte) string {
	if len(b) > maxSnippet {
		b = b[:maxSnippet]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); zero
// when absent or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// scrubURL drops the URL from a client error: the log shows the endpoint
// id, and the URL may carry a token in its query.
func scrubURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue.Timeout() {
		return errTimeout
	}
	return ue.Err
}

// errTimeout is a call that ran out of time.
var errTimeout = errors.New("timed out")
