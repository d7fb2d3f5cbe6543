package node

import (
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

// Token checks at login beyond the signature.
const (
	// maxClockSkew is how far in the future a token's iat may lie: the
	// clocks of the customer's backend and the server may disagree a little.
	maxClockSkew = 60 * time.Second
)

// login authenticates the connection with its Login frame. It returns a
// close code when the connection must end.
//
// The checks are ordered so that nobody can spend another's budget: the
// client address's attempt budget first (every attempt, valid or not),
// then the token, then the user's own login budget, then the user's state
// (exists, not blocked, token not revoked), and only a login that passed
// all of them spends the app's login budget.
func (c *conn) login(ctx context.Context, l *magpiev1.Login) (wire.CloseCode, string) {
	s := c.srv
	now := s.now()
	if c.pending && !s.allow(ctx, "login-addr:"+c.addr, s.cfg.LoginsPerAddress, max(int(2*s.cfg.LoginsPerAddress), 1)) {
		s.metrics.RateLimited(telemetry.LimitLogin)
		return wire.CloseOverload, "too many logins from this address; retry with backoff"
	}
	if l.GetDeviceId() == "" || len(l.GetDeviceId()) > 128 || !utf8.ValidString(l.GetDeviceId()) {
		return wire.CloseProtocolError, "device_id must be 1-128 bytes"
	}
	// The token names its app; the app's secrets verify it (ParseFor asks
	// for them once the token is decoded).
	var creds *tenant.Credentials
	var resolveErr error
	claims, secret, err := token.ParseFor(l.GetToken(), now, func(appKey string) ([]string, error) {
		creds, resolveErr = s.tenants.Resolve(ctx, appKey)
		if resolveErr != nil {
			return nil, resolveErr
		}
		return creds.Secrets, nil
	})
	switch {
	case isNotFound(resolveErr):
		return wire.CloseBadToken, "unknown app"
	case resolveErr != nil:
		s.log.ErrorContext(ctx, "resolve app at login", "err", resolveErr)
		return wire.CloseInternalError, "internal error"
	case creds == nil && errors.Is(err, token.ErrMalformed):
		return wire.CloseBadToken, "malformed token"
	case errors.Is(err, token.ErrExpired):
		return wire.CloseTokenExpired, "token expired"
	case err != nil:
		return wire.CloseBadToken, "invalid token"
	case claims.IssuedAt.After(now.Add(maxClockSkew)):
		return wire.CloseBadToken, "token issued in the future (iat); check the issuer's clock"
	case claims.ExpiresAt.Sub(claims.IssuedAt) > tenant.MaxTokenLifetime(creds.App):
		return wire.CloseBadToken, "token lifetime (exp - iat) exceeds the app's max_token_lifetime_seconds"
	case creds.App.Disabled:
		return wire.CloseAppDisabled, "app disabled"
	}
	if !tenant.OriginAllowed(creds.App.Settings.AllowedOrigins, c.origin) {
		return wire.CloseProtocolError, "origin not allowed for this app"
	}
	// Every device of the user may reconnect at once (after a restart).
	userBurst := max(int(10*s.cfg.LoginsPerUser), 10, 2*creds.Limits.MaxDevicesPerUser)
	if !s.allow(ctx, creds.App.ID+":login-user:"+claims.UserID, s.cfg.LoginsPerUser, userBurst) {
		s.metrics.RateLimited(telemetry.LimitLogin)
		return wire.CloseOverload, "too many logins for this user; retry with backoff"
	}
	// A change of the user counted from here on may have been applied
	// before this connection is registered, where UserChanged would not
	// find it: see the check after the registration.
	userGen := s.hub.known.gen.Load()
	if code, reason := c.checkUser(ctx, creds.App.ID, claims.UserID, claims.IssuedAt, userGen); code != 0 {
		return code, reason
	}
	lim := creds.Limits
	if !s.allow(ctx, creds.App.ID+":login", lim.ConnRate, max(int(lim.ConnRate), 1)) {
		s.metrics.RateLimited(telemetry.LimitLogin)
		return wire.CloseOverload, "login rate limit exceeded; retry with backoff"
	}
	c.appID, c.userID, c.deviceID = creds.App.ID, claims.UserID, l.GetDeviceId()
	c.creds, c.secret, c.issuedAt, c.expiresAt = creds, secret, claims.IssuedAt, claims.ExpiresAt
	c.sendLim = rate.NewLimiter(rate.Limit(lim.SendRate), lim.SendBurst)
	c.connectedAt = now
	kick, refused := s.hub.register(ctx, c, lim.MaxDevicesPerUser, creds.App.Settings.DevicePolicy)
	switch refused {
	case refusedUnavailable:
		return wire.CloseInternalError, "session registry unavailable; retry with backoff"
	case refusedDraining:
		return wire.CloseServerShutdown, "server shutting down"
	case refusedDevices:
		return wire.CloseTooManyDevices, "the user has the maximum number of devices online"
	}
	c.loggedIn.Store(true)
	c.expiry = time.AfterFunc(c.expiresAt.Sub(now), c.tokenExpired)
	for _, o := range kick {
		o.closeAsync(wire.CloseKicked, "replaced by a newer session")
	}
	// A block, deletion or token revocation applied between the check above
	// and the registration would have missed this connection: check once
	// more if any user changed meanwhile. One applied later finds the
	// connection registered (UserChanged counts the change, then looks up
	// the sessions; register added this one under the hub's lock before
	// the count was read), and one applied before the count was first
	// read was stored before the first check read the user. A login
	// without user changes meanwhile reads the user once.
	if gen := s.hub.known.gen.Load(); gen != userGen {
		if code, reason := c.checkUser(ctx, c.appID, c.userID, c.issuedAt, gen); code != 0 {
			return code, reason
		}
	}
	// The same for a secret revocation (the credentials are cached).
	if fresh, err := s.tenants.Resolve(ctx, claims.AppKey); err != nil || !slices.Contains(fresh.Secrets, secret) {
		return wire.CloseReauthenticate, "the app secret that signed the token was revoked"
	}
	return 0, ""
}

// tokenExpired closes a session whose token has expired, with a reconnect
// code: the client gets a fresh token from its provider and carries on.
func (c *conn) tokenExpired() {
	c.closeAsync(wire.CloseReauthenticate, "token expired; reconnect with a fresh token")
}

// checkUser returns a close code if the user may not be connected. It
// reads the user from the store unless the hub remembers it (knownUsers),
// and remembers what it read unless a user change was counted after gen
// (loaded before the read).
func (c *conn) checkUser(ctx context.Context, appID, userID string, issuedAt time.Time, gen uint64) (wire.CloseCode, string) {
	k, now := userKey{appID, userID}, c.srv.now()
	u, ok := c.srv.hub.known.get(k, now)
	if !ok {
		su, err := c.srv.store.App(appID).GetUser(ctx, userID)
		switch {
		case isNotFound(err):
			return wire.CloseBadToken, "unknown user"
		case err != nil:
			c.srv.log.ErrorContext(ctx, "get user at login", "err", err)
			return wire.CloseInternalError, "internal error"
		}
		u = knownUser{blocked: su.Blocked, validAfter: su.TokensValidAfter, read: now}
		c.srv.hub.known.put(k, u, gen)
	}
	switch {
	case u.blocked:
		return wire.CloseUserBlocked, "user blocked"
	case issuedAt.Before(u.validAfter):
		return wire.CloseTokenRevoked, "token revoked"
	}
	return 0, ""
}

// handle serves one frame of a logged-in connection.
func (c *conn) handle(ctx context.Context, f *magpiev1.Frame) {
	id := f.GetId()
	if !c.srv.now().Before(c.expiresAt) {
		// The expiry timer runs on the wall clock; this check on the
		// gateway's clock makes sure no frame is served past exp.
		c.tokenExpired()
		return
	}
	// Sends have the app's own send rate limit, and delivery acks follow
	// what the server pushed; every other request counts against the
	// connection's frame limit.
	switch f.GetBody().(type) {
	case *magpiev1.Frame_Send, *magpiev1.Frame_DeliverAck, *magpiev1.Frame_SendRoomMessage:
	default:
		if !c.frameLim.Allow() {
			c.reply(wire.ErrorFrame(id, wire.CodeRateLimited, "too many frames; slow down"))
			return
		}
	}
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_Ping:
		c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{ServerTimeMs: c.srv.now().UnixMilli()}}})
	case *magpiev1.Frame_Send:
		c.send(ctx, id, b.Send)
	case *magpiev1.Frame_DeliverAck:
		c.deliverAck(ctx, id, b.DeliverAck)
	case *magpiev1.Frame_Read:
		err := c.srv.msgs.MarkRead(ctx, c.appID, c.userID, c.session, b.Read.GetConvId(), b.Read.GetSeq())
		c.replyResult(id, ok(id), err)
	case *magpiev1.Frame_SetConversation:
		r := b.SetConversation
		st, err := c.srv.msgs.SetConversationPrefs(ctx, c.appID, c.userID, c.deviceID, c.session, r.GetConvId(),
			messaging.ConvPrefs{Pinned: r.Pinned, Draft: r.Draft, ClearHistory: r.GetClearHistory()})
		var reply *magpiev1.Frame
		if err == nil {
			reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ConversationState{
				ConversationState: conversationPage([]messaging.ConvState{st}, "").GetConversations()[0]}}
		}
		c.replyResult(id, reply, err)
	case *magpiev1.Frame_OpenSupportSession, *magpiev1.Frame_CloseSupportSession, *magpiev1.Frame_RateSupportSession:
		c.supportFrame(ctx, id, f)
	case *magpiev1.Frame_Typing:
		err := c.srv.msgs.Typing(ctx, c.appID, c.userID, b.Typing.GetConvId(), b.Typing.GetTyping())
		c.replyResult(id, ok(id), err)
	case *magpiev1.Frame_SyncConversations:
		c.syncConversations(ctx, id, b.SyncConversations)
	case *magpiev1.Frame_SyncMessages:
		c.syncMessages(ctx, id, b.SyncMessages)
	case *magpiev1.Frame_SearchMessages:
		c.searchMessages(ctx, id, b.SearchMessages)
	case *magpiev1.Frame_RegisterDevice, *magpiev1.Frame_UnregisterDevice, *magpiev1.Frame_SetPushSettings, *magpiev1.Frame_MuteConversation:
		// In frame order, as Read: a registration and an unregistration
		// sent back to back take effect in the order sent.
		c.pushFrame(ctx, id, f)
	case *magpiev1.Frame_CreateGroup, *magpiev1.Frame_GetGroup, *magpiev1.Frame_UpdateGroup, *magpiev1.Frame_DismissGroup,
		*magpiev1.Frame_AddGroupMembers, *magpiev1.Frame_RemoveGroupMembers, *magpiev1.Frame_JoinGroup,
		*magpiev1.Frame_LeaveGroup, *magpiev1.Frame_ListGroupMembers, *magpiev1.Frame_SetGroupMember,
		*magpiev1.Frame_TransferGroup, *magpiev1.Frame_ListJoinRequests, *magpiev1.Frame_ResolveJoinRequest,
		*magpiev1.Frame_GetGroupReads:
		c.groupFrame(ctx, id, f)
	case *magpiev1.Frame_SendFriendRequest, *magpiev1.Frame_AnswerFriendRequest, *magpiev1.Frame_CancelFriendRequest, *magpiev1.Frame_ListFriendRequests, *magpiev1.Frame_ListFriends, *magpiev1.Frame_SetFriendRemark, *magpiev1.Frame_RemoveFriend, *magpiev1.Frame_BlockUser, *magpiev1.Frame_UnblockUser, *magpiev1.Frame_ListBlocked:
		c.contactFrame(ctx, id, f)
	case *magpiev1.Frame_RecallMessage, *magpiev1.Frame_EditMessage, *magpiev1.Frame_AddReaction, *magpiev1.Frame_RemoveReaction, *magpiev1.Frame_GetReactions:
		c.richFrame(ctx, id, f)
	case *magpiev1.Frame_JoinRoom, *magpiev1.Frame_LeaveRoom, *magpiev1.Frame_SendRoomMessage:
		c.roomFrame(ctx, id, f)
	case *magpiev1.Frame_GetFileUrl, *magpiev1.Frame_DeleteFile:
		c.fileFrame(ctx, id, f)
	case *magpiev1.Frame_SubscribePresence, *magpiev1.Frame_UnsubscribePresence:
		c.presenceFrame(ctx, id, f)
	case *magpiev1.Frame_Login:
		c.reply(wire.ErrorFrame(id, wire.CodeAlreadyLoggedIn, "this connection is already logged in"))
	default:
		c.reply(wire.ErrorFrame(id, wire.CodeInvalidFrame, "a client may not send "+wire.BodyName(f)))
	}
}

