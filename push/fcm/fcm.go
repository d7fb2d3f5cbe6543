// Package fcm sends push notifications through Firebase Cloud Messaging's
// HTTP v1 API with a service-account credential, on top of
// firebase.google.com/go/v4/messaging. It implements provider.Sender.
//
// Authentication: the Sender signs a JWT with the service account's key,
// exchanges it at the account's token_uri for an OAuth2 access token
// (golang.org/x/oauth2/google, scope Scope), caches it until shortly
// before it expires, and adds it to each request as a bearer token.
//
// Retries: the firebase messaging client retries a request itself, up to 4
// times with exponential backoff (0 s, 1 s, 2 s, 4 s, or the Retry-After
// when it is longer, giving up when that is over 2 minutes), after a
// network error or a 503; it does not retry 500 or 429, and offers no
// option to turn retrying off. Magpie's bus does the retrying, so a
// Sender makes one attempt per Send: after a network error or a 503 it
// cancels the attempt's context, which ends firebase's retry loop before
// a second request, and reports the answer it captured as Retryable.
package fcm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/magpie-im/magpie/push/provider"
)

// Name is the provider's name in a provider.Error.
const Name = "fcm"

// DefaultTimeout is the Options.Timeout used when it is zero.
const DefaultTimeout = 30 * time.Second

// Options tune a Sender. The zero value talks to Google's servers.
type Options struct {
	// Endpoint is FCM's base URL, such as a mock's https://127.0.0.1:port;
	// the Sender posts to Endpoint+"/v1/projects/{project}/messages:send".
	// Empty means https://fcm.googleapis.com. The token endpoint is always
	// the credential's token_uri.
	Endpoint string
	// RootCAs are the certificate authorities trusted for FCM and the
	// token endpoint; nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds one HTTP request (a send or a token fetch) on top of
	// the context's deadline. Zero means DefaultTimeout.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Sender sends notifications through FCM with one credential. It is safe
// for concurrent use. Close it to release its connections.
type Sender struct {
	client    *messaging.Client
	transport *http.Transport
}

var _ provider.Sender = (*Sender)(nil)

// New returns a Sender for c's Firebase project. c must come from
// ParseCredential (New checks it again). New makes no request: the first
// Send fetches an access token. ctx's values (not its cancellation) are
// kept for the token fetches of the Sender's lifetime.
func New(ctx context.Context, c Credential, o Options) (*Sender, error) {
	if _, err := ParseCredential(c.JSON); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	tr := newTransport(o.RootCAs)
	ts, err := tokenSource(ctx, c, newHTTPClient(tr, o.Timeout))
	if err != nil {
		return nil, err
	}
	hc := newHTTPClient(singleAttempt{base: &oauth2.Transport{Source: ts, Base: tr}}, o.Timeout)
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if o.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(o.Endpoint, "/")+"/v1"))
	}
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: c.ProjectID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("new firebase app: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("new messaging client: %w", err)
	}
	return &Sender{client: client, transport: tr}, nil
}

// newTransport returns a transport over TLS trusting roots (the system's
// when nil), HTTP/2 when the server offers it.
func newTransport(roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func newHTTPClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{Transport: rt, Timeout: timeout}
}

// Close closes the Sender's idle connections. A Send after Close opens new
// ones.
func (s *Sender) Close() {
	s.transport.CloseIdleConnections()
}

// Send delivers n to the device t. See provider.Sender and the package
// doc for the errors.
func (s *Sender) Send(ctx context.Context, t provider.Target, n provider.Notification) error {
	if t.Token == "" {
		return &provider.Error{Provider: Name, Reason: "UNREGISTERED", InvalidToken: true, Err: errors.New("empty device token")}
	}
	m, err := message(t, n, time.Now())
	if err != nil {
		return err
	}
	actx, a := withAttempt(ctx)
	defer a.cancel(nil)
	_, err = s.client.Send(actx, m)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return sendError(err, a)
}
