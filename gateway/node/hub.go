package node

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/rooms"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Hub is the registry of this node's live client connections. It routes
// messages and receipts to a user's connections (messaging.Router), and
// re-checks a user's sessions when the user changes (see gateway.Events).
//
// Lock order: Hub.mu before conn.mu; never call into the store or the
// messaging service with Hub.mu held. Rooms have their own locks (see
// rooms.go).
type Hub struct {
	store store.Store
	log   *slog.Logger
	cl    *cluster // nil in embedded mode
	// after runs f after d: time.AfterFunc (tests replace it).
	after func(d time.Duration, f func())

	// known remembers the users of this node's logins; its gen counts user
	// changes (UserChanged, UsersMayHaveChanged): a login that sees it move
	// between its check of the user and its registration checks the user
	// again (see conn.login).
	known *knownUsers

	mu    sync.RWMutex        // guards the fields below
	users map[userKey][]*conn // logged-in connections
	// all holds every connection being served, from before its upgrade
	// (false) and once set up (true): Shutdown drains the ones set up and
	// waits for them all.
	all map[*conn]bool
	// draining is set at shutdown: no new connections or logins.
	draining bool
	gone     chan struct{} // closed when draining and all is empty
	// rechecking holds the users whose session re-check waits for a
	// retry (see UserChanged).
	rechecking map[userKey]bool

	presence *presenceWatch // nil: no presence events; set before serving
	usage    UsageCounter   // nil: no usage counts; set before serving
	subs     presenceSubs   // presence subscriptions (presence_subs.go)

	// Chat rooms; set by SetRooms before serving (nil: no rooms).
	roomSvc        *rooms.Service
	roomCountEvery time.Duration
	roomsMu        sync.Mutex // guards rooms
	rooms          map[roomKey]*hubRoom
}

// UsageCounter counts logged-in connections for the usage report
// (tenant.Usage). Its methods must not block.
type UsageCounter interface {
	ConnOpened(appID, userID string)
	ConnClosed(appID string)
}

// CountUsage makes the hub tell u about logins and logouts. Call it before
// serving.
func (h *Hub) CountUsage(u UsageCounter) { h.usage = u }

type userKey struct{ appID, userID string }

// NewHub returns an empty hub. It reads users from st to re-check sessions.
// A nil logger discards logs.
func NewHub(st store.Store, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{store: st, log: log, users: make(map[userKey][]*conn), all: make(map[*conn]bool),
		known: newKnownUsers(), rechecking: make(map[userKey]bool), after: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		rooms: make(map[roomKey]*hubRoom), roomCountEvery: time.Second,
		subs: presenceSubs{byUser: make(map[userKey]*watched), byConn: make(map[*conn]map[string]struct{})}}
}

// track adds a connection about to be upgraded: Shutdown waits for it
// from then on, whatever comes of the upgrade.
func (h *Hub) track(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all[c] = false
}

// ready records that a tracked connection is set up: a Shutdown from now
// on drains it. It reports false if one has begun (the connection must
// close itself).
func (h *Hub) ready(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	h.all[c] = true
	return true
}

// untrack removes a connection whose serving has ended.
func (h *Hub) untrack(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, c)
	if h.draining && len(h.all) == 0 && h.gone != nil {
		close(h.gone)
		h.gone = nil
	}
}

// refusal says why register refused a connection.
type refusal int

const (
	accepted refusal = iota
	refusedDraining
	refusedDevices
	refusedUnavailable // the presence registry cannot be reached
)

var _ messaging.Router = (*Hub)(nil)

// register adds a logged-in connection, applying the app's device limit
// (across nodes in cluster mode). It returns the connections of this node
// to kick (kick_oldest policy, or the same device's stale session) and
// whether c was refused.
func (h *Hub) register(ctx context.Context, c *conn, maxDevices int, policy string) (kick []*conn, refused refusal) {
	defer func() {
		if refused == accepted {
			if h.usage != nil {
				h.usage.ConnOpened(c.appID, c.userID)
			}
			h.reportLogin(ctx, c)
		}
	}()
	if h.cl == nil {
		return h.registerLocal(c, maxDevices, policy)
	}
	// Added here first, so that a relay for the session finds it once
	// the registry names it.
	k := userKey{c.appID, c.userID}
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		return nil, refusedDraining
	}
	h.users[k] = append(slices.Clone(h.users[k]), c)
	h.mu.Unlock()
	kick, refused = h.cl.register(ctx, c, maxDevices, policy)
	if refused != accepted {
		h.remove(c)
	}
	return kick, refused
}