func ok(id uint64) *magpiev1.Frame {
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Ok{Ok: &magpiev1.Ok{}}}
}

// replyResult replies with f, or with an Error frame for err.
func (c *conn) replyResult(id uint64, f *magpiev1.Frame, err error) {
	if err == nil {
		c.reply(f)
		return
	}
	c.reply(c.errorFrame(id, err))
}

func (c *conn) errorFrame(id uint64, err error) *magpiev1.Frame {
	var me *messaging.Error
	var pe *push.ValidationError
	var ge *groups.Error
	var ce *contacts.Error
	var coded *codedError
	if rf, ok := roomError(err); ok {
		rf.Id = id
		return rf
	}
	switch {
	case errors.As(err, &me):
		return wire.RejectedFrame(id, me.Code, me.Message, me.Reason)
	case errors.As(err, &ge):
		return wire.ErrorFrame(id, ge.Code, ge.Message)
	case errors.As(err, &ce):
		return wire.ErrorFrame(id, ce.Code, ce.Message)
	case errors.As(err, &coded):
		return wire.ErrorFrame(id, coded.code, coded.msg)
	case errors.As(err, &pe):
		return wire.ErrorFrame(id, wire.CodeInvalidArgument, pe.Error())
	case errors.Is(err, push.ErrTooManyDevices):
		return wire.ErrorFrame(id, wire.CodeTooManyDevices, err.Error())
	case errors.Is(err, push.ErrNotFound):
		return wire.ErrorFrame(id, wire.CodeNotFound, err.Error())
	case errors.Is(err, messaging.ErrOverloaded), errors.Is(err, messaging.ErrStopped):
		return wire.ErrorFrame(id, wire.CodeUnavailable, err.Error())
	case errors.Is(err, context.Canceled):
		return wire.ErrorFrame(id, wire.CodeUnavailable, "connection closing")
	}
	c.srv.log.Error("frame failed", "err", err, "conn_id", c.session, "app_id", c.appID)
	return wire.ErrorFrame(id, wire.CodeInternal, "internal error")
}

