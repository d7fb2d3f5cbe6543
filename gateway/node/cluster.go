package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// Relayer sends a message to another gateway node; bus.Bus's Relay is one.
// Relays are not durable: a lost relay is recovered by the client's sync.
type Relayer interface {
	Relay(ctx context.Context, nodeID string, msg []byte) error
}

// Cluster joins a Hub to the other gateway nodes of cluster mode. The
// presence registry says which node holds which session of a user and
// applies the device limit across nodes; messages, receipts and kicks for
// sessions on other nodes are relayed to those nodes (a node never dials
// another), where HandleRelay hands them to the local connections.
type Cluster struct {
	// NodeID names this run of the process; unique among the nodes, and
	// never reused by a later run (see package presence).
	NodeID   string
	Presence presence.Presence
	Relay    Relayer
	// RefreshInterval is how often the node renews its presence heartbeat;
	// zero means presence.DefaultRefreshInterval. TTL is the heartbeat's
	// lifetime; zero means presence.DefaultTTL.
	RefreshInterval, TTL time.Duration
}

// Timeouts of the cluster's network calls. The fan-out stage waits for a
// batch's presence lookups and relays: a broker or Redis outage must not
// hold it up for long, since a lost relay only costs the client a sync.
const (
	lookupTimeout     = 2 * time.Second
	relayTimeout      = 2 * time.Second
	registerTimeout   = 5 * time.Second
	receiptQueueLen   = 8192
	maxReceiptBatch   = 512
	sweepEveryRefresh = 6
)

// cluster is a Hub's cluster state.
type cluster struct {
	Cluster
	hub *Hub
	log *slog.Logger

	receipts chan relayedReceipt // receipts waiting to be relayed

	mu     sync.Mutex         // guards orphan
	orphan []presence.Session // sessions whose Unregister failed; retried at refresh
}

// NewClusterHub returns an empty hub of a cluster-mode node; see Cluster.
// Call JoinCluster before serving and run RunCluster while serving.
func NewClusterHub(st store.Store, log *slog.Logger, cl Cluster) *Hub {
	h := NewHub(st, log)
	if cl.RefreshInterval <= 0 {
		cl.RefreshInterval = presence.DefaultRefreshInterval
	}
	if cl.TTL <= 0 {
		cl.TTL = presence.DefaultTTL
	}
	h.cl = &cluster{Cluster: cl, hub: h, log: h.log, receipts: make(chan relayedReceipt, receiptQueueLen)}
	return h
}

// JoinCluster makes the node alive in the presence registry, so that its
// sessions can register. Call it before serving.
func (h *Hub) JoinCluster(ctx context.Context) error {
	if h.cl == nil {
		return errors.New("join cluster: not a cluster hub")
	}
	if _, err := h.cl.Presence.Refresh(ctx, h.cl.NodeID, h.cl.TTL); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	return nil
}

// RunCluster keeps the node's presence heartbeat alive, re-registers its
// sessions if the heartbeat lapsed, sweeps dead nodes' sessions now and
// then, and relays receipts, until ctx ends.
func (h *Hub) RunCluster(ctx context.Context) error {
	if h.cl == nil {
		return errors.New("run cluster: not a cluster hub")
	}
	var wg sync.WaitGroup
	wg.Go(func() { h.cl.relayReceipts(ctx) })
	defer wg.Wait()
	t := time.NewTicker(h.cl.RefreshInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h.cl.refresh(ctx, n%sweepEveryRefresh == 0)
	}
}

// session returns c's presence session.
func (cl *cluster) session(c *conn) presence.Session {
	return presence.Session{AppID: c.appID, UserID: c.userID, DeviceID: c.deviceID, SessionID: c.session,
		NodeID: cl.NodeID, ConnectedAt: c.connectedAt}
}

// register registers c, already added to the hub, in the presence
// registry, which applies the device limit across nodes. It closes or
// relays the kicks of sessions it replaced on other nodes and returns
// those on this node.
func (cl *cluster) register(ctx context.Context, c *conn, maxDevices int, policy string) ([]*conn, refusal) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	kicked, err := cl.Presence.Register(ctx, cl.session(c), maxDevices, presence.Policy(policy))
	switch {
	case errors.Is(err, presence.ErrTooManyDevices):
		return nil, refusedDevices
	case err != nil:
		cl.log.WarnContext(ctx, "register session in presence", "err", err, "app_id", c.appID)
		return nil, refusedUnavailable
	}
	return cl.kick(ctx, kicked), accepted
}

