// Package api is the signed server REST API under /v1, which customers'
// backends call: users (through the users service), client tokens,
// messages, users' push devices, settings and mutes with the push log
// and outbox (through the push service), and files (uploads, signed URLs,
// deletion, through the files service). Every request is authenticated by
// its signature (see docs/signing.md), checked against the replay cache,
// rate limited per app and, for creating POSTs, made replayable by an
// Idempotency-Key.
//
// A Server is safe for concurrent use; package gateway registers its
// routes.
package api

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

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
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/users"
	"github.com/magpie-im/magpie/webhook/support"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// MaxBodyBytes caps request bodies. Zero means 1 MiB.
	MaxBodyBytes int64
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives error logs. Nil discards them.
	Logger *slog.Logger
	// Nonces is the replay cache for signed requests. Nil means an
	// in-process cache (embedded mode).
	Nonces NonceCache
	// Limiter keeps the per-app rate limits. Nil means an in-process one
	// on Now.
	Limiter ratelimit.Limiter
	// Metrics counts requests refused by the rate limit. Nil records
	// nothing.
	Metrics *telemetry.Metrics
	// Push serves the push routes (devices, push settings, mutes, the
	// push log and outbox) and unregisters a user's devices when its
	// tokens are revoked. Nil answers the push routes 503
	// push_unavailable.
	Push *push.Service
	// Support serves the customer-service routes (agents, support
	// sessions). Nil answers them 503 unavailable.
	Support *support.Service
	// Groups serves the group routes. Nil answers them with
	// "unavailable".
	Groups *groups.Service
	// Contacts serves the contact routes (friends, friend requests,
	// blocks). Nil answers them with "unavailable".
	Contacts *contacts.Service
	// Usage counts the authenticated requests of each app for the usage
	// report. Nil counts nothing.
	Usage UsageCounter
	// Rooms serves the chat room routes. Nil answers them with
	// "unavailable".
	Rooms *rooms.Service
	// Files serves the file routes (uploads, URLs, deletion). Nil answers
	// them 503 files_unavailable.
	Files *files.Service
}

// UsageCounter counts server API calls (tenant.Usage). Its methods must
// not block.
type UsageCounter interface{ APICall(appID string) }

// Server serves the server API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   store.Store
	tenants *tenant.Service
	users   *users.Service
	msgs    *messaging.Service
	nonces  NonceCache
	limiter ratelimit.Limiter
	push    *push.Service // nil: no push routes
}