// send submits a message (msg:R) in frame order. Its SendAck (msg:A) is
// queued by the committer once the message is durable, ahead of anything
// committed later, so the device sees its own seqs in order; the reader
// goes on meanwhile, and a goroutine reports a failed commit. Moderation
// keeps the connection's sends in frame order through c.order, its
// pre-send webhook calls bounded by the async budget (maxInflight); a
// message it dropped gets a SendAck with seq 0, one it rejected an Error
// frame with code message_rejected and the rule's or hook's reason.
func (c *conn) send(ctx context.Context, id uint64, s *magpiev1.Send) {
	if c.draining.Load() {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "server shutting down; send again after reconnecting"))
		return
	}
	if c.goBack != "" {
		if s.GetClientMsgId() != c.goBack {
			c.reply(c.refusal(id, c.hint))
			return
		}
		c.goBack = ""
	}
	if !c.sendBudget(ctx) {
		return // the connection is closing
	}
	opts, err := pushOptions(s.GetPush())
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	if !c.acquire(ctx) {
		return // the connection is closing
	}
	sctx, span := c.sendSpan(ctx, s.GetClientMsgId())
	_, err = c.srv.msgs.Submit(sctx, messaging.SendRequest{
		AppID: c.appID, SenderID: c.userID, Session: c.session, ToUserID: s.GetToUserId(),
		ToGroupID: s.GetToGroupId(), Mentions: s.GetMentions(), MentionAll: s.GetMentionAll(),
		ClientMsgID: s.GetClientMsgId(), Type: s.GetType(), Content: s.GetContent(),
		MaxBytes: c.creds.Limits.MaxMessageBytes, Push: opts.Encode(), Order: &c.order,
		PushDelay: time.Duration(c.creds.App.Settings.Push.DelaySeconds) * time.Second,
		Committed: func(a store.Appended) {
			c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_SendAck{SendAck: &magpiev1.SendAck{
				ClientMsgId: a.ClientMsgID, ConvId: a.ConvID, Seq: a.Seq, ServerTimeMs: a.CreatedAt.UnixMilli(), Duplicate: a.Duplicate,
			}}})
			endSend(span, a.ConvID, a.Seq, a.Duplicate, a.Err)
		},
		Done: func(_ store.Appended, err error) {
			defer c.release()
			if err != nil {
				endSend(span, "", 0, false, err) // a span ends once: no-op if Committed ended it
				c.sendFailed(id, err)
			}
		},
	})
	if err == nil {
		c.refusals = 0
		return // Done releases the slot
	}
	c.release()
	endSend(span, "", 0, false, err)
	if errors.Is(err, messaging.ErrOverloaded) {
		// Refused before anything was queued: the client goes back to this
		// message and resends from it, after the hint (see overloaded).
		c.goBack = s.GetClientMsgId()
		c.reply(c.overloaded(id))
		return
	}
	c.refusals = 0
	c.sendFailed(id, err)
}

