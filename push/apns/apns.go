// Package apns sends push notifications through Apple's Push Notification
// service (APNs) with token (.p8) authentication, on top of
// github.com/sideshow/apns2. It implements provider.Sender.
//
// A Sender keeps its HTTP/2 connections to APNs open between Sends, as
// Apple asks, and is safe for concurrent use. It makes one attempt per
// Send: apns2 does not retry, and neither does this package; the caller
// (the push worker's bus) retries what provider.Error says is Retryable.
//
// The app's Notification.Data keys go at the top level of the APNs payload,
// beside "aps", where the app reads them from userInfo; a key named "aps"
// is refused.
package apns

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/payload"

	"github.com/magpie-im/magpie/push/provider"
)

// Name is the provider's name in a provider.Error.
const Name = "apns"

// MaxPayloadBytes is the largest payload APNs accepts for a notification.
const MaxPayloadBytes = 4096

// DefaultTimeout is the Options.Timeout used when it is zero.
const DefaultTimeout = 30 * time.Second

// Environments of provider.Target.
const (
	EnvSandbox    = "sandbox"
	EnvProduction = "production"
)

// Options tune a Sender. The zero value talks to Apple's servers.
type Options struct {
	// Host is the APNs base URL, such as a mock's https://127.0.0.1:port.
	// Empty means Apple's: apns2.HostDevelopment for a Target whose
	// Environment is "sandbox", apns2.HostProduction otherwise.
	Host string
	// RootCAs are the certificate authorities trusted for the APNs server;
	// nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds one Send, connection included, on top of the
	// context's deadline. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Sender sends notifications through APNs with one credential. It is safe
// for concurrent use. Close it to release its connections.
type Sender struct {
	topic     string
	transport *http.Transport
	// production and sandbox serve Targets of each environment; they are
	// one client when Options.Host is set. They share transport.
	production, sandbox *apns2.Client
}

var _ provider.Sender = (*Sender)(nil)

// New returns a Sender that signs with c's key. c must come from
// ParseCredential (New checks it again). New makes no connection.
func New(c Credential, o Options) (*Sender, error) {
	if _, err := ParseCredential(c.Key, c.KeyID, c.TeamID, c.Topic); err != nil {
		return nil, err
	}
	tok, err := newToken(c)
	if err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	tr := newTransport(o.RootCAs)
	hc := &http.Client{Transport: retryAfterTransport{base: tr}, Timeout: o.Timeout}
	newClient := func(host string) *apns2.Client {
		cl := apns2.NewTokenClient(tok) // one token, shared: it locks itself
		cl.Host = host
		cl.HTTPClient = hc
		return cl
	}
	s := &Sender{topic: c.Topic, transport: tr}
	if o.Host != "" {
		s.production = newClient(o.Host)
		s.sandbox = s.production
	} else {
		s.production = newClient(apns2.HostProduction)
		s.sandbox = newClient(apns2.HostDevelopment)
	}
	return s, nil
}

// newTransport returns an HTTP/2-only transport over TLS trusting roots
// (the system's when nil). It pings idle connections, as apns2's own does.
func newTransport(roots *x509.CertPool) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP2(true)
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		Protocols:           &protos,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 15 * time.Second},
	}
}

// Close closes the Sender's idle connections. A Send after Close opens new
// ones.
func (s *Sender) Close() {
	s.transport.CloseIdleConnections()
}

// client returns the apns2 client of the environment of t.
func (s *Sender) client(t provider.Target) *apns2.Client {
	if t.Environment == EnvSandbox {
		return s.sandbox
	}
	return s.production
}

// Send delivers n to the device t. See provider.Sender.
func (s *Sender) Send(ctx context.Context, t provider.Target, n provider.Notification) error {
	if t.Token == "" {
		return &provider.Error{Provider: Name, Reason: apns2.ReasonMissingDeviceToken, InvalidToken: true}
	}
	note, err := s.notification(t, n)
	if err != nil {
		return err
	}
	ctx, ra := withRetryAfter(ctx)
	res, err := s.client(t).PushWithContext(ctx, note)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &provider.Error{Provider: Name, Reason: "network error", Retryable: true, Err: err}
	}
	return responseError(res, ra.get())
}

// notification builds the apns2 notification of n to t.
func (s *Sender) notification(t provider.Target, n provider.Notification) (*apns2.Notification, error) {
	body, err := buildPayload(n)
	if err != nil {
		return nil, err
	}
	topic := t.Topic
	if topic == "" {
		topic = s.topic
	}
	note := &apns2.Notification{
		ApnsID:      apnsID(n.ID),
		CollapseID:  n.CollapseID,
		DeviceToken: t.Token,
		Topic:       topic,
		Expiration:  n.Expiration,
		Payload:     body,
		PushType:    apns2.PushTypeAlert,
		Priority:    apns2.PriorityHigh,
	}
	if n.Silent {
		note.PushType = apns2.PushTypeBackground
		note.Priority = apns2.PriorityLow // APNs refuses 10 for background
	} else if n.Priority == provider.PriorityNormal {
		note.Priority = apns2.PriorityLow
	}
	return note, nil
}

// buildPayload returns the JSON payload of n, refusing one larger than
// MaxPayloadBytes or with a Data key "aps".
func buildPayload(n provider.Notification) ([]byte, error) {
	p := payload.NewPayload()
	if n.Silent {
		p.ContentAvailable()
	} else {
		p.AlertTitle(n.Title).AlertBody(n.Body)
		sound := n.Sound
		if sound == "" {
			sound = "default"
		}
		p.Sound(sound)
		if n.Badge != nil {
			p.Badge(*n.Badge)
		}
	}
	if n.MutableContent {
		p.MutableContent()
	}
	if n.ThreadID != "" {
		p.ThreadID(n.ThreadID)
	}
	for k, v := range n.Data {
		if k == "aps" {
			return nil, &provider.Error{Provider: Name, Reason: "InvalidData", Err: errors.New(`data key "aps" is reserved by APNs`)}
		}
		p.Custom(k, v)
	}
	if n.Silent && n.Badge != nil {
		// A background notification may not carry aps.badge: the app
		// reads the count from its data and sets the badge itself.
		if _, set := n.Data["badge"]; !set {
			p.Custom("badge", strconv.Itoa(*n.Badge))
		}
	}
	b, err := p.MarshalJSON()
	if err != nil {
		return nil, &provider.Error{Provider: Name, Reason: "InvalidData", Err: fmt.Errorf("encode payload: %w", err)}
	}
	if len(b) > MaxPayloadBytes {
		return nil, &provider.Error{
			Provider: Name, Reason: apns2.ReasonPayloadTooLarge,
			Err: fmt.Errorf("payload is %d bytes, more than %d", len(b), MaxPayloadBytes),
		}
	}
	return b, nil
}

// apnsID derives the apns-id of a notification from its id: the first 16
// bytes of SHA-256(id) as a version-4, RFC 4122 variant UUID, so every
// attempt of one notification carries the same apns-id. An empty id
// leaves it to APNs.
func apnsID(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
