package client

import (
	"context"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// SupportSession is a customer-service session (docs/support.md).
type SupportSession struct {
	ID        string
	VisitorID string
	Skill     string
	// AgentID is the agent serving it; empty while it waits.
	AgentID string
	// State is "waiting", "active" or "closed".
	State      string
	CreatedAt  time.Time
	AssignedAt time.Time // zero while it waits
	ClosedAt   time.Time // zero while open
	Rating     int
}

func toSupportSession(s *magpiev1.SupportSession) SupportSession {
	ms := func(v int64) time.Time {
		if v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(v)
	}
	return SupportSession{ID: s.GetId(), VisitorID: s.GetVisitorId(), Skill: s.GetSkill(), AgentID: s.GetAgentId(),
		State: s.GetState(), CreatedAt: ms(s.GetCreatedAtMs()), AssignedAt: ms(s.GetAssignedAtMs()),
		ClosedAt: ms(s.GetClosedAtMs()), Rating: int(s.GetRating())}
}

// OpenSupportSession asks customer service for an agent, the user being
// the visitor, in the queue of skill ("" for the general queue). The
// session goes to an agent at once or waits; the agent's messages come as
// one-to-one messages, and the user's position in the queue as notices in
// its system conversation. A user with an open session gets that one.
func (c *Client) OpenSupportSession(ctx context.Context, skill string) (SupportSession, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_OpenSupportSession{OpenSupportSession: &magpiev1.OpenSupportSession{Skill: skill}}})
	if err != nil {
		return SupportSession{}, err
	}
	return toSupportSession(r.GetSupportSession()), nil
}

// CloseSupportSession closes a session the user is the visitor or the
// agent of.
func (c *Client) CloseSupportSession(ctx context.Context, id string) (SupportSession, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_CloseSupportSession{CloseSupportSession: &magpiev1.CloseSupportSession{SessionId: id}}})
	if err != nil {
		return SupportSession{}, err
	}
	return toSupportSession(r.GetSupportSession()), nil
}

// RateSupportSession rates a closed session of the user (1 to 5, once).
func (c *Client) RateSupportSession(ctx context.Context, id string, rating int, comment string) (SupportSession, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_RateSupportSession{RateSupportSession: &magpiev1.RateSupportSession{
		SessionId: id, Rating: int32(rating), Comment: comment}}})
	if err != nil {
		return SupportSession{}, err
	}
	return toSupportSession(r.GetSupportSession()), nil
}
