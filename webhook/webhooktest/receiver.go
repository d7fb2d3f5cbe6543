// Package webhooktest is a webhook receiver on a loopback port for tests
// and probes: it records every request Magpie sends, checks its signature
// with the server SDK's verifier, and answers what the test tells it to
// (a status, a body, a delay, or a hold until released).
package webhooktest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
)

// Request is one request the receiver got.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
	// ID is the webhook-id header.
	ID string
	// Verified is nil when the signature verified with the receiver's
	// secrets, else why not.
	Verified error
	At       time.Time
}

// Response is what the receiver answers.
type Response struct {
	// Status is the HTTP status; zero means 200.
	Status int
	Body   []byte
	Header http.Header
	// Delay, if set, waits before answering (bounded by the request's
	// context).
	Delay time.Duration
	// Hold, if set, waits until it is closed before answering.
	Hold <-chan struct{}
}

// Receiver is a webhook receiver. It is safe for concurrent use.
type Receiver struct {
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex // guards the following fields
	verifier *sdk.Verifier
	byPath   map[string]*sdk.Verifier
	respond  func(Request) Response
	reqs     []Request
	changed  chan struct{} // closed and replaced on every request
}

// Start starts a receiver on 127.0.0.1:0; Close stops it.
func Start() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{ln: ln, changed: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the receiver's base URL; any path under it is accepted.
func (r *Receiver) URL() string { return "http://" + r.ln.Addr().String() }

// Close stops the receiver, releasing held requests' connections.
func (r *Receiver) Close() error { return r.srv.Close() }

// SetSecrets sets the secrets signatures are verified with.
func (r *Receiver) SetSecrets(secrets ...string) error {
	v, err := sdk.NewVerifier(secrets...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()
	return nil
}

// SetSecretsFor sets the secrets the signatures of requests to path are
// verified with, in place of those of SetSecrets.
func (r *Receiver) SetSecretsFor(path string, secrets ...string) error {
	v, err := sdk.NewVerifier(secrets...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.byPath == nil {
		r.byPath = make(map[string]*sdk.Verifier)
	}
	r.byPath[path] = v
	r.mu.Unlock()
	return nil
}

// Respond sets how the receiver answers; nil answers 200 with no body.
func (r *Receiver) Respond(fn func(Request) Response) {
	r.mu.Lock()
	r.respond = fn
	r.mu.Unlock()
}

// Requests returns the requests received so far, in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// errNoSecret is Verified when no secret was set.
var errNoSecret = errors.New("webhooktest: no secret set")

// ServeHTTP records and answers a request.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	rec := Request{Path: req.URL.Path, Header: req.Header.Clone(), Body: body, ID: req.Header.Get("webhook-id"), At: time.Now()}
	r.mu.Lock()
	rec.Verified = errNoSecret
	v := r.verifier
	if pv := r.byPath[rec.Path]; pv != nil {
		v = pv
	}
	if v != nil {
		rec.Verified = v.Verify(req.Header, body)
	}
	respond := r.respond
	r.mu.Unlock()
	resp := Response{}
	if respond != nil {
		resp = respond(rec)
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if resp.Hold != nil {
		select {
		case <-resp.Hold:
		case <-req.Context().Done():
			return
		}
	}
	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	if len(resp.Body) > 0 && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// Wait returns the requests once cond holds for them, or ctx's error.
func (r *Receiver) Wait(ctx context.Context, cond func([]Request) bool) ([]Request, error) {
	for {
		r.mu.Lock()
		reqs := append([]Request(nil), r.reqs...)
		ch := r.changed
		r.mu.Unlock()
		if cond(reqs) {
			return reqs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return reqs, ctx.Err()
		}
	}
}
