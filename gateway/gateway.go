// Package gateway assembles the HTTP handler of a gateway node from its
// parts: the signed server REST API under /v1 (package api, with the users
// service), the console's management API under /manage/v1 (package
// manage), the WebSocket connection node at /v1/connect (package node), the
// client file routes (package filehttp: uploads with a client token,
// downloads through signed URLs; with the files service) and the health
// endpoints. It owns the routes table, the middleware every
// request passes (request ids, access log, panic recovery), and the Events
// seam that carries control-plane changes (a user blocked or deleted, an
// app changed) to every node. Errors clients see are the stable JSON errors
// documented in docs/errors.md.
//
// The processes that serve it are assembled in internal/embedded (`magpie
// dev`) and internal/cluster (`magpie gateway`).
package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/gateway/api"
	"github.com/magpie-im/magpie/gateway/filehttp"
	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/gateway/manage"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/rooms"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/users"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
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
	Nonces api.NonceCache
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client's address (for per-address limits). Empty trusts
	// none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
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
	Ready []telemetry.Check
	// LoginLimits throttles console password checks per email and per
	// client address. The zero value takes the defaults documented on
	// manage.LoginLimits (5 failures per email, 20 per address, then a
	// lockout from 1 s doubling to 15 min).
	LoginLimits manage.LoginLimits
	// Metrics records HTTP requests, logins, frames and rate-limited
	// requests. Nil records nothing.
	Metrics *telemetry.Metrics
	// Push is the push service: device registrations, push settings and
	// mutes (server API and client frames), credentials (management API),
	// the push log and outbox (server API). Nil serves none of them.
	Push *push.Service
	// Webhooks is the webhook service: apps' endpoints, their delivery log
	// and replays, keyword rules (management API). Nil serves none of them.
	Webhooks *webhook.Service
	// Usage collects the apps' usage (server API calls, connections);
	// it is also the messaging core's counter, set by the caller. Nil
	// counts nothing.
	Usage *tenant.Usage
	// Support is the customer-service routing: agents and support sessions
	// (server API). Nil serves none of them.
	Support *support.Service
	// Caches hold per-app state derived from the app's configuration (the
	// post-event emitter's subscriptions, the moderation policies); each is
	// told to Forget an app when it changed, on every node.
	Caches []Forgetter
	// RoomState holds the chat rooms' live state (members per node, seqs,
	// recent history), shared by every gateway node. Nil means an
	// in-process one (embedded mode); cluster mode passes the Redis
	// presence registry.
	RoomState rooms.State
	// Rooms tunes the chat rooms (fan-out queue bound, dedup window,
	// cache TTL); its NodeID, Now and Logger are set by the gateway.
	Rooms rooms.Config
	// Node tunes the WebSocket connection node (login timeout, heartbeat,
	// outbound queue, per-address and per-user login limits); its fields
	// shared with the rest of the gateway (Now, Logger, TrustedProxies,
	// Limiter, Metrics) are set from this Config.
	Node node.Config
	// Blobs stores the contents of uploaded files (docs/files.md): a
	// directory of the data directory in embedded mode, a volume every
	// gateway shares in cluster mode. Nil serves no files: the file routes
	// answer 503 files_unavailable and the file frames "unavailable".
	Blobs blob.Store
	// UploadsPerUser is how many files per second one user may upload
	// over HTTP, with a burst of ten times that (at least 10). Zero means
	// 2.
	UploadsPerUser float64
	// PublicURL is the base URL clients reach the gateway at, such as
	// https://im.example.com; signed file URLs are absolute under it.
	// Empty makes them relative to the API's base URL.
	PublicURL string
}

// Forgetter drops what it holds of an app.
type Forgetter interface{ Forget(appID string) }

// Gateway serves Magpie's HTTP interfaces. It is safe for concurrent use.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	tenants *tenant.Service
	hub     *node.Hub
	msgs    *messaging.Service
	events  Events
	// contacts is the contacts service, the messaging core's ContactGate.
	contacts *contacts.Service
	api      *api.Server
	files    *filehttp.Server
	manage   *manage.Server
	node     *node.Server
	engine   *gin.Engine
}

