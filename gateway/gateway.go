// Package gateway is Magpie's edge: the signed server REST API under /v1,
// the console's management API under /manage/v1, health endpoints, and (with
// the messaging core) the WebSocket connection node at /v1/connect. It turns
// HTTP into calls on the tenant service, the store and the messaging core,
// and their errors into the stable JSON errors documented in docs/errors.md.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/users"
)

// Config configures a Gateway. The zero value is usable.
type Config struct {
	// MaxBodyBytes caps REST request bodies. Zero means 1 MiB.
	MaxBodyBytes int64
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives request and error logs. Nil discards them.
	Logger *slog.Logger
	// Nonces is the replay cache for signed requests. Nil means an
	// in-process cache (embedded mode).
	Nonces NonceCache
	// LoginTimeout is how long a new WebSocket may take to log in.
	// Zero means 10 * time.Second.
	LoginTimeout time.Duration
	// HeartbeatInterval is announced to clients at login; a connection
	// silent for 2.5 intervals is closed. Zero means 25 * time.Second.
	HeartbeatInterval time.Duration
	// MaxOutboundBytes bounds the encoded frames queued for one connection;
	// a client that reads too slowly to stay under it is closed with 4003
	// (slow consumer) instead of growing the node's memory. Zero means 8 MiB.
	MaxOutboundBytes int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client's address (for per-address limits). Empty trusts
	// none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
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
	// Limiter keeps the rate limits: per app (server API, logins), per
	// user and per client address (logins). Nil means an in-process one
	// on the gateway's clock (embedded mode); cluster mode passes one
	// shared through Redis, so the limits hold across gateways.
	Limiter ratelimit.Limiter
	// Events carries control-plane changes (user blocked or deleted, app
	// changed) to every gateway node. Nil means this node only (embedded
	// mode).
	Events Events
	// Ready lists the dependencies /readyz checks besides the store (the
	// bus and Redis in cluster mode). Empty means the store only.
	Ready []ReadyCheck
	// LoginLimits throttles console password checks per email and per
	// client address. The zero value takes the defaults documented on
	// LoginLimits (5 failures per email, 20 per address, then a lockout
	// from 1 s doubling to 15 min).
	LoginLimits LoginLimits
}

// ReadyCheck is a dependency that /readyz checks: Check returns nil when
// it is reachable.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Gateway serves Magpie's HTTP interfaces. It is safe for concurrent use.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	tenants *tenant.Service
	users   *users.Service
	nonces  NonceCache
	hub     *Hub
	msgs    *messaging.Service
	limiter ratelimit.Limiter // per-app, per-user and per-address limits
	pending *pendingConns     // sockets not logged in, per client address
	logins  *loginThrottle
	events  Events
	engine  *gin.Engine
}

// New returns a Gateway serving st through the tenant service and the
// messaging core; hub must be the Router that msgs fans out through.
func New(st store.Store, tenants *tenant.Service, msgs *messaging.Service, hub *Hub, cfg Config) *Gateway {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
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
	g := &Gateway{cfg: cfg, store: st, tenants: tenants, msgs: msgs, hub: hub, log: cfg.Logger, nonces: cfg.Nonces}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.nonces == nil {
		g.nonces = NewMemoryNonces(2 * signing.Window)
	}
	g.limiter = cfg.Limiter
	if g.limiter == nil {
		g.limiter = ratelimit.NewMemory(g.now)
	}
	g.pending = newPendingConns(cfg.PendingPerAddress)
	g.logins = newLoginThrottle(cfg.LoginLimits)
	g.events = cfg.Events
	if g.events == nil {
		g.events = localEvents{g}
	}
	g.users = users.New(st, users.Config{Now: cfg.Now, Logger: g.log, Events: g.events})
	g.engine = g.routes()
	return g
}

func (g *Gateway) now() time.Time { return g.cfg.Now().UTC().Truncate(time.Millisecond) }

func (g *Gateway) heartbeatTimeout() time.Duration { return g.cfg.HeartbeatInterval * 5 / 2 }

// Shutdown drains every client connection and closes it with a reconnect
// code (see Hub.Shutdown), waiting within ctx's deadline. Call it after the
// HTTP server has stopped accepting (http.Server.Shutdown does not wait for
// hijacked connections) and before stopping the messaging core, whose
// commits the draining connections wait for.
func (g *Gateway) Shutdown(ctx context.Context) error { return g.hub.Shutdown(ctx) }

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.engine.ServeHTTP(w, r) }

// Route is one registered endpoint; Routes lists them for the OpenAPI test.
type Route struct {
	Method string
	Path   string // OpenAPI form: /v1/users/{id}
}

type route struct {
	method  string
	gin     string // gin pattern
	openapi string // OpenAPI path
	chain   []gin.HandlerFunc
}

