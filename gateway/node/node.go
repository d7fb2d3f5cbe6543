// Package node is the WebSocket connection node: it serves client
// connections at /v1/connect (login, sends, delivery acks, reads, sync; see
// docs/protocol.md), keeps this node's live sessions in a Hub, which the
// messaging core fans messages and receipts out through, and, in cluster
// mode, joins the Hub to the other nodes through the presence registry and
// relays (see Cluster).
//
// Concurrency: a Server and a Hub are safe for concurrent use. Client
// WebSockets are event-driven (see socket.go): a connection's frames are
// served in order, one at a time, on short-lived goroutines, and an idle
// connection holds none (see conn); the Hub tracks every connection from
// accept to its end, and Hub.Shutdown drains them all.
package node

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/rooms"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook/support"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// LoginTimeout is how long a new WebSocket may take to log in.
	// Zero means 10 * time.Second.
	LoginTimeout time.Duration
	// HeartbeatInterval is announced to clients at login; a connection
	// silent for 2.5 intervals is closed. Zero means 25 * time.Second.
	HeartbeatInterval time.Duration
	// MaxOutboundBytes bounds the encoded frames waiting for one connection,
	// both those queued and those written that its socket has not taken
	// yet; a client that reads too slowly to stay under it is closed with
	// 4003 (slow consumer) instead of growing the node's memory. Zero means
	// 8 MiB.
	MaxOutboundBytes int
	// UnlimitedAddresses are client addresses exempt from the per-address
	// limits (LoginsPerAddress, PendingPerAddress), such as a load
	// generator's. Empty exempts none. A reverse proxy in front of the
	// gateway belongs in TrustedProxies instead: otherwise all its clients
	// share its address, and its limits.
	UnlimitedAddresses []netip.Prefix
	// LoginsPerAddress is how many WebSocket logins per second one client
	// address may attempt (burst twice that), valid or not. Zero means 50.
	LoginsPerAddress float64
	// LoginsPerUser is how many logins per second one user of an app may
	// make, with a burst of ten times that (at least 10), or twice the
	// app's max_devices_per_user if more. Zero means 1.
	LoginsPerUser float64
	// PendingPerAddress caps the WebSockets of one client address that are
	// open but not logged in; beyond it the upgrade is answered 429. Zero
	// means 64.
	PendingPerAddress int
	// Readers bounds the goroutines that read sockets and run their
	// frames' handlers at once (more start while all of them are blocked
	// in handlers; see socket.go). Zero means 4 * GOMAXPROCS, enough when
	// handlers spend CPU, not wait (embedded mode: SQLite); a gateway
	// whose handlers wait on the network (cluster mode) sets more.
	Readers int

	// The fields below are shared with the rest of the gateway, which sets
	// them from gateway.Config.

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives connection logs. Nil discards them.
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client's address. Empty trusts none.
	TrustedProxies []netip.Prefix
	// Limiter keeps the login rate limits (per app, per user, per client
	// address). Nil means an in-process one on Now.
	Limiter ratelimit.Limiter
	// Metrics records logins, frames and rate-limited logins and sends.
	// Nil records nothing.
	Metrics *telemetry.Metrics
	// Push serves the push frames (device registration, push settings,
	// conversation mutes). Nil answers them with "unavailable".
	Push *push.Service
	// Groups serves the group frames. Nil answers them with
	// "unavailable".
	Groups *groups.Service
	// Support serves the customer-service frames. Nil answers them with
	// "unavailable".
	Support *support.Service
	// Contacts serves the contact frames (friends, friend requests,
	// blocks). Nil answers them with "unavailable".
	Contacts *contacts.Service
	// Rooms serves the chat room frames; the hub becomes its Router's
	// node side. Nil answers them with "unavailable".
	Rooms *rooms.Service
	// RoomCountInterval is how often, at most, a room's member count is
	// pushed to its members on this node while it changes. Zero means
	// 1 * time.Second.
	RoomCountInterval time.Duration
	// Files serves the file frames (download URLs, deletion). Nil answers
	// them with "unavailable".
	Files *files.Service
	// MaxPresenceWatches bounds the users one connection watches the
	// presence of (SubscribePresence), and the user ids of one request.
	// Zero means 1000.
	MaxPresenceWatches int
}

// Server serves client WebSockets; ServeHTTP upgrades a request to one.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	tenants *tenant.Service
	msgs    *messaging.Service
	hub     *Hub
	limiter ratelimit.Limiter
	pending *pendingConns // sockets not logged in, per client address
	metrics *telemetry.Metrics
	ws      *wsEngine // the event loop under the client WebSockets
}

// New returns a Server whose connections log in against tenants and st and
// send through msgs; hub must be the Router that msgs fans out through.
func New(st store.Store, tenants *tenant.Service, msgs *messaging.Service, hub *Hub, cfg Config) *Server {
	if cfg.LoginTimeout == 0 {
		cfg.LoginTimeout = 10 * time.Second
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 25 * time.Second
	}
	if cfg.MaxOutboundBytes == 0 {
		cfg.MaxOutboundBytes = 8 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginsPerAddress == 0 {
		cfg.LoginsPerAddress = 50
	}
	if cfg.LoginsPerUser == 0 {
		cfg.LoginsPerUser = 1
	}
	if cfg.PendingPerAddress == 0 {
		cfg.PendingPerAddress = 64
	}
	if cfg.MaxPresenceWatches == 0 {
		cfg.MaxPresenceWatches = defaultPresenceWatches
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, store: st, tenants: tenants, msgs: msgs, hub: hub, limiter: cfg.Limiter,
		pending: newPendingConns(cfg.PendingPerAddress), metrics: cfg.Metrics, ws: newWSEngine(cfg.MaxOutboundBytes, cfg.Readers, log)}
	if s.limiter == nil {
		s.limiter = ratelimit.NewMemory(s.now)
	}
	if cfg.Rooms != nil {
		hub.SetRooms(cfg.Rooms, cfg.RoomCountInterval)
	}
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

func (s *Server) heartbeatTimeout() time.Duration { return s.cfg.HeartbeatInterval * 5 / 2 }

// ServeHTTP upgrades the request to a client connection, served until it
// closes (by the event loop: ServeHTTP returns once the connection is
// accepted).
//
// The upgrade, and the login when the request carries one, run on one of
// the socket readers, whose stacks have grown to what a login takes; on
// the request's own goroutine, which starts small and ends after it, the
// stack grew and was copied at every login, several times: 5% of the
// server's CPU in a run of logins by Login frames, 8 to 12% with logins by
// headers (docs/benchmarks.md, "Logins by headers").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	done := make(chan struct{})
	s.ws.readers.run(func(*[]byte) {
		defer close(done)
		s.serveConn(w, r)
	})
	<-done
}

// Close stops the event loop under the client WebSockets, closing those
// still open, and refuses new ones. Call it after Hub.Shutdown has drained
// them.
func (s *Server) Close() { s.ws.stop() }

// allow spends one token of key's bucket, failing open (and logging) when
// the limiter cannot be reached.
func (s *Server) allow(ctx context.Context, key string, perSec float64, burst int) bool {
	d, err := s.limiter.Allow(ctx, key, perSec, burst)
	if err != nil {
		s.log.WarnContext(ctx, "rate limiter unavailable; allowed", "err", err)
		return true
	}
	return d.OK
}

func (s *Server) clientAddr(r *http.Request) string { return httpx.ClientAddr(r, s.cfg.TrustedProxies) }