// kick returns the kicked sessions held by this node and relays a kick to
// the nodes holding the others.
func (cl *cluster) kick(ctx context.Context, kicked []presence.Session) []*conn {
	var local []*conn
	remote := map[string]*relayEnvelope{}
	for _, s := range kicked {
		if s.NodeID == cl.NodeID {
			if o := cl.hub.find(s.AppID, s.UserID, s.SessionID); o != nil {
				local = append(local, o)
			}
			continue
		}
		env := remote[s.NodeID]
		if env == nil {
			env = &relayEnvelope{}
			remote[s.NodeID] = env
		}
		env.Kicks = append(env.Kicks, relayKick{AppID: s.AppID, UserID: s.UserID, SessionID: s.SessionID})
	}
	for node, env := range remote {
		if err := cl.send(ctx, node, env); err != nil {
			// The kicked session stays open until it reconnects; it no
			// longer counts towards the limit.
			cl.log.WarnContext(ctx, "relay kick", "err", err, "node", node)
		}
	}
	return local
}

// unregister removes c's session from the registry; a failure is retried
// at the next refresh (until then the session counts towards the user's
// device limit).
func (cl *cluster) unregister(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	s := cl.session(c)
	if err := cl.Presence.Unregister(ctx, s); err != nil {
		cl.log.WarnContext(ctx, "unregister session from presence", "err", err, "app_id", c.appID)
		cl.mu.Lock()
		cl.orphan = append(cl.orphan, s)
		cl.mu.Unlock()
	}
}

// refresh renews the heartbeat; if it had lapsed, the registry forgot the
// node's sessions, which are registered again.
func (cl *cluster) refresh(ctx context.Context, sweep bool) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	alive, err := cl.Presence.Refresh(ctx, cl.NodeID, cl.TTL)
	if err != nil {
		cl.log.WarnContext(ctx, "refresh presence", "err", err)
		return
	}
	cl.mu.Lock()
	orphan := cl.orphan
	cl.orphan = nil
	cl.mu.Unlock()
	for i, s := range orphan {
		if err := cl.Presence.Unregister(ctx, s); err != nil {
			cl.mu.Lock()
			cl.orphan = append(cl.orphan, orphan[i:]...)
			cl.mu.Unlock()
			break
		}
	}
	if !alive {
		cl.reregister(ctx)
		cl.hub.resyncRooms(ctx)
	}
	if sweep {
		if err := cl.Presence.Sweep(ctx); err != nil {
			cl.log.WarnContext(ctx, "sweep presence", "err", err)
		}
	}
}

// reregister registers again every session of the node, after its
// heartbeat lapsed (a long Redis outage). The device limit applies again.
func (cl *cluster) reregister(ctx context.Context) {
	conns := cl.hub.loggedIn()
	cl.log.WarnContext(ctx, "presence heartbeat had lapsed; registering the node's sessions again", "sessions", len(conns))
	for _, c := range conns {
		lim := c.creds.Limits
		kicked, err := cl.Presence.Register(ctx, cl.session(c), lim.MaxDevicesPerUser, presence.Policy(c.creds.App.Settings.DevicePolicy))
		switch {
		case errors.Is(err, presence.ErrTooManyDevices):
			c.closeAsync(wire.CloseTooManyDevices, "the user has the maximum number of devices online")
		case err != nil:
			c.closeAsync(wire.CloseInternalError, "session must log in again")
		default:
			for _, o := range cl.kick(ctx, kicked) {
				o.closeAsync(wire.CloseKicked, "replaced by a newer session")
			}
		}
	}
}

// deliverRemote relays deliveries to the sessions of other nodes and adds
// their number to out. One presence lookup per app in the batch, one relay
// per node.
func (cl *cluster) deliverRemote(ds []messaging.Delivery, out []int) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout+relayTimeout)
	defer cancel()
	found := cl.lookup(ctx, len(ds), func(i int) (string, string) { return ds[i].AppID, ds[i].UserID })
	type pending struct {
		env    relayEnvelope
		counts map[int]int // delivery index → sessions
		last   *store.Message
	}
	nodes := map[string]*pending{}
	for i := range ds {
		d := &ds[i]
		for _, s := range found[d.AppID][d.UserID] {
			if s.NodeID == cl.NodeID || s.SessionID == d.Except {
				continue
			}
			p := nodes[s.NodeID]
			if p == nil {
				p = &pending{counts: map[int]int{}}
				nodes[s.NodeID] = p
			}
			if p.counts[i] == 0 {
				if p.last == nil || !sameMessage(p.last, d.Msg) || p.env.Deliveries[len(p.env.Deliveries)-1].AppID != d.AppID {
					p.env.Deliveries = append(p.env.Deliveries, relayDelivery{AppID: d.AppID, Msg: toRelayMessage(d.Msg), Bulk: d.Bulk})
					p.last = d.Msg
				}
				rd := &p.env.Deliveries[len(p.env.Deliveries)-1]
				rd.To = append(rd.To, relayTo{UserID: d.UserID, Except: d.Except})
			}
			p.counts[i]++
		}
	}
	for node, p := range nodes {
		if err := cl.send(ctx, node, &p.env); err != nil {
			cl.log.Warn("relay deliveries", "err", err, "node", node)
			continue
		}
		for i, n := range p.counts {
			out[i] += n
		}
	}
}