func (g *Gateway) table() []route {
	// Signature, window and nonce first (the nonce is spent there), then
	// the rate limit: a replay never spends the app's budget, and a request
	// answered 429 cannot be replayed.
	signed := []gin.HandlerFunc{g.readBody, g.signedAPI, g.freshNonce, g.rateLimit}
	create := append(append([]gin.HandlerFunc{}, signed...), g.idempotent)
	manage := []gin.HandlerFunc{g.readBody, g.consoleAuth}
	with := func(base []gin.HandlerFunc, h gin.HandlerFunc) []gin.HandlerFunc {
		return append(append([]gin.HandlerFunc{}, base...), h)
	}
	return []route{
		{"GET", "/healthz", "/healthz", []gin.HandlerFunc{g.healthz}},
		{"GET", "/readyz", "/readyz", []gin.HandlerFunc{g.readyz}},
		{"GET", "/v1/connect", "/v1/connect", []gin.HandlerFunc{func(c *gin.Context) { g.serveConn(c.Writer, c.Request) }}},

		{"POST", "/v1/users", "/v1/users", with(create, g.createUser)},
		{"POST", `/v1/users\:import`, "/v1/users:import", with(signed, g.importUsers)},
		{"GET", "/v1/users", "/v1/users", with(signed, g.listUsers)},
		{"GET", "/v1/users/:id", "/v1/users/{id}", with(signed, g.getUser)},
		{"PATCH", "/v1/users/:id", "/v1/users/{id}", with(signed, g.updateUser)},
		{"DELETE", "/v1/users/:id", "/v1/users/{id}", with(signed, g.deleteUser)},
		{"POST", "/v1/users/:id", "/v1/users/{id}:block", with(signed, g.userAction)},
		{"POST", "/v1/users/:id", "/v1/users/{id}:unblock", nil},
		{"POST", "/v1/users/:id/tokens", "/v1/users/{id}/tokens", with(append(with(signed, g.tokenSubject), g.idempotent), g.issueToken)},
		{"POST", `/v1/users/:id/tokens\:revoke`, "/v1/users/{id}/tokens:revoke", with(signed, g.revokeTokens)},
		{"POST", "/v1/messages", "/v1/messages", with(create, g.sendMessage)},
		{"GET", "/v1/conversations/:conv/messages", "/v1/conversations/{conv}/messages", with(signed, g.listMessages)},
		{"POST", "/v1/conversations/:conv/messages/:seq", "/v1/conversations/{conv}/messages/{seq}:recall", with(signed, g.messageAction)},

		{"POST", "/manage/v1/sessions", "/manage/v1/sessions", []gin.HandlerFunc{g.readBody, g.login}},
		{"DELETE", "/manage/v1/sessions/current", "/manage/v1/sessions/current", with(manage, g.logout)},
		{"GET", "/manage/v1/me", "/manage/v1/me", with(manage, g.me)},
		{"POST", "/manage/v1/me/password", "/manage/v1/me/password", with(manage, g.changePassword)},
		{"GET", "/manage/v1/tenants", "/manage/v1/tenants", with(manage, g.listTenants)},
		{"POST", "/manage/v1/tenants", "/manage/v1/tenants", with(manage, g.createTenant)},
		{"GET", "/manage/v1/tenants/:tenant/members", "/manage/v1/tenants/{tenant}/members", with(manage, g.listMembers)},
		{"POST", "/manage/v1/tenants/:tenant/members", "/manage/v1/tenants/{tenant}/members", with(manage, g.createMember)},
		{"PATCH", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}", with(manage, g.updateMember)},
		{"DELETE", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}", with(manage, g.deleteMember)},
		{"POST", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}:reset-password", with(manage, g.memberAction)},
		{"DELETE", "/manage/v1/tenants/:tenant/members/:member/sessions", "/manage/v1/tenants/{tenant}/members/{member}/sessions", with(manage, g.endMemberSessions)},
		{"GET", "/manage/v1/tenants/:tenant/apps", "/manage/v1/tenants/{tenant}/apps", with(manage, g.listApps)},
		{"POST", "/manage/v1/tenants/:tenant/apps", "/manage/v1/tenants/{tenant}/apps", with(manage, g.createApp)},
		{"GET", "/manage/v1/apps/:app", "/manage/v1/apps/{app}", with(manage, g.getApp)},
		{"PATCH", "/manage/v1/apps/:app", "/manage/v1/apps/{app}", with(manage, g.updateApp)},
		{"GET", "/manage/v1/apps/:app/secrets", "/manage/v1/apps/{app}/secrets", with(manage, g.listSecrets)},
		{"POST", "/manage/v1/apps/:app/secrets", "/manage/v1/apps/{app}/secrets", with(manage, g.rotateSecret)},
		{"DELETE", "/manage/v1/apps/:app/secrets/:secret", "/manage/v1/apps/{app}/secrets/{secret}", with(manage, g.revokeSecret)},
	}
}

// Routes returns every endpoint the gateway serves.
func (g *Gateway) Routes() []Route {
	var out []Route
	for _, r := range g.table() {
		out = append(out, Route{Method: r.method, Path: r.openapi})
	}
	return out
}

func (g *Gateway) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(g.requestIDs, g.accessLog, recoverer)
	for _, r := range g.table() {
		if r.chain != nil {
			e.Handle(r.method, r.gin, r.chain...)
		}
	}
	// Not an API route, so not in the table (and not in the OpenAPI doc).
	e.GET("/console/*path", serveConsole)
	e.NoRoute(func(c *gin.Context) {
		writeError(c, newError(http.StatusNotFound, CodeRouteNotFound, "no such route"))
	})
	e.NoMethod(func(c *gin.Context) {
		writeError(c, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route"))
	})
	return e
}

func (g *Gateway) appStore(c *gin.Context) store.AppStore { return g.store.App(credsOf(c).App.ID) }

func (g *Gateway) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (g *Gateway) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := append([]ReadyCheck{{"store", g.store.Ping}}, g.cfg.Ready...)
	for _, rc := range checks {
		if err := rc.Check(ctx); err != nil {
			logger(c).WarnContext(ctx, "dependency not ready", "dependency", rc.Name, "err", err)
			writeError(c, newError(http.StatusServiceUnavailable, CodeUnavailable, rc.Name+" unreachable"))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
