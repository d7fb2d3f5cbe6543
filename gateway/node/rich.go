package node

import (
	"context"
	"slices"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// richFrame serves a rich messaging frame (recall, edit, reactions) of the
// logged-in user, in frame order. The app's recall and edit windows are
// those of its settings at login.
func (c *conn) richFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.msgs
	settings := c.creds.App.Settings
	var reply *magpiev1.Frame
	var err error
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_RecallMessage:
		r := b.RecallMessage
		m, e := svc.RecallOwn(ctx, c.appID, c.userID, r.GetConvId(), r.GetSeq(), settings.RecallWindow())
		err = e
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Message{Message: toWireMessage(&m)}}
	case *magpiev1.Frame_EditMessage:
		r := b.EditMessage
		m, e := svc.Edit(ctx, messaging.EditRequest{AppID: c.appID, UserID: c.userID, ConvID: r.GetConvId(), Seq: r.GetSeq(),
			Content: r.GetContent(), MaxBytes: c.creds.Limits.MaxMessageBytes, Window: settings.EditWindow()})
		err = e
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Message{Message: toWireMessage(&m)}}
	case *magpiev1.Frame_AddReaction:
		r := b.AddReaction
		u, e := svc.React(ctx, c.appID, c.userID, c.session, r.GetConvId(), r.GetSeq(), r.GetEmoji(), true)
		err = e
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ReactionUpdate{ReactionUpdate: toWireReaction(u)}}
	case *magpiev1.Frame_RemoveReaction:
		r := b.RemoveReaction
		u, e := svc.React(ctx, c.appID, c.userID, c.session, r.GetConvId(), r.GetSeq(), r.GetEmoji(), false)
		err = e
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ReactionUpdate{ReactionUpdate: toWireReaction(u)}}
	case *magpiev1.Frame_GetReactions:
		r := b.GetReactions
		mrs, e := svc.Reactions(ctx, c.appID, c.userID, r.GetConvId(), r.GetSeqs())
		err = e
		reply = &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ReactionPage{ReactionPage: toWireReactionPage(r.GetConvId(), mrs)}}
	}
	c.replyResult(id, reply, err)
}

func toWireReaction(u messaging.ReactionUpdate) *magpiev1.ReactionUpdate {
	return &magpiev1.ReactionUpdate{ConvId: u.ConvID, Seq: u.Seq, Emoji: u.Emoji, Count: u.Count, UserId: u.UserID,
		Added: u.Added, AtMs: u.At.UnixMilli()}
}

func toWireReactionPage(convID string, mrs []messaging.MessageReactions) *magpiev1.ReactionPage {
	page := &magpiev1.ReactionPage{ConvId: convID}
	for _, mr := range mrs {
		w := &magpiev1.MessageReactions{Seq: mr.Seq}
		for _, rc := range mr.Reactions {
			w.Reactions = append(w.Reactions, &magpiev1.ReactionCount{Emoji: rc.Emoji, Count: rc.Count, Reacted: rc.Reacted})
		}
		page.Messages = append(page.Messages, w)
	}
	return page
}

// PushReaction implements messaging.ReactionRouter: the update goes,
// unsolicited, to the online devices of the users on this node (the
// session except excepted) and, in cluster mode, is relayed in the
// background to the other nodes that hold sessions of them.
func (h *Hub) PushReaction(appID string, users []string, except string, u messaging.ReactionUpdate) {
	h.pushReactionLocal(appID, users, except, u)
	if h.cl != nil {
		users = slices.Clone(users)
		go h.cl.relayReaction(appID, users, except, u)
	}
}

func (h *Hub) pushReactionLocal(appID string, users []string, except string, u messaging.ReactionUpdate) {
	f := &magpiev1.Frame{Body: &magpiev1.Frame_ReactionUpdate{ReactionUpdate: toWireReaction(u)}}
	var enc encodings
	for _, user := range users {
		if conns := h.conns(appID, user); len(conns) > 0 {
			h.pushEncoded(conns, except, f, pushPlain, &enc)
		}
	}
}

// relayReaction relays a reaction update to the other nodes holding
// sessions of the users.
func (cl *cluster) relayReaction(appID string, users []string, except string, u messaging.ReactionUpdate) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout+relayTimeout)
	defer cancel()
	found := cl.lookup(ctx, len(users), func(i int) (string, string) { return appID, users[i] })
	to := map[string][]string{}
	for _, user := range users {
		for _, s := range found[appID][user] {
			if s.NodeID == cl.NodeID || s.SessionID == except || slices.Contains(to[s.NodeID], user) {
				continue
			}
			to[s.NodeID] = append(to[s.NodeID], user)
		}
	}
	for node, us := range to {
		env := &relayEnvelope{Reactions: []relayReaction{{AppID: appID, To: us, Except: except, ConvID: u.ConvID, Seq: u.Seq,
			Emoji: u.Emoji, Count: u.Count, UserID: u.UserID, Added: u.Added, AtMs: u.At.UnixMilli()}}}
		if err := cl.send(ctx, node, env); err != nil {
			cl.log.Warn("relay reaction", "err", err, "node", node)
		}
	}
}

// relayReaction is a reaction update for some users' sessions on the
// receiving node.
type relayReaction struct {
	AppID  string   `json:"a"`
	To     []string `json:"to"`
	Except string   `json:"x,omitempty"`
	ConvID string   `json:"c"`
	Seq    int64    `json:"s"`
	Emoji  string   `json:"e"`
	Count  int64    `json:"n"`
	UserID string   `json:"u"`
	Added  bool     `json:"ad,omitempty"`
	AtMs   int64    `json:"t"`
}

// handleRelayedReactions pushes relayed reaction updates to this node's
// sessions.
func (h *Hub) handleRelayedReactions(rs []relayReaction) {
	for _, r := range rs {
		h.pushReactionLocal(r.AppID, r.To, r.Except, messaging.ReactionUpdate{ConvID: r.ConvID, Seq: r.Seq, Emoji: r.Emoji,
			Count: r.Count, UserID: r.UserID, Added: r.Added, At: time.UnixMilli(r.AtMs).UTC()})
	}
}

// editedMs is a message's edit time on the wire: 0 if never edited.
func editedMs(m *store.Message) int64 {
	if m.EditedAt.IsZero() {
		return 0
	}
	return m.EditedAt.UnixMilli()
}