// lookup finds the live sessions of n (app, user) pairs, one presence
// round trip per app. An app whose lookup fails is logged and left out:
// its users get the messages at their next sync.
func (cl *cluster) lookup(ctx context.Context, n int, pair func(int) (string, string)) map[string]map[string][]presence.Session {
	users := map[string][]string{}
	for i := range n {
		app, user := pair(i)
		users[app] = append(users[app], user)
	}
	found := make(map[string]map[string][]presence.Session, len(users))
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	for app, ids := range users {
		m, err := cl.Presence.Lookup(lctx, app, ids)
		if err != nil {
			cl.log.Warn("look up presence", "err", err, "app_id", app)
			continue
		}
		found[app] = m
	}
	return found
}

// relayedReceipt is a receipt waiting to be relayed.
type relayedReceipt struct {
	appID, userID, except string
	r                     messaging.Receipt
}

// relayReceipt queues a receipt for the relay loop; it never blocks (the
// receipts come from the ack committer). When the queue is full the
// receipt is dropped: the peer sees the cursor at its next sync.
func (cl *cluster) relayReceipt(appID, userID, except string, r messaging.Receipt) {
	select {
	case cl.receipts <- relayedReceipt{appID, userID, except, r}:
	default:
		cl.log.Debug("receipt relay queue full; receipt dropped", "app_id", appID)
	}
}

// relayReceipts relays queued receipts in batches until ctx ends.
func (cl *cluster) relayReceipts(ctx context.Context) {
	batch := make([]relayedReceipt, 0, maxReceiptBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-cl.receipts:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxReceiptBatch {
			select {
			case r := <-cl.receipts:
				batch = append(batch, r)
			default:
				break more
			}
		}
		cl.relayReceiptBatch(ctx, batch)
	}
}

func (cl *cluster) relayReceiptBatch(ctx context.Context, batch []relayedReceipt) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout+relayTimeout)
	defer cancel()
	found := cl.lookup(ctx, len(batch), func(i int) (string, string) { return batch[i].appID, batch[i].userID })
	envs := map[string]*relayEnvelope{}
	for _, rr := range batch {
		var sent []string
		for _, s := range found[rr.appID][rr.userID] {
			if s.NodeID == cl.NodeID || s.SessionID == rr.except || slices.Contains(sent, s.NodeID) {
				continue
			}
			sent = append(sent, s.NodeID)
			env := envs[s.NodeID]
			if env == nil {
				env = &relayEnvelope{}
				envs[s.NodeID] = env
			}
			env.Receipts = append(env.Receipts, relayReceiptOf(rr))
		}
	}
	for node, env := range envs {
		if err := cl.send(ctx, node, env); err != nil {
			cl.log.WarnContext(ctx, "relay receipts", "err", err, "node", node)
		}
	}
}

// send encodes env and relays it to node.
func (cl *cluster) send(ctx context.Context, node string, env *relayEnvelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode relay: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	return cl.Relay.Relay(ctx, node, b)
}

// HandleRelay applies a relay sent to this node by another (the handler
// of the bus's ConsumeRelay): deliveries and receipts go to this node's
// connections of their users, and kicked sessions are closed. A relay it
// cannot decode is logged and dropped.
func (h *Hub) HandleRelay(ctx context.Context, msg []byte) {
	var env relayEnvelope
	if err := json.Unmarshal(msg, &env); err != nil {
		h.log.WarnContext(ctx, "drop undecodable relay", "err", err)
		return
	}
	var ds []messaging.Delivery
	for _, rd := range env.Deliveries {
		m := rd.Msg.message()
		for _, to := range rd.To {
			ds = append(ds, messaging.Delivery{AppID: rd.AppID, UserID: to.UserID, Except: to.Except, Msg: &m, Bulk: rd.Bulk})
		}
	}
	if len(ds) > 0 {
		h.deliverLocal(ds)
	}
	for _, r := range env.Receipts {
		h.pushReceiptLocal(r.AppID, r.To, r.Except, messaging.Receipt{
			Kind: messaging.ReceiptKind(r.Kind), ConvID: r.ConvID, Seq: r.Seq, UserID: r.UserID, At: time.UnixMilli(r.AtMs).UTC(),
		})
	}
	h.handleRelayedReactions(env.Reactions)
	h.handleRelayedRooms(&env)
	for _, k := range env.Kicks {
		if c := h.find(k.AppID, k.UserID, k.SessionID); c != nil {
			c.closeAsync(wire.CloseKicked, "replaced by a newer session")
		}
	}
}