// sendBudget waits until the connection's send rate limit allows one more
// message. Waiting instead of refusing is what keeps a conversation's seqs
// in the order the connection sent: the reader stops reading (TCP pushes
// back on the client) while the budget refills, so no later send can
// overtake a refused one. The heartbeat deadline is suspended meanwhile:
// the client is not silent, the server is not listening. It reports false
// if the connection closed during the wait.
//
// The budget runs on the wall clock, not the gateway's (injectable) clock:
// the wait is real time.
func (c *conn) sendBudget(ctx context.Context) bool {
	now := time.Now()
	r := c.sendLim.ReserveN(now, 1)
	if !r.OK() { // a zero burst: the limiter can never grant a message
		c.closeAsync(wire.CloseProtocolError, "the app's send limit allows no messages")
		return false
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return true
	}
	c.srv.metrics.RateLimited(telemetry.LimitSend)
	c.timer.Stop()
	t := time.NewTimer(delay)
	defer t.Stop()
	waited := false
	// The reads of other sockets do not wait for this one's budget.
	c.srv.ws.readers.blocking(func() {
		select {
		case <-t.C:
			waited = true
		case <-ctx.Done():
		case <-c.quit:
		}
	})
	if !waited {
		return false
	}
	c.timer.Reset(c.srv.heartbeatTimeout())
	return true
}

