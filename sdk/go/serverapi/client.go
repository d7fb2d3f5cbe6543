package serverapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/signing"
)

// defaultTimeout bounds each call made with the default HTTP client.
const defaultTimeout = 30 * time.Second

// maxResponseBytes bounds the response body the client reads.
const maxResponseBytes = 16 << 20

// userAgent identifies this SDK to the server.
const userAgent = "magpie-go-serverapi"

// Client calls Magpie's server API on behalf of one app. Create it with New;
// it is safe for concurrent use.
type Client struct {
	base   string // scheme://host[/prefix], without a trailing slash
	appKey string
	secret string
	http   *http.Client
	now    func() time.Time
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient makes the client send requests with hc. Default: an
// http.Client with a 30 s timeout. A nil hc keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithClock makes the client read the time from now, for request timestamps
// and locally minted tokens. Default: time.Now. A nil now keeps the default.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// New returns a client for the server API at baseURL (for example
// "https://api.magpie.example"; a path prefix is kept) that signs requests
// with appKey and appSecret.
func New(baseURL, appKey, appSecret string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("new client: base url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("new client: base url %q: scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("new client: base url %q: no host", baseURL)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("new client: base url %q: has a query or fragment", baseURL)
	case appKey == "":
		return nil, errors.New("new client: empty app key")
	case appSecret == "":
		return nil, errors.New("new client: empty app secret")
	}
	c := &Client{
		base:   strings.TrimRight(u.String(), "/"),
		appKey: appKey,
		secret: appSecret,
		http:   &http.Client{Timeout: defaultTimeout},
		now:    time.Now,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// CallOption configures one call.
type CallOption func(*callConfig)

// callConfig holds the per-call settings made by CallOptions.
type callConfig struct {
	idempotencyKey string
}

// IdempotencyKey sends k as the Idempotency-Key header, so that the server
// performs a retried call only once.
func IdempotencyKey(k string) CallOption {
	return func(cc *callConfig) { cc.idempotencyKey = k }
}

// callHeader returns the request headers the call options ask for; nil
// for none.
func callHeader(opts []CallOption) http.Header {
	var cc callConfig
	for _, opt := range opts {
		opt(&cc)
	}
	if cc.idempotencyKey == "" {
		return nil
	}
	return http.Header{"Idempotency-Key": {cc.idempotencyKey}}
}

// Error is an error response from the server API.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable machine-readable error code, such as "not_found";
	// empty if the response body was not a Magpie error.
	Code string
	// Message is a human-readable description.
	Message string
	// RequestID identifies the request in the server's logs; quote it when
	// asking for support.
	RequestID string
	// Field names the offending request field, if any.
	Field string
	// Reason is, for code "message_rejected", the code of the moderation
	// rule or the app's pre-send hook that rejected the message.
	Reason string
	// RetryAfter is the wait the server asked for in its Retry-After header;
	// zero if it sent none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "magpie: %d", e.Status)
	if e.Code != "" {
		sb.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		sb.WriteString(": " + e.Message)
	}
	if e.Field != "" {
		sb.WriteString(" (field " + e.Field + ")")
	}
	if e.Reason != "" {
		sb.WriteString(" (reason " + e.Reason + ")")
	}
	if e.RequestID != "" {
		sb.WriteString(" [request " + e.RequestID + "]")
	}
	return sb.String()
}

// Retryable reports whether the same call may succeed later: true for 429 Too
// Many Requests and 5xx statuses.
func (e *Error) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// errorBody is the JSON body of an error response.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Field     string `json:"field"`
		Reason    string `json:"reason"`
	} `json:"error"`
}

// request describes one API call.
type request struct {
	method string
	path   string     // escaped, starting with "/"
	query  url.Values // nil for none
	in     any        // marshalled as the JSON body; nil for no body
	out    any        // the JSON response is decoded into it; nil to discard
	header http.Header
}

// do sends req, signed, and decodes its response.
func (c *Client) do(ctx context.Context, req request) error {
	var body []byte
	if req.in != nil {
		var err error
		if body, err = json.Marshal(req.in); err != nil {
			return fmt.Errorf("%s %s: encode request: %w", req.method, req.path, err)
		}
	}
	target := c.base + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", userAgent)
	if req.in != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if err := signing.SignRequest(hr, c.appKey, c.secret, body, c.now(), signing.NewNonce()); err != nil {
		return fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	return c.roundTrip(hr, req.path, req.out)
}

// roundTrip sends a signed request and decodes its response into out (nil
// to discard it), or returns the server's *Error.
func (c *Client) roundTrip(hr *http.Request, path string, out any) error {
	req := struct{ method, path string }{hr.Method, path}
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", req.method, req.path, err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("%s %s: response larger than %d bytes", req.method, req.path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.parseError(resp, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", req.method, req.path, err)
	}
	return nil
}

// parseError builds the *Error for an error response with body data.
func (c *Client) parseError(resp *http.Response, data []byte) *Error {
	e := &Error{
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		e.RequestID = eb.Error.RequestID
		e.Field, e.Reason = eb.Error.Field, eb.Error.Reason
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return e
}

// retryAfter parses a Retry-After header value, delay-seconds or an
// HTTP-date, into a wait from now; zero if absent, malformed or past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 || secs > 1<<31 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
