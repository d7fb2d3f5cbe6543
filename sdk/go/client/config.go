package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/sdk/go/wire"
)

// Version is the SDK version sent at login, as "magpie-go/" + Version.
const Version = "0.1.0"

// Encoding selects how frames travel on the WebSocket.
type Encoding int

// Encodings.
const (
	// EncodingProto sends binary protobuf frames (subprotocol
	// magpie.v1.proto). It is the default.
	EncodingProto Encoding = iota
	// EncodingJSON sends protobuf JSON frames in text messages (subprotocol
	// magpie.v1.json), which are easier to read in a proxy's logs.
	EncodingJSON
)

// codec returns the wire codec of the encoding.
func (e Encoding) codec() wire.Codec {
	if e == EncodingJSON {
		return wire.JSONCodec{}
	}
	return wire.ProtoCodec{}
}

// Config configures a Client. URL, TokenProvider and DeviceID are required;
// every other field has a default, used when the field is zero.
type Config struct {
	// URL is the server's base URL, such as "https://im.example.com" or
	// "wss://im.example.com"; http and https are turned into ws and wss. The
	// client connects to <URL>/v1/connect. Required.
	URL string

	// TokenProvider returns a client token for the user, normally fetched
	// from the app's backend (which gets it from the server API). It is
	// called before every connection attempt, so a token rejected as expired
	// (close code 4101), or a session closed because its credentials ended
	// (4006, reauthenticate), gets a fresh token from the next call. An error is retried
	// with backoff and reported as a Disconnected event. Required.
	TokenProvider func(ctx context.Context) (string, error)

	// DeviceID identifies this installation of the app: 1 to 128 bytes,
	// stable across restarts. The server keeps delivery cursors per device,
	// and a new connection of a device replaces its previous one. Required.
	DeviceID string

	// Platform names the device's platform at login: "ios", "android",
	// "web", "macos", "windows", "linux" or "server". Empty means "linux",
	// "macos" or "windows" after runtime.GOOS, otherwise "server".
	Platform string

	// Encoding is the frame encoding. Zero means EncodingProto.
	Encoding Encoding

	// BackoffMin is the first reconnect and retry delay bound; each attempt
	// doubles it up to BackoffMax, and the actual delay is drawn uniformly
	// from [0, bound] (full jitter). The reconnect delays start over after a
	// session that lasted 10 seconds. Zero means 250 * time.Millisecond.
	BackoffMin time.Duration
	// BackoffMax caps the delay bound. Zero means 30 * time.Second.
	BackoffMax time.Duration

	// SendDeadline is how long a send is retried, counting from the call
	// that queued it, before it fails with ErrSendTimeout. Zero means
	// 2 * time.Minute.
	SendDeadline time.Duration

	// SendWindow is how many messages to one recipient may be in flight
	// (sent, not yet acknowledged) at once. The client pipelines them on
	// the connection, in the order the app queued them, so a burst to one
	// recipient is not paced by the round trip; the server gives them seqs
	// in that order. 1 sends one message at a time, each once the previous
	// one is acknowledged: only needed for strict order against servers
	// that answer a send with a retryable error (rate_limited) and go on
	// reading, which older servers did. Zero means 32.
	SendWindow int

	// RequestTimeout is how long the client waits for the reply to one
	// request (a sync page, a heartbeat) before it sends the request again
	// or, for a heartbeat, drops the connection. For sends it is how long
	// the connection may go without answering any send while one is in
	// flight before the client reconnects and sends again everything not
	// acknowledged. It also bounds the dial and the login. Zero means
	// 10 * time.Second.
	RequestTimeout time.Duration

	// AckDelay is how long the client gathers delivery cursors before it
	// reports them to the server in one DeliverAck; 64 pending cursors
	// are sent at once. Zero means 50 * time.Millisecond.
	AckDelay time.Duration

	// AckInterval is the least time between the starts of two
	// DeliverAcks: a device that receives a steady stream (a busy group)
	// reports its cursors about four times a second, not after every
	// AckDelay, while one that receives a message now and then still
	// reports it after AckDelay. Zero means 250 * time.Millisecond.
	AckInterval time.Duration

	// EventBuffer bounds the events waiting for Next. When it is full, new
	// messages are left on the server and fetched again once the app has
	// caught up (nothing is lost), and other events beyond twice the bound
	// are dropped and counted in Stats. Zero means 4096.
	EventBuffer int

	// Store keeps the per-conversation cursors: the last message handed to
	// the app. Nil means an in-memory store, so a new Client starts from
	// the beginning of every conversation.
	Store Store

	// Logger receives the client's logs. Nil discards them.
	Logger *slog.Logger

	// HTTPClient makes the WebSocket handshake, for proxies or custom TLS.
	// Nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Default returns c with every zero optional field set to its default.
func (c Config) Default() Config {
	if c.Platform == "" {
		c.Platform = defaultPlatform()
	}
	c.BackoffMin = orDefault(c.BackoffMin, 250*time.Millisecond)
	c.BackoffMax = orDefault(c.BackoffMax, 30*time.Second)
	c.SendDeadline = orDefault(c.SendDeadline, 2*time.Minute)
	c.SendWindow = orDefault(c.SendWindow, 32)
	c.RequestTimeout = orDefault(c.RequestTimeout, 10*time.Second)
	c.AckDelay = orDefault(c.AckDelay, 50*time.Millisecond)
	c.AckInterval = orDefault(c.AckInterval, 250*time.Millisecond)
	c.EventBuffer = orDefault(c.EventBuffer, 4096)
	if c.Store == nil {
		c.Store = NewMemoryStore()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	return c
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if _, err := connectURL(c.URL); err != nil {
		return err
	}
	switch {
	case c.TokenProvider == nil:
		return errors.New("magpie: config: TokenProvider is required")
	case c.DeviceID == "" || len(c.DeviceID) > 128 || !utf8.ValidString(c.DeviceID):
		return errors.New("magpie: config: DeviceID must be 1-128 bytes of UTF-8")
	case c.Encoding != EncodingProto && c.Encoding != EncodingJSON:
		return fmt.Errorf("magpie: config: unknown Encoding %d", c.Encoding)
	case c.BackoffMin < 0 || c.BackoffMax < 0 || c.SendDeadline < 0 || c.RequestTimeout < 0 || c.AckDelay < 0 || c.AckInterval < 0:
		return errors.New("magpie: config: durations must not be negative")
	case c.BackoffMax > 0 && c.BackoffMin > c.BackoffMax:
		return errors.New("magpie: config: BackoffMin exceeds BackoffMax")
	case c.EventBuffer < 0:
		return errors.New("magpie: config: EventBuffer must not be negative")
	case c.SendWindow < 0:
		return errors.New("magpie: config: SendWindow must not be negative")
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func defaultPlatform() string {
	switch runtime.GOOS {
	case "linux", "windows":
		return runtime.GOOS
	case "darwin":
		return "macos"
	}
	return "server"
}

// connectURL returns the WebSocket URL of the connect endpoint under base.
func connectURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("magpie: config: URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("magpie: config: URL %q: scheme must be http, https, ws or wss", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("magpie: config: URL %q: no host", base)
	}
	if !strings.HasSuffix(u.Path, "/v1/connect") {
		u.Path = strings.TrimRight(u.Path, "/") + "/v1/connect"
	}
	u.RawPath = ""
	return u.String(), nil
}