// registerLocal is register on a node that is the whole installation.
func (h *Hub) registerLocal(c *conn, maxDevices int, policy string) (kick []*conn, refused refusal) {
	k := userKey{c.appID, c.userID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return nil, refusedDraining
	}
	conns := h.users[k]
	// A device that reconnects replaces its previous session.
	conns = slices.DeleteFunc(slices.Clone(conns), func(o *conn) bool {
		if o.deviceID == c.deviceID {
			kick = append(kick, o)
			return true
		}
		return false
	})
	if len(conns) >= maxDevices {
		if policy == "refuse" {
			return nil, refusedDevices
		}
		n := len(conns) - maxDevices + 1
		kick = append(kick, conns[:n]...)
		conns = conns[n:]
	}
	h.users[k] = append(conns, c)
	return kick, accepted
}

// unregister removes a logged-in connection that has ended.
func (h *Hub) unregister(c *conn) {
	h.remove(c)
	h.leaveRooms(c)
	h.unwatch(c, nil, true)
	if h.cl != nil {
		h.cl.unregister(c)
	}
	if h.usage != nil {
		h.usage.ConnClosed(c.appID)
	}
	h.reportLogout(c)
}

func (h *Hub) remove(c *conn) {
	k := userKey{c.appID, c.userID}
	h.mu.Lock()
	defer h.mu.Unlock()
	conns := slices.DeleteFunc(slices.Clone(h.users[k]), func(o *conn) bool { return o == c })
	if len(conns) == 0 {
		delete(h.users, k)
	} else {
		h.users[k] = conns
	}
}

func (h *Hub) conns(appID, userID string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users[userKey{appID, userID}]
}

// find returns the connection of a session of the user, or nil.
func (h *Hub) find(appID, userID, session string) *conn {
	for _, c := range h.conns(appID, userID) {
		if c.session == session {
			return c
		}
	}
	return nil
}

// loggedIn returns every logged-in connection of this node.
func (h *Hub) loggedIn() []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*conn
	for _, cs := range h.users {
		out = append(out, cs...)
	}
	return out
}

// User names a user of an app.
type User struct{ AppID, UserID string }

// Users returns the users with a logged-in connection on this node.
func (h *Hub) Users() []User {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]User, 0, len(h.users))
	for k := range h.users {
		out = append(out, User{k.appID, k.userID})
	}
	return out
}

// Connections returns how many logged-in connections this node holds
// (the magpie_connections gauge).
func (h *Hub) Connections() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, cs := range h.users {
		n += len(cs)
	}
	return n
}

// Online returns how many connections of the user this node holds.
func (h *Hub) Online(appID, userID string) int { return len(h.conns(appID, userID)) }

// Deliver implements messaging.Router. Each message is encoded once per
// encoding, and the same bytes are queued on every connection of every
// member it goes to on this node; in cluster mode the deliveries for
// sessions on other nodes are relayed to them (see Cluster).
func (h *Hub) Deliver(ds []messaging.Delivery) []int {
	out := h.deliverLocal(ds)
	if h.cl != nil {
		h.cl.deliverRemote(ds, out)
	}
	return out
}

// deliverLocal queues deliveries for the connections on this node and
// returns, per delivery, how many it was queued for.
func (h *Hub) deliverLocal(ds []messaging.Delivery) []int {
	out := make([]int, len(ds))
	var last *store.Message
	var f *magpiev1.Frame
	var enc encodings
	for i := range ds {
		d := &ds[i]
		conns := h.conns(d.AppID, d.UserID)
		if len(conns) == 0 {
			continue
		}
		if last == nil || !sameMessage(last, d.Msg) {
			last, enc = d.Msg, encodings{}
			f = &magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
				Messages: []*magpiev1.Message{toWireMessage(d.Msg)}}}}
		}
		kind := pushDeliver
		if d.Bulk {
			kind = pushDeliverLazy
		}
		out[i] = h.pushEncoded(conns, d.Except, f, kind, &enc)
	}
	return out
}

// sameMessage reports whether two deliveries carry the same version of a
// message (a recall or an edit is another version).
func sameMessage(a, b *store.Message) bool {
	return a.ConvID == b.ConvID && a.Seq == b.Seq && a.RecalledAt.Equal(b.RecalledAt) && a.EditedAt.Equal(b.EditedAt)
}