// New returns a Server resolving app keys through tenants, managing users
// through us and sending messages through msgs.
func New(st store.Store, tenants *tenant.Service, us *users.Service, msgs *messaging.Service, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: st, tenants: tenants, users: us, msgs: msgs, nonces: cfg.Nonces, limiter: cfg.Limiter, push: cfg.Push}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.nonces == nil {
		s.nonces = NewMemoryNonces(2 * signing.Window)
	}
	if s.limiter == nil {
		s.limiter = ratelimit.NewMemory(s.now)
	}
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Routes returns the server API's entries of the routes table.
func (s *Server) Routes() []httpx.Route {
	// Signature, window and nonce first (the nonce is spent there), then
	// the rate limit: a replay never spends the app's budget, and a request
	// answered 429 cannot be replayed.
	signed := []gin.HandlerFunc{httpx.ReadBody(s.cfg.MaxBodyBytes), s.signedAPI, s.freshNonce, s.rateLimit}
	create := httpx.With(signed, s.idempotent)
	pushed := httpx.With(signed, s.needPush)
	supported := httpx.With(signed, httpx.Require(s.cfg.Support != nil, "customer service is"))
	grouped := httpx.With(signed, s.needGroups)
	contacted := httpx.With(signed, s.needContacts)
	roomed := httpx.With(signed, httpx.Require(s.cfg.Rooms != nil, "chat rooms are"))
	filed := httpx.With(signed, s.needFiles)
	with, r := httpx.With, httpx.NewRoute
	return []httpx.Route{
		r("POST", "/v1/users", "/v1/users", with(create, s.createUser)),
		r("POST", `/v1/users\:import`, "/v1/users:import", with(signed, s.importUsers)),
		r("GET", "/v1/users", "/v1/users", with(signed, s.listUsers)),
		r("GET", "/v1/users/:id", "/v1/users/{id}", with(signed, s.getUser)),
		r("PATCH", "/v1/users/:id", "/v1/users/{id}", with(signed, s.updateUser)),
		r("DELETE", "/v1/users/:id", "/v1/users/{id}", with(signed, s.deleteUser)),
		r("POST", "/v1/users/:id", "/v1/users/{id}:block", with(signed, s.userAction)),
		r("POST", "/v1/users/:id", "/v1/users/{id}:unblock", nil),
		r("POST", "/v1/users/:id/tokens", "/v1/users/{id}/tokens", with(signed, s.tokenSubject, s.idempotent, s.issueToken)),
		r("POST", `/v1/users/:id/tokens\:revoke`, "/v1/users/{id}/tokens:revoke", with(signed, s.revokeTokens)),
		r("PUT", "/v1/users/:id/devices/:device_id", "/v1/users/{id}/devices/{device_id}", with(pushed, s.registerDevice)),
		r("GET", "/v1/users/:id/devices", "/v1/users/{id}/devices", with(pushed, s.listDevices)),
		r("DELETE", "/v1/users/:id/devices/:device_id", "/v1/users/{id}/devices/{device_id}", with(pushed, s.unregisterDevice)),
		r("GET", "/v1/users/:id/messages/search", "/v1/users/{id}/messages/search", with(signed, s.searchMessages)),
		r("GET", "/v1/users/:id/friends", "/v1/users/{id}/friends", with(contacted, s.listFriends)),
		r("POST", "/v1/users/:id/friends", "/v1/users/{id}/friends", with(contacted, s.addFriend)),
		r("PATCH", "/v1/users/:id/friends/:friend", "/v1/users/{id}/friends/{friend}", with(contacted, s.updateFriend)),
		r("DELETE", "/v1/users/:id/friends/:friend", "/v1/users/{id}/friends/{friend}", with(contacted, s.removeFriend)),
		r("GET", "/v1/users/:id/friend-requests", "/v1/users/{id}/friend-requests", with(contacted, s.listFriendRequests)),
		r("GET", "/v1/users/:id/blocks", "/v1/users/{id}/blocks", with(contacted, s.listBlocks)),
		r("PUT", "/v1/users/:id/blocks/:target", "/v1/users/{id}/blocks/{target}", with(contacted, s.putBlock)),
		r("DELETE", "/v1/users/:id/blocks/:target", "/v1/users/{id}/blocks/{target}", with(contacted, s.deleteBlock)),
		r("GET", "/v1/users/:id/push-settings", "/v1/users/{id}/push-settings", with(pushed, s.getPushSettings)),
		r("PUT", "/v1/users/:id/push-settings", "/v1/users/{id}/push-settings", with(pushed, s.setPushSettings)),
		r("PUT", "/v1/users/:id/conversations/:conv/mute", "/v1/users/{id}/conversations/{conv}/mute", with(pushed, s.muteConversation)),
		r("GET", "/v1/push/log", "/v1/push/log", with(pushed, s.pushLog)),
		r("GET", "/v1/push/outbox", "/v1/push/outbox", with(pushed, s.pushOutbox)),
		r("POST", "/v1/messages", "/v1/messages", with(create, s.sendMessage)),
		r("PUT", "/v1/support/agents/:user", "/v1/support/agents/{user}", with(supported, s.putAgent)),
		r("GET", "/v1/support/agents", "/v1/support/agents", with(supported, s.listAgents)),
		r("DELETE", "/v1/support/agents/:user", "/v1/support/agents/{user}", with(supported, s.deleteAgent)),
		r("POST", "/v1/support/sessions", "/v1/support/sessions", with(httpx.With(supported, s.idempotent), s.openSession)),
		r("GET", "/v1/support/sessions", "/v1/support/sessions", with(supported, s.listSessions)),
		r("GET", "/v1/support/sessions/:id", "/v1/support/sessions/{id}", with(supported, s.getSession)),
		r("POST", "/v1/support/sessions/:id", "/v1/support/sessions/{id}:transfer", with(supported, s.sessionAction)),
		r("POST", "/v1/support/sessions/:id", "/v1/support/sessions/{id}:close", nil),
		r("POST", "/v1/support/sessions/:id", "/v1/support/sessions/{id}:rate", nil),
		r("POST", "/v1/groups", "/v1/groups", with(httpx.With(grouped, s.idempotent), s.createGroup)),
		r("GET", "/v1/groups/:id", "/v1/groups/{id}", with(grouped, s.getGroup)),
		r("PATCH", "/v1/groups/:id", "/v1/groups/{id}", with(grouped, s.updateGroup)),
		r("DELETE", "/v1/groups/:id", "/v1/groups/{id}", with(grouped, s.dismissGroup)),
		r("POST", "/v1/groups/:id", "/v1/groups/{id}:transfer", with(grouped, s.groupAction)),
		r("POST", "/v1/groups/:id/members", "/v1/groups/{id}/members", with(grouped, s.addGroupMembers)),
		r("GET", "/v1/groups/:id/members", "/v1/groups/{id}/members", with(grouped, s.listGroupMembers)),
		r("GET", "/v1/groups/:id/members/:user", "/v1/groups/{id}/members/{user}", with(grouped, s.getGroupMember)),
		r("PATCH", "/v1/groups/:id/members/:user", "/v1/groups/{id}/members/{user}", with(grouped, s.updateGroupMember)),
		r("DELETE", "/v1/groups/:id/members/:user", "/v1/groups/{id}/members/{user}", with(grouped, s.removeGroupMember)),
		r("GET", "/v1/groups/:id/join-requests", "/v1/groups/{id}/join-requests", with(grouped, s.listJoinRequests)),
		r("POST", "/v1/groups/:id/join-requests/:user", "/v1/groups/{id}/join-requests/{user}:approve", with(grouped, s.joinRequestAction)),
		r("POST", "/v1/groups/:id/join-requests/:user", "/v1/groups/{id}/join-requests/{user}:decline", nil),
		r("GET", "/v1/groups/:id/reads", "/v1/groups/{id}/reads", with(grouped, s.groupReads)),
		r("GET", "/v1/groups/:id/messages/:seq/readers", "/v1/groups/{id}/messages/{seq}/readers", with(grouped, s.groupReaders)),
		r("POST", "/v1/rooms", "/v1/rooms", with(httpx.With(roomed, s.idempotent), s.createRoom)),
		r("GET", "/v1/rooms", "/v1/rooms", with(roomed, s.listRooms)),
		r("GET", "/v1/rooms/:id", "/v1/rooms/{id}", with(roomed, s.getRoom)),
		r("PATCH", "/v1/rooms/:id", "/v1/rooms/{id}", with(roomed, s.updateRoom)),
		r("DELETE", "/v1/rooms/:id", "/v1/rooms/{id}", with(roomed, s.destroyRoom)),
		r("POST", "/v1/rooms/:id/messages", "/v1/rooms/{id}/messages", with(httpx.With(roomed, s.idempotent), s.sendRoomMessage)),
		r("PUT", "/v1/rooms/:id/mutes/:user", "/v1/rooms/{id}/mutes/{user}", with(roomed, s.muteRoomMember)),
		r("DELETE", "/v1/rooms/:id/mutes/:user", "/v1/rooms/{id}/mutes/{user}", with(roomed, s.muteRoomMember)),
		r("DELETE", "/v1/rooms/:id/members/:user", "/v1/rooms/{id}/members/{user}", with(roomed, s.kickRoomMember)),
		r("GET", "/v1/rooms/:id/bans", "/v1/rooms/{id}/bans", with(roomed, s.listRoomBans)),
		r("PUT", "/v1/rooms/:id/bans/:user", "/v1/rooms/{id}/bans/{user}", with(roomed, s.banRoomUser)),
		r("DELETE", "/v1/rooms/:id/bans/:user", "/v1/rooms/{id}/bans/{user}", with(roomed, s.unbanRoomUser)),
		// The body of an upload is the file, streamed: its signature is
		// checked at its end (see uploadFile), not by signed.
		r("POST", "/v1/files", "/v1/files", []gin.HandlerFunc{s.needFiles, s.uploadFile}),
		r("GET", "/v1/files", "/v1/files", with(filed, s.listFiles)),
		r("GET", "/v1/files/:id", "/v1/files/{id}", with(filed, s.getFile)),
		r("DELETE", "/v1/files/:id", "/v1/files/{id}", with(filed, s.deleteFile)),
		r("GET", "/v1/conversations/:conv/messages", "/v1/conversations/{conv}/messages", with(signed, s.listMessages)),
		r("POST", "/v1/conversations/:conv/messages/:seq", "/v1/conversations/{conv}/messages/{seq}:recall", with(signed, s.messageAction)),
		r("GET", "/v1/conversations/:conv/messages/:seq/reactions", "/v1/conversations/{conv}/messages/{seq}/reactions", with(signed, s.messageReactions)),
	}
}