// overloaded is the refusal of a send while the commit queue is full, or
// while the connection waits for a refused send to come again (goBack):
// retryable, with a hint of how long the queue takes to drain. Refusing
// every later send until the refused one is resent keeps a connection's
// sends in order without closing it: the client resends from the refused
// message on, after the hint.
//
// The hint is the queue's drain time, doubled for each refusal of the
// connection in a row (a connection refused again comes back later, so
// the ones it refused make no storm of resends under a sustained
// overload), at most maxRetryHint, and stretched by up to half at random
// so that connections refused together do not come back together.
func (c *conn) overloaded(id uint64) *magpiev1.Frame {
	base := c.srv.msgs.RetryAfter()
	c.hint = retryHint(base, c.refusals, rand.Float64())
	c.refusals++
	return c.refusal(id, c.hint)
}

// maxRetryHint bounds the retry hint of a connection refused many times in
// a row.
const maxRetryHint = 5 * time.Second

// retryHint is the retry hint after n earlier refusals in a row: base
// doubled n times, at most maxRetryHint, scaled by 1+r/2 (r in [0, 1)).
func retryHint(base time.Duration, n int, r float64) time.Duration {
	d := max(base, time.Millisecond)
	for i := 0; i < n && d < maxRetryHint; i++ {
		d *= 2
	}
	return time.Duration(float64(min(d, maxRetryHint)) * (1 + r/2))
}