// PushReceipt implements messaging.Router. In cluster mode the receipt is
// also relayed, asynchronously, to the other nodes that hold sessions of
// the user; the count is this node's only.
func (h *Hub) PushReceipt(appID, userID, except string, r messaging.Receipt) int {
	if h.cl != nil {
		h.cl.relayReceipt(appID, userID, except, r)
	}
	return h.pushReceiptLocal(appID, userID, except, r)
}

func (h *Hub) pushReceiptLocal(appID, userID, except string, r messaging.Receipt) int {
	conns := h.conns(appID, userID)
	if len(conns) == 0 {
		return 0
	}
	f := &magpiev1.Frame{Body: &magpiev1.Frame_Receipt{Receipt: &magpiev1.Receipt{
		Kind: receiptKind(r.Kind), ConvId: r.ConvID, Seq: r.Seq, UserId: r.UserID, AtMs: r.At.UnixMilli(),
	}}}
	// A receipt may wait a little for other output to the connection
	// (outFrame.lazy); a typing event goes out at once.
	kind := pushLazy
	if r.Kind == messaging.ReceiptTyping || r.Kind == messaging.ReceiptTypingStopped {
		f = &magpiev1.Frame{Body: &magpiev1.Frame_TypingEvent{TypingEvent: &magpiev1.TypingEvent{
			ConvId: r.ConvID, UserId: r.UserID, Typing: r.Kind == messaging.ReceiptTyping, AtMs: r.At.UnixMilli(),
		}}}
		kind = pushPlain
	}
	return h.push(conns, except, f, kind)
}

// encodings holds a frame encoded by codec: binary, JSON.
type encodings [2][]byte

// pushKind says how a pushed frame is queued.
type pushKind uint8

const (
	pushPlain       pushKind = iota
	pushDeliver              // a Deliver, which binary connections may merge with the next
	pushLazy                 // a frame nobody waits on (outFrame.lazy)
	pushDeliverLazy          // a Deliver that is also lazy: a large group's (messaging.Delivery.Bulk)
)

// push encodes f at most once per codec and queues it on conns as kind.
func (h *Hub) push(conns []*conn, except string, f *magpiev1.Frame, kind pushKind) int {
	var enc encodings
	return h.pushEncoded(conns, except, f, kind, &enc)
}

// pushEncoded is push with the encodings of f made so far, which it
// completes.
func (h *Hub) pushEncoded(conns []*conn, except string, f *magpiev1.Frame, kind pushKind, encoded *encodings) int {
	n := 0
	for _, c := range conns {
		if c.session == except {
			continue
		}
		i := 0
		if !c.codec.Binary() {
			i = 1
		}
		if encoded[i] == nil {
			b, err := c.codec.Marshal(f)
			if err != nil {
				h.log.Error("encode push frame", "err", err)
				continue
			}
			encoded[i] = b
		}
		merge := mergeNone
		if (kind == pushDeliver || kind == pushDeliverLazy) && i == 0 {
			merge = mergeDeliver
		}
		if c.queueFrame(outFrame{b: encoded[i], merge: merge, lazy: kind == pushLazy || kind == pushDeliverLazy}) {
			n++
		}
	}
	return n
}

func receiptKind(k messaging.ReceiptKind) magpiev1.Receipt_Kind {
	switch k {
	case messaging.ReceiptDelivered:
		return magpiev1.Receipt_KIND_DELIVERED
	case messaging.ReceiptStored:
		return magpiev1.Receipt_KIND_STORED
	case messaging.ReceiptRead:
		return magpiev1.Receipt_KIND_READ
	}
	return magpiev1.Receipt_KIND_UNSPECIFIED
}

func toWireMessage(m *store.Message) *magpiev1.Message {
	return &magpiev1.Message{
		ConvId: m.ConvID, Seq: m.Seq, SenderId: m.SenderID, ClientMsgId: m.ClientMsgID, Type: m.Type,
		Content: string(m.Body), CreatedAtMs: m.CreatedAt.UnixMilli(), Recalled: !m.RecalledAt.IsZero(),
		Mentions: m.Mentions, MentionAll: m.MentionAll, EditedAtMs: editedMs(m),
	}
}

// UserChanged re-checks every live session of the user on this node and
// closes those that are no longer allowed (user deleted or blocked, token
// revoked).
//
// When the user cannot be read (the store is slow or unreachable), the
// sessions stay and the check is retried with backoff (recheckBackoff);
// only if every attempt fails are they closed with a reconnect code, so
// that they check the user at their next login. Closing them at the first
// failure would send every client of the node back to log in (and resync)
// against a store that is already behind.
func (h *Hub) UserChanged(appID, userID string) {
	// Counted before the sessions are looked up: a login registered after
	// the lookup sees the count move (see conn.login).
	k := userKey{appID, userID}
	h.known.changed(k)
	h.recheck(k, 0)
}

