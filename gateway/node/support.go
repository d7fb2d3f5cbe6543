package node

import (
	"context"
	"errors"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/webhook/support"
)

// supportFrame serves a customer-service frame of the logged-in user: as a
// visitor it opens, closes and rates its sessions; as an agent it closes
// the sessions it serves.
func (c *conn) supportFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.cfg.Support
	if svc == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "customer service is not available on this server"))
		return
	}
	var ss store.SupportSession
	var err error
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_OpenSupportSession:
		ss, err = svc.Open(ctx, c.appID, c.userID, b.OpenSupportSession.GetSkill())
		if errors.Is(err, support.ErrConflict) && ss.ID != "" {
			err = nil // the visitor's session is open already: that is the answer, whatever the skill
		}
	case *magpiev1.Frame_CloseSupportSession:
		if ss, err = c.ownSession(ctx, svc, b.CloseSupportSession.GetSessionId(), true); err == nil {
			ss, err = svc.Close(ctx, c.appID, ss.ID, c.userID)
		}
	case *magpiev1.Frame_RateSupportSession:
		r := b.RateSupportSession
		if ss, err = c.ownSession(ctx, svc, r.GetSessionId(), false); err == nil {
			ss, err = svc.Rate(ctx, c.appID, ss.ID, int(r.GetRating()), r.GetComment())
		}
	}
	if err != nil {
		c.reply(supportError(id, err))
		return
	}
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_SupportSession{SupportSession: toWireSupport(ss)}})
}

// ownSession returns a session of the user: as its visitor, or, with
// agent, as its agent. Another's session is not_found, as one that does
// not exist: a user learns nothing of sessions that are not its own.
func (c *conn) ownSession(ctx context.Context, svc *support.Service, id string, agent bool) (store.SupportSession, error) {
	ss, err := svc.Get(ctx, c.appID, id)
	if err != nil {
		return ss, err
	}
	if ss.VisitorID != c.userID && (!agent || ss.AgentID != c.userID) {
		return store.SupportSession{}, support.ErrNotFound
	}
	return ss, nil
}

func supportError(id uint64, err error) *magpiev1.Frame {
	var ve *support.ValidationError
	switch {
	case errors.As(err, &ve):
		return wire.ErrorFrame(id, wire.CodeInvalidArgument, ve.Error())
	case errors.Is(err, support.ErrNotFound):
		return wire.ErrorFrame(id, wire.CodeNotFound, "no such support session of this user")
	case errors.Is(err, support.ErrConflict):
		return wire.ErrorFrame(id, wire.CodeConflict, err.Error())
	}
	return wire.ErrorFrame(id, wire.CodeInternal, "internal error")
}

func toWireSupport(ss store.SupportSession) *magpiev1.SupportSession {
	w := &magpiev1.SupportSession{Id: ss.ID, VisitorId: ss.VisitorID, Skill: ss.Skill, AgentId: ss.AgentID,
		State: ss.State, CreatedAtMs: ss.CreatedAt.UnixMilli(), Rating: int32(ss.Rating)}
	if !ss.AssignedAt.IsZero() {
		w.AssignedAtMs = ss.AssignedAt.UnixMilli()
	}
	if !ss.ClosedAt.IsZero() {
		w.ClosedAtMs = ss.ClosedAt.UnixMilli()
	}
	return w
}