// relayEnvelope is the wire form of a relay between nodes (JSON; a node
// ignores fields it does not know). Every node of a cluster runs the same
// version, except during a rolling upgrade: add fields, never change them.
type relayEnvelope struct {
	Deliveries []relayDelivery `json:"d,omitempty"`
	Receipts   []relayReceipt  `json:"r,omitempty"`
	Kicks      []relayKick     `json:"k,omitempty"`
	Reactions  []relayReaction `json:"re,omitempty"`
	// Chat rooms (rooms.go).
	RoomMessages []relayRoomMessages `json:"rm,omitempty"`
	RoomLeaves   []relayRoomLeave    `json:"rl,omitempty"`
}

// relayDelivery is one message for some users of an app.
type relayDelivery struct {
	AppID string       `json:"a"`
	Msg   relayMessage `json:"m"`
	To    []relayTo    `json:"t"`
	Bulk  bool         `json:"b,omitempty"` // messaging.Delivery.Bulk
}

type relayTo struct {
	UserID string `json:"u"`
	Except string `json:"x,omitempty"`
}

type relayMessage struct {
	ConvID      string `json:"c"`
	Seq         int64  `json:"s"`
	SenderID    string `json:"f,omitempty"`
	ClientMsgID string `json:"i,omitempty"`
	Type        string `json:"y,omitempty"`
	Body        []byte `json:"b,omitempty"`
	CreatedAtMs int64  `json:"t"`
	RecalledMs  int64  `json:"r,omitempty"`
	EditedMs    int64  `json:"e,omitempty"`
	// Mentions and MentionAll: a group message's mentions.
	Mentions   []string `json:"m,omitempty"`
	MentionAll bool     `json:"ma,omitempty"`
}

func toRelayMessage(m *store.Message) relayMessage {
	rm := relayMessage{ConvID: m.ConvID, Seq: m.Seq, SenderID: m.SenderID, ClientMsgID: m.ClientMsgID,
		Type: m.Type, Body: m.Body, CreatedAtMs: m.CreatedAt.UnixMilli(), Mentions: m.Mentions, MentionAll: m.MentionAll}
	if !m.RecalledAt.IsZero() {
		rm.RecalledMs = m.RecalledAt.UnixMilli()
	}
	if !m.EditedAt.IsZero() {
		rm.EditedMs = m.EditedAt.UnixMilli()
	}
	return rm
}

func (rm relayMessage) message() store.Message {
	m := store.Message{ConvID: rm.ConvID, Seq: rm.Seq, SenderID: rm.SenderID, ClientMsgID: rm.ClientMsgID,
		Type: rm.Type, Body: rm.Body, CreatedAt: time.UnixMilli(rm.CreatedAtMs).UTC(),
		Mentions: rm.Mentions, MentionAll: rm.MentionAll}
	if rm.RecalledMs != 0 {
		m.RecalledAt = time.UnixMilli(rm.RecalledMs).UTC()
	}
	if rm.EditedMs != 0 {
		m.EditedAt = time.UnixMilli(rm.EditedMs).UTC()
	}
	return m
}

// relayReceipt is a receipt for one user's sessions on the receiving node.
type relayReceipt struct {
	AppID  string `json:"a"`
	To     string `json:"to"`
	Except string `json:"x,omitempty"`
	Kind   int    `json:"k"`
	ConvID string `json:"c"`
	Seq    int64  `json:"s"`
	UserID string `json:"u"`
	AtMs   int64  `json:"t"`
}

func relayReceiptOf(rr relayedReceipt) relayReceipt {
	return relayReceipt{AppID: rr.appID, To: rr.userID, Except: rr.except, Kind: int(rr.r.Kind),
		ConvID: rr.r.ConvID, Seq: rr.r.Seq, UserID: rr.r.UserID, AtMs: rr.r.At.UnixMilli()}
}

// relayKick names a session replaced by a newer one on another node.
type relayKick struct {
	AppID     string `json:"a"`
	UserID    string `json:"u"`
	SessionID string `json:"s"`
}