// recheckBackoff is the wait before each retry of a session re-check
// whose read of the user failed: about a minute in all.
var recheckBackoff = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second}

// recheck is one attempt of UserChanged's check of k's sessions.
func (h *Hub) recheck(k userKey, attempt int) {
	if attempt > 0 {
		h.mu.Lock()
		delete(h.rechecking, k)
		h.mu.Unlock()
	}
	conns := h.conns(k.appID, k.userID)
	if len(conns) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := h.store.App(k.appID).GetUser(ctx, k.userID)
	if err != nil && !isNotFound(err) {
		if attempt < len(recheckBackoff) {
			h.log.Warn("re-check sessions: user not read; retrying", "app_id", k.appID, "attempt", attempt+1, "err", err)
			h.retryRecheck(k, attempt)
			return
		}
		// The user cannot be checked: make the sessions log in again
		// (a reconnect code), which checks it then.
		h.log.Warn("re-check sessions: user not read; closing them", "app_id", k.appID, "err", err)
	}
	for _, c := range conns {
		switch {
		case err != nil && !isNotFound(err):
			c.closeAsync(wire.CloseInternalError, "session must be re-checked")
		case err != nil:
			c.closeAsync(wire.CloseUserBlocked, "user deleted")
		case u.Blocked:
			c.closeAsync(wire.CloseUserBlocked, "user blocked")
		case c.issuedAt.Before(u.TokensValidAfter):
			c.closeAsync(wire.CloseTokenRevoked, "token revoked")
		}
	}
}

// retryRecheck schedules the next attempt of k's re-check after a failed
// one, unless one is scheduled already (it reads the user afresh) or the
// hub is shutting down.
func (h *Hub) retryRecheck(k userKey, attempt int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining || h.rechecking[k] {
		return
	}
	h.rechecking[k] = true
	h.after(recheckBackoff[attempt], func() { h.recheck(k, attempt+1) })
}

// UsersMayHaveChanged tells the hub that user changes may have been
// missed (the control events were cut off): the logins in progress check
// their user once more before they complete. The sessions already logged
// in are re-checked with UserChanged.
func (h *Hub) UsersMayHaveChanged() { h.known.mayHaveChanged() }

// AppChanged closes every session of an app that has been disabled. Other
// changes (limits, settings) apply to sessions that log in afterwards.
func (h *Hub) AppChanged(appID string, disabled bool) {
	if !disabled {
		return
	}
	for _, c := range h.appConns(appID) {
		c.closeAsync(wire.CloseAppDisabled, "app disabled")
	}
}

// SecretsChanged closes, with 4006 (reauthenticate), every session of an
// app whose token was signed by a secret that is no longer among active:
// a revoked secret ends the sessions it let in.
func (h *Hub) SecretsChanged(appID string, active []string) {
	for _, c := range h.appConns(appID) {
		if !slices.Contains(active, c.secret) {
			c.closeAsync(wire.CloseReauthenticate, "the app secret that signed the token was revoked")
		}
	}
}

// appConns returns every logged-in connection of an app.
func (h *Hub) appConns(appID string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var conns []*conn
	for k, cs := range h.users {
		if k.appID == appID {
			conns = append(conns, cs...)
		}
	}
	return conns
}

// Shutdown stops new connections and logins, drains every connection (no
// new sends; in-flight ones are acknowledged; queued frames are written),
// closes each with 4000 so clients reconnect elsewhere, and waits for them
// to finish or ctx to end.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.stopPresence()
	h.stopPublishing(ctx)
	h.mu.Lock()
	h.draining = true
	all := make([]*conn, 0, len(h.all))
	for c, ready := range h.all {
		if ready { // the others close themselves once set up (ready)
			all = append(all, c)
		}
	}
	h.mu.Unlock()
	var drains sync.WaitGroup
	for _, c := range all {
		drains.Go(func() { c.shutdown(ctx) })
	}
	drains.Wait() // each drain ends by ctx at the latest
	h.mu.Lock()
	if len(h.all) == 0 {
		h.mu.Unlock()
		return nil
	}
	gone := make(chan struct{})
	h.gone = gone
	h.mu.Unlock()
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