// refusal is an overload refusal of send id with retry hint after.
func (c *conn) refusal(id uint64, after time.Duration) *magpiev1.Frame {
	c.srv.metrics.RateLimited(telemetry.LimitOverload)
	f := wire.ErrorFrame(id, wire.CodeUnavailable, "server overloaded; send this message and the ones after it again, in order, after retry_after_ms")
	f.GetError().RetryAfterMs = uint32(after.Milliseconds())
	return f
}

// sendFailed reports a send that was not stored. A failure the client
// caused (an invalid message, an unknown recipient) is answered with an
// Error frame: resending the same message fails the same way, so nothing
// sent later can overtake it. Any other failure (overload, a failed
// commit) closes the connection with a reconnect code instead of
// answering a retryable error: the client then resends everything not yet
// acknowledged, in its original order, on the next connection, where a
// reply to this one send would let the sends behind it take earlier seqs.
func (c *conn) sendFailed(id uint64, err error) {
	var me *messaging.Error
	switch {
	case errors.As(err, &me):
		c.reply(wire.RejectedFrame(id, me.Code, me.Message, me.Reason))
	case errors.Is(err, context.Canceled):
		// The connection is closing; the client resends after reconnecting.
	case errors.Is(err, messaging.ErrOverloaded), errors.Is(err, messaging.ErrStopped):
		c.closeAsync(wire.CloseOverload, "cannot take messages now; reconnect and resend")
	default:
		c.srv.log.Error("send failed", "err", err, "conn_id", c.session, "app_id", c.appID)
		c.closeAsync(wire.CloseInternalError, "a send failed; reconnect and resend")
	}
}

// acquire takes one of the connection's maxInflight slots for a request
// whose outcome comes later, waiting (the reader stops reading) while all
// are taken; false if the connection closed first. The request's
// callback releases the slot; the connection's close waits for it.
func (c *conn) acquire(ctx context.Context) bool {
	select {
	case c.inflight <- struct{}{}:
	case <-ctx.Done():
		return false
	case <-c.quit:
		return false
	}
	c.tasks.Add(1)
	return true
}

// release gives back a slot taken by acquire.
func (c *conn) release() {
	<-c.inflight
	c.tasks.Done()
}

