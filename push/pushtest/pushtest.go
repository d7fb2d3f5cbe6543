// Package pushtest runs mock push providers for tests: an APNs server
// (HTTP/2 over TLS, provider-token authentication) and an FCM HTTP v1
// server with its OAuth2 token endpoint. Both listen on 127.0.0.1, record
// every request they receive, verify its credentials, answer from a script
// of responses per device token, and close when the test ends.
//
// Mocks are safe for concurrent use.
package pushtest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Response is a scripted answer of a mock to one request for a device
// token.
type Response struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Reason is the provider's error reason: APNs's "reason"
	// ("BadDeviceToken") or FCM's errorCode ("UNREGISTERED"). Empty means
	// the usual one for Status.
	Reason string
	// RetryAfter is the Retry-After header to send, if not empty.
	RetryAfter string
	// Hold, if not nil, holds the answer until it is closed or the client
	// goes away: a request in flight, for a test that kills its sender
	// meanwhile. The request is recorded before the hold.
	Hold chan struct{}
}

// hold waits for res.Hold, if any, or for the request's end.
func (res Response) hold(r *http.Request) {
	if res.Hold == nil {
		return
	}
	select {
	case <-res.Hold:
	case <-r.Context().Done():
	}
}

// recorder keeps the requests a mock received and lets tests wait for
// them.
type recorder[T any] struct {
	mu      sync.Mutex    // guards the following fields
	items   []T           // in order of arrival
	changed chan struct{} // closed and replaced when items grows
}

func newRecorder[T any]() *recorder[T] {
	return &recorder[T]{changed: make(chan struct{})}
}

// add records v and wakes the waiters.
func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
	close(r.changed)
	r.changed = make(chan struct{})
}

// all returns a copy of the recorded items.
func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.items...)
}

// wait blocks until at least n items have been recorded, then returns
// them, or returns ctx's error.
func (r *recorder[T]) wait(ctx context.Context, n int) ([]T, error) {
	for {
		r.mu.Lock()
		if len(r.items) >= n {
			items := append([]T(nil), r.items...)
			r.mu.Unlock()
			return items, nil
		}
		ch := r.changed
		got := len(r.items)
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d requests, have %d: %w", n, got, ctx.Err())
		}
	}
}

// script holds the queued responses of each device token.
type script struct {
	mu sync.Mutex // guards queued
	// queued are the responses still to give, per device token.
	queued map[string][]Response
}

func newScript() *script {
	return &script{queued: make(map[string][]Response)}
}

// push queues rs for token.
func (s *script) push(token string, rs []Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[token] = append(s.queued[token], rs...)
}

// pop returns the next response queued for token, if any.
func (s *script) pop(token string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queued[token]
	if len(q) == 0 {
		return Response{}, false
	}
	s.queued[token] = q[1:]
	return q[0], true
}

// httptestServer is an HTTPS test server with a pool trusting it.
type httptestServer struct {
	*httptest.Server
	roots *x509.CertPool
}

// startServer starts h on an HTTPS server on 127.0.0.1 (HTTP/2 if http2),
// closed when tb ends.
func startServer(tb testing.TB, h http.Handler, http2 bool) *httptestServer {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &httptestServer{Server: srv, roots: pool}
}

// randomID returns n random characters of alphabet.
func randomID(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// certPEM returns the server's certificate in PEM, for a process that
// trusts the mock through a CA file.
func (s *httptestServer) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}
