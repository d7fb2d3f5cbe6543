// Package manage is the console's management API under /manage/v1: console
// sessions and HTTP Basic for scripts (with the login throttle), tenants,
// members and their roles, apps, their limits, settings and secrets, on
// top of the tenant service, apps' push credentials, on top of the push
// service, and apps' webhook endpoints, delivery log and keyword rules, on
// top of the webhook service, and apps' users and conversations (for the
// console's Users and Messages pages, message search included), on top of
// the same users service and messaging core as the server API, and apps'
// customer-service agents and sessions and chat rooms, on top of the same
// support and rooms services. It also serves the web console (package
// console) at /console/.
//
// A Server is safe for concurrent use; package gateway registers its
// routes.
package manage

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/rooms"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/users"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

// Events is told about changes to an app that every gateway node must
// apply: its cached credentials dropped, its sessions closed if the app was
// disabled or the secret that signed their token revoked.
type Events interface {
	AppChanged(ctx context.Context, appID string) error
}

// Config configures a Server. The zero value is usable.
type Config struct {
	// MaxBodyBytes caps request bodies. Zero means 1 MiB.
	MaxBodyBytes int64
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives error logs. Nil discards them.
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client's address (for the login throttle and audit logs).
	// Empty trusts none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// LoginLimits throttles console password checks per email and per
	// client address. The zero value takes the defaults documented on
	// LoginLimits.
	LoginLimits LoginLimits
	// Events is told about changed apps. Nil tells no one: other nodes
	// then see the change when their cached credentials expire.
	Events Events
	// Push keeps the apps' push provider credentials. Nil answers the
	// push credential routes 503 push_unavailable.
	Push *push.Service
	// Metrics counts console logins refused by the throttle. Nil records
	// nothing.
	Metrics *telemetry.Metrics
	// Webhooks keeps the apps' webhook endpoints, their delivery log and
	// keyword rules. Nil answers the webhook routes 503 unavailable.
	Webhooks *webhook.Service
	// Users is the users service of the server API: the same instance,
	// so that blocking a user or revoking its tokens here closes its live
	// sessions through the same events. Nil (or a nil Messages) answers
	// the users and messages routes 503 unavailable.
	Users *users.Service
	// Messages is the messaging core: conversation history, search,
	// recall and system messages.
	Messages *messaging.Service
	// Support is the customer-service routing of the server API: the same
	// instance, so that a transfer or close here notifies as one there.
	// Nil answers the customer-service routes 503 unavailable.
	Support *support.Service
	// Rooms is the chat rooms service of the server API. Nil answers the
	// room routes 503 unavailable.
	Rooms *rooms.Service
	// Presence tells whether a user is online for the user page. Nil
	// shows every user offline.
	Presence Presence
}

// Server serves the management API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	tenants *tenant.Service
	logins  *loginThrottle
}