// New returns a Gateway serving st through the tenant service, the users
// service (which it creates) and the messaging core; hub must be the Router
// that msgs fans out through.
func New(st store.Store, tenants *tenant.Service, msgs *messaging.Service, hub *node.Hub, cfg Config) *Gateway {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, store: st, tenants: tenants, msgs: msgs, hub: hub, log: cfg.Logger, events: cfg.Events}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.events == nil {
		g.events = localEvents{g}
	}
	limiter := cfg.Limiter
	if limiter == nil {
		limiter = ratelimit.NewMemory(g.now)
	}
	var fs *files.Service
	var fileEraser users.Files
	if cfg.Blobs != nil {
		fs = files.New(st, cfg.Blobs, msgs, files.Config{MAC: tenants.MAC, Apps: tenants, PublicURL: cfg.PublicURL,
			Now: cfg.Now, Logger: g.log})
		fileEraser = fs
	}
	us := users.New(st, users.Config{Now: cfg.Now, Logger: g.log, Events: g.events, Files: fileEraser})
	gs := groups.New(st, msgs, groups.Config{Now: cfg.Now, Logger: g.log, Events: g.events,
		MaxGroupSize: func(ctx context.Context, appID string) (int, error) {
			app, err := tenants.GetApp(ctx, appID)
			if err != nil {
				return 0, err
			}
			return tenants.EffectiveLimits(app).MaxGroupSize, nil
		}})
	g.contacts = contacts.New(st, msgs, contacts.Config{Now: cfg.Now, Logger: g.log, Events: g.events,
		Settings: func(ctx context.Context, appID string) (store.Settings, error) {
			app, err := tenants.GetApp(ctx, appID)
			return app.Settings, err
		}})
	msgs.SetContactGate(g.contacts)
	hub.PublishPresence(presencePublisher{g})
	var apiUsage api.UsageCounter
	if cfg.Usage != nil {
		apiUsage = cfg.Usage
		hub.CountUsage(cfg.Usage)
	}
	state := cfg.RoomState
	if state == nil {
		mem := presence.NewMemory(cfg.Now)
		// The embedded node is the whole installation: it never expires.
		_, _ = mem.Refresh(context.Background(), hub.NodeID(), 100*365*24*time.Hour) // a valid id: cannot fail
		state = mem
	}
	rcfg := cfg.Rooms
	rcfg.NodeID, rcfg.Now, rcfg.Logger, rcfg.Metrics = hub.NodeID(), cfg.Now, g.log, cfg.Metrics
	rs := rooms.New(st, state, hub, rcfg)
	g.api = api.New(st, tenants, us, msgs, api.Config{Usage: apiUsage,
		MaxBodyBytes: cfg.MaxBodyBytes, Now: cfg.Now, Logger: g.log, Nonces: cfg.Nonces, Limiter: limiter,
		Metrics: cfg.Metrics, Push: cfg.Push, Support: cfg.Support, Groups: gs, Contacts: g.contacts, Rooms: rs, Files: fs,
	})
	g.files = filehttp.New(st, tenants, filehttp.Config{Files: fs, UploadsPerUser: cfg.UploadsPerUser, Limiter: limiter, Metrics: cfg.Metrics, Now: cfg.Now, Logger: g.log})
	g.manage = manage.New(st, tenants, manage.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, Now: cfg.Now, Logger: g.log, TrustedProxies: cfg.TrustedProxies,
		LoginLimits: cfg.LoginLimits, Events: g.events, Metrics: cfg.Metrics, Push: cfg.Push, Webhooks: cfg.Webhooks,
		Users: us, Messages: msgs, Support: cfg.Support, Rooms: rs, Presence: hub,
	})
	ncfg := cfg.Node
	ncfg.Now, ncfg.Logger, ncfg.TrustedProxies, ncfg.Limiter = cfg.Now, g.log, cfg.TrustedProxies, limiter
	ncfg.Metrics, ncfg.Push, ncfg.Groups, ncfg.Support = cfg.Metrics, cfg.Push, gs, cfg.Support
	ncfg.Contacts, ncfg.Rooms, ncfg.Files = g.contacts, rs, fs
	g.node = node.New(st, tenants, msgs, hub, ncfg)
	g.engine = g.routes()
	return g
}