func (c *conn) deliverAck(ctx context.Context, id uint64, a *magpiev1.DeliverAck) {
	cursors := make([]messaging.Cursor, len(a.GetCursors()))
	for i, cur := range a.GetCursors() {
		cursors[i] = messaging.Cursor{ConvID: cur.GetConvId(), Seq: cur.GetSeq()}
	}
	if !c.acquire(ctx) {
		return
	}
	err := c.srv.msgs.AckDeliveredFunc(ctx, c.appID, c.userID, c.deviceID, cursors, func(err error) {
		defer c.release()
		if err != nil {
			c.reply(c.errorFrame(id, err))
			return
		}
		// Nothing urgent waits on this Ok (cursors are cumulative, and
		// sent again after a reconnect): it may share a later write.
		c.replyLazy(ok(id))
	})
	if err != nil {
		c.release()
		c.reply(c.errorFrame(id, err))
	}
}

func (c *conn) syncConversations(ctx context.Context, id uint64, s *magpiev1.SyncConversations) {
	if ids := s.GetConvIds(); len(ids) > 0 {
		convs, err := c.srv.msgs.ConversationsByID(ctx, c.appID, c.userID, c.deviceID, ids)
		if err != nil {
			c.reply(c.errorFrame(id, err))
			return
		}
		c.srv.metrics.SyncRequest(telemetry.SyncConversations, len(convs))
		c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ConversationPage{ConversationPage: conversationPage(convs, "")}})
		return
	}
	after := ""
	if s.GetCursor() != "" {
		b, err := base64.RawURLEncoding.DecodeString(s.GetCursor())
		if err != nil {
			c.reply(wire.ErrorFrame(id, wire.CodeInvalidArgument, "cursor is not one returned by the server"))
			return
		}
		after = string(b)
	}
	convs, next, err := c.srv.msgs.Conversations(ctx, c.appID, c.userID, c.deviceID, after, int(s.GetLimit()))
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	c.srv.metrics.SyncRequest(telemetry.SyncConversations, len(convs))
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ConversationPage{ConversationPage: conversationPage(convs, next)}})
}

// conversationPage encodes conversation states; next is the id to continue
// after ("" on the last page).
func conversationPage(convs []messaging.ConvState, next string) *magpiev1.ConversationPage {
	page := &magpiev1.ConversationPage{}
	if next != "" {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	for i := range convs {
		cs := &convs[i]
		st := &magpiev1.ConversationState{
			ConvId: cs.ConvID, Members: cs.Members, MaxSeq: cs.MaxSeq, ReadSeq: cs.ReadSeq,
			DeliveredSeq: cs.DeviceDeliveredSeq, PeerReadSeq: cs.PeerReadSeq, PeerDeliveredSeq: cs.PeerDeliveredSeq,
			Unread: cs.Unread(), UpdatedAtMs: cs.UpdatedAt.UnixMilli(), FirstSeq: cs.FirstSeq, Muted: cs.Muted,
			MentionSeq: cs.MentionSeq, Draft: cs.Draft, ClearedSeq: cs.ClearedSeq,
		}
		if !cs.PinnedAt.IsZero() {
			st.PinnedAtMs = cs.PinnedAt.UnixMilli()
		}
		st.GroupId, _ = messaging.GroupOf(cs.ConvID)
		if cs.Last != nil {
			st.LastMessage = toWireMessage(cs.Last)
		}
		page.Conversations = append(page.Conversations, st)
	}
	return page
}

func (c *conn) syncMessages(ctx context.Context, id uint64, s *magpiev1.SyncMessages) {
	msgs, more, err := c.srv.msgs.Messages(ctx, c.appID, c.userID, messaging.MessageQuery{
		ConvID: s.GetConvId(), From: s.GetFromSeq(), To: s.GetToSeq(), Limit: int(s.GetLimit()), Desc: s.GetDesc(),
	})
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	c.srv.metrics.SyncRequest(telemetry.SyncMessages, len(msgs))
	page := &magpiev1.MessagePage{ConvId: s.GetConvId(), HasMore: more}
	for i := range msgs {
		page.Messages = append(page.Messages, toWireMessage(&msgs[i]))
	}
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_MessagePage{MessagePage: page}})
}