// New returns a Server managing st through tenants.
func New(st store.Store, tenants *tenant.Service, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: st, tenants: tenants, logins: newLoginThrottle(cfg.LoginLimits)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Routes returns the management API's entries of the routes table.
func (s *Server) Routes() []httpx.Route {
	body := httpx.ReadBody(s.cfg.MaxBodyBytes)
	manage := []gin.HandlerFunc{body, s.consoleAuth}
	pushed := httpx.With(manage, s.needPush)
	with, r := httpx.With, httpx.NewRoute
	hooked := httpx.With(manage, s.needWebhooks)
	const creds = "/manage/v1/apps/:app/push/credentials"
	const hooks = "/manage/v1/apps/:app/webhooks"
	usersOK := httpx.With(manage, s.needUsers)
	const appUsers = "/manage/v1/apps/:app/users"
	const convMsgs = "/manage/v1/apps/:app/conversations/:conv/messages"
	supported := httpx.With(manage, httpx.Require(s.cfg.Support != nil, "customer service is"))
	const agents = "/manage/v1/apps/:app/support/agents"
	const sessions = "/manage/v1/apps/:app/support/sessions"
	roomed := httpx.With(manage, httpx.Require(s.cfg.Rooms != nil, "chat rooms are"))
	const appRooms = "/manage/v1/apps/:app/rooms"
	return []httpx.Route{
		r("POST", "/manage/v1/sessions", "/manage/v1/sessions", []gin.HandlerFunc{body, s.login}),
		r("DELETE", "/manage/v1/sessions/current", "/manage/v1/sessions/current", with(manage, s.logout)),
		r("GET", "/manage/v1/me", "/manage/v1/me", with(manage, s.me)),
		r("POST", "/manage/v1/me/password", "/manage/v1/me/password", with(manage, s.changePassword)),
		r("GET", "/manage/v1/tenants", "/manage/v1/tenants", with(manage, s.listTenants)),
		r("POST", "/manage/v1/tenants", "/manage/v1/tenants", with(manage, s.createTenant)),
		r("GET", "/manage/v1/tenants/:tenant/members", "/manage/v1/tenants/{tenant}/members", with(manage, s.listMembers)),
		r("POST", "/manage/v1/tenants/:tenant/members", "/manage/v1/tenants/{tenant}/members", with(manage, s.createMember)),
		r("PATCH", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}", with(manage, s.updateMember)),
		r("DELETE", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}", with(manage, s.deleteMember)),
		r("POST", "/manage/v1/tenants/:tenant/members/:member", "/manage/v1/tenants/{tenant}/members/{member}:reset-password", with(manage, s.memberAction)),
		r("DELETE", "/manage/v1/tenants/:tenant/members/:member/sessions", "/manage/v1/tenants/{tenant}/members/{member}/sessions", with(manage, s.endMemberSessions)),
		r("GET", "/manage/v1/tenants/:tenant/apps", "/manage/v1/tenants/{tenant}/apps", with(manage, s.listApps)),
		r("POST", "/manage/v1/tenants/:tenant/apps", "/manage/v1/tenants/{tenant}/apps", with(manage, s.createApp)),
		r("GET", "/manage/v1/apps/:app", "/manage/v1/apps/{app}", with(manage, s.getApp)),
		r("PATCH", "/manage/v1/apps/:app", "/manage/v1/apps/{app}", with(manage, s.updateApp)),
		r("GET", "/manage/v1/apps/:app/secrets", "/manage/v1/apps/{app}/secrets", with(manage, s.listSecrets)),
		r("POST", "/manage/v1/apps/:app/secrets", "/manage/v1/apps/{app}/secrets", with(manage, s.rotateSecret)),
		r("DELETE", "/manage/v1/apps/:app/secrets/:secret", "/manage/v1/apps/{app}/secrets/{secret}", with(manage, s.revokeSecret)),
		r("GET", creds, "/manage/v1/apps/{app}/push/credentials", with(pushed, s.listCredentials)),
		r("PUT", creds+"/:provider", "/manage/v1/apps/{app}/push/credentials/apns", with(pushed, s.setCredential)),
		r("PUT", creds+"/:provider", "/manage/v1/apps/{app}/push/credentials/fcm", nil),
		r("DELETE", creds+"/:provider", "/manage/v1/apps/{app}/push/credentials/{provider}", with(pushed, s.deleteCredential)),
		r("POST", creds+"/:provider", "/manage/v1/apps/{app}/push/credentials/{provider}:check", with(pushed, s.credentialAction)),
		r("GET", "/manage/v1/apps/:app/push/log", "/manage/v1/apps/{app}/push/log", with(pushed, s.pushLog)),
		r("GET", "/manage/v1/apps/:app/push/outbox", "/manage/v1/apps/{app}/push/outbox", with(pushed, s.pushOutbox)),
		r("GET", "/manage/v1/apps/:app/usage", "/manage/v1/apps/{app}/usage", with(manage, s.getUsage)),
		r("GET", hooks, "/manage/v1/apps/{app}/webhooks", with(hooked, s.listWebhooks)),
		r("POST", hooks, "/manage/v1/apps/{app}/webhooks", with(hooked, s.createWebhook)),
		r("GET", hooks+"/:webhook", "/manage/v1/apps/{app}/webhooks/{webhook}", with(hooked, s.getWebhook)),
		r("PATCH", hooks+"/:webhook", "/manage/v1/apps/{app}/webhooks/{webhook}", with(hooked, s.updateWebhook)),
		r("DELETE", hooks+"/:webhook", "/manage/v1/apps/{app}/webhooks/{webhook}", with(hooked, s.deleteWebhook)),
		r("POST", hooks+"/:webhook", "/manage/v1/apps/{app}/webhooks/{webhook}:rotate-secret", with(hooked, s.webhookAction)),
		r("POST", hooks+"/:webhook", "/manage/v1/apps/{app}/webhooks/{webhook}:test", nil),
		r("DELETE", hooks+"/:webhook/secrets/:secret", "/manage/v1/apps/{app}/webhooks/{webhook}/secrets/{secret}", with(hooked, s.revokeWebhookSecret)),
		r("GET", hooks+"/:webhook/attempts", "/manage/v1/apps/{app}/webhooks/{webhook}/attempts", with(hooked, s.listWebhookAttempts)),
		r("GET", hooks+"/:webhook/events/:event", "/manage/v1/apps/{app}/webhooks/{webhook}/events/{event}", with(hooked, s.webhookEvent)),
		r("POST", hooks+"/:webhook/events/:event", "/manage/v1/apps/{app}/webhooks/{webhook}/events/{event}:replay", with(hooked, s.replayWebhookEvent)),
		r("GET", "/manage/v1/apps/:app/moderation/keywords", "/manage/v1/apps/{app}/moderation/keywords", with(hooked, s.getKeywords)),
		r("PUT", "/manage/v1/apps/:app/moderation/keywords", "/manage/v1/apps/{app}/moderation/keywords", with(hooked, s.putKeywords)),
		r("GET", appUsers, "/manage/v1/apps/{app}/users", with(usersOK, s.listUsers)),
		r("GET", appUsers+"/:id", "/manage/v1/apps/{app}/users/{id}", with(usersOK, s.getUser)),
		r("DELETE", appUsers+"/:id", "/manage/v1/apps/{app}/users/{id}", with(usersOK, s.deleteUser)),
		r("POST", appUsers+"/:id", "/manage/v1/apps/{app}/users/{id}:block", with(usersOK, s.userAction)),
		r("POST", appUsers+"/:id", "/manage/v1/apps/{app}/users/{id}:unblock", nil),
		r("POST", appUsers+"/:id/tokens", "/manage/v1/apps/{app}/users/{id}/tokens", with(usersOK, s.issueTestToken)),
		r("POST", appUsers+`/:id/tokens\:revoke`, "/manage/v1/apps/{app}/users/{id}/tokens:revoke", with(usersOK, s.revokeTokens)),
		r("GET", convMsgs, "/manage/v1/apps/{app}/conversations/{conv}/messages", with(usersOK, s.listMessages)),
		r("POST", convMsgs+"/:seq", "/manage/v1/apps/{app}/conversations/{conv}/messages/{seq}:recall", with(usersOK, s.messageAction)),
		r("POST", "/manage/v1/apps/:app/messages", "/manage/v1/apps/{app}/messages", with(usersOK, s.sendSystemMessage)),
		r("GET", appUsers+"/:id/devices", "/manage/v1/apps/{app}/users/{id}/devices", with(usersOK, s.userDevices)),
		r("GET", appUsers+"/:id/conversations", "/manage/v1/apps/{app}/users/{id}/conversations", with(usersOK, s.userConversations)),
		r("GET", appUsers+"/:id/messages/search", "/manage/v1/apps/{app}/users/{id}/messages/search", with(usersOK, s.searchMessages)),
		r("GET", agents, "/manage/v1/apps/{app}/support/agents", with(supported, s.listAgents)),
		r("PUT", agents+"/:user", "/manage/v1/apps/{app}/support/agents/{user}", with(supported, s.putAgent)),
		r("DELETE", agents+"/:user", "/manage/v1/apps/{app}/support/agents/{user}", with(supported, s.deleteAgent)),
		r("GET", sessions, "/manage/v1/apps/{app}/support/sessions", with(supported, s.listSupportSessions)),
		r("POST", sessions+"/:id", "/manage/v1/apps/{app}/support/sessions/{id}:transfer", with(supported, s.supportSessionAction)),
		r("POST", sessions+"/:id", "/manage/v1/apps/{app}/support/sessions/{id}:close", nil),
		r("GET", appRooms, "/manage/v1/apps/{app}/rooms", with(roomed, s.listRooms)),
		r("GET", appRooms+"/:room", "/manage/v1/apps/{app}/rooms/{room}", with(roomed, s.getRoom)),
		r("DELETE", appRooms+"/:room", "/manage/v1/apps/{app}/rooms/{room}", with(roomed, s.closeRoom)),
	}
}

// appChanged publishes an AppChanged event for a request that changed the
// app. The change is stored; if the event cannot be published, the other
// nodes see it when their cached credentials expire, which is logged.
func (s *Server) appChanged(ctx context.Context, appID string) {
	if s.cfg.Events == nil {
		return
	}
	if err := s.cfg.Events.AppChanged(ctx, appID); err != nil {
		s.log.ErrorContext(ctx, "publish app change", "err", err, "app_id", appID)
	}
}

func (s *Server) clientAddr(c *gin.Context) string {
	return httpx.ClientAddr(c.Request, s.cfg.TrustedProxies)
}