func (g *Gateway) now() time.Time { return g.cfg.Now().UTC().Truncate(time.Millisecond) }

// Shutdown drains every client connection and closes it with a reconnect
// code (see node.Hub.Shutdown), waiting within ctx's deadline. Call it after
// the HTTP server has stopped accepting (http.Server.Shutdown does not wait
// for hijacked connections) and before stopping the messaging core, whose
// commits the draining connections wait for.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.hub.Shutdown(ctx)
	g.node.Close()
	return err
}

// Front returns the listener to serve g on: connections that open with an
// upgrade to a client WebSocket are accepted and served on the WebSocket
// event loop without net/http (on Linux; see node.Server.Front), the others
// come out of the listener. Serve the returned listener with an
// http.Server whose Handler is g.
func (g *Gateway) Front(ln net.Listener) net.Listener {
	return g.node.Front(ln, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.Direct(g.log, g.cfg.Metrics, connectPath, h, w, r)
		})
	})
}

// connectPath is the client WebSocket's route.
const connectPath = "/v1/connect"

// ServeHTTP implements http.Handler. An upgrade to a client WebSocket
// skips the router (httpx.Direct) unless tracing is on, when the router's
// Tracing middleware records its span.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == connectPath && !telemetry.TracingOn() {
		httpx.Direct(g.log, g.cfg.Metrics, connectPath, g.node, w, r)
		return
	}
	g.engine.ServeHTTP(w, r)
}

// Route is one registered endpoint; Routes lists them for the OpenAPI test.
type Route struct {
	Method string
	Path   string // OpenAPI form: /v1/users/{id}
}

// table is the routes table: every endpoint, in the order of the API
// reference.
func (g *Gateway) table() []httpx.Route {
	r := httpx.NewRoute
	out := []httpx.Route{
		r("GET", "/healthz", "/healthz", []gin.HandlerFunc{g.healthz}),
		r("GET", "/readyz", "/readyz", []gin.HandlerFunc{g.readyz}),
		r("GET", connectPath, connectPath, []gin.HandlerFunc{gin.WrapH(g.node)}),
	}
	out = append(out, g.api.Routes()...)
	out = append(out, g.files.Routes()...)
	return append(out, g.manage.Routes()...)
}

// Routes returns every endpoint the gateway serves.
func (g *Gateway) Routes() []Route {
	var out []Route
	for _, r := range g.table() {
		out = append(out, Route{Method: r.Method, Path: r.OpenAPI})
	}
	return out
}

func (g *Gateway) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(httpx.Tracing, httpx.RequestIDs(g.log), httpx.Metrics(g.cfg.Metrics), httpx.AccessLog, httpx.Recoverer)
	for _, r := range g.table() {
		if r.Chain != nil {
			e.Handle(r.Method, r.Gin, r.Chain...)
		}
	}
	// Not an API route, so not in the table (and not in the OpenAPI doc).
	e.GET("/console/*path", manage.ServeConsole)
	e.NoRoute(func(c *gin.Context) {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "no such route"))
	})
	e.NoMethod(func(c *gin.Context) {
		httpx.WriteError(c, httpx.NewError(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, "method not allowed on this route"))
	})
	return e
}

func (g *Gateway) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (g *Gateway) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := append([]telemetry.Check{{Name: "store", Check: g.store.Ping}}, g.cfg.Ready...)
	for _, rc := range checks {
		if err := rc.Check(ctx); err != nil {
			httpx.Logger(c).WarnContext(ctx, "dependency not ready", "dependency", rc.Name, "err", err)
			httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, rc.Name+" unreachable"))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
