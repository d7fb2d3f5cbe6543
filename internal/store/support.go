package store

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"time"
)

// SupportStore keeps an app's customer-service state: its agents (app
// users who answer visitors, with skills and a capacity) and the support
// sessions between a visitor (an app user) and an agent. It is part of
// AppStore, so every method is scoped to one app.
//
// An agent's Active count is the number of its active sessions; the
// methods that move sessions keep it, atomically with the session's
// change (in an engine without transactions, by conditional writes undone
// when the second one fails), so that an agent never gets more than
// Capacity sessions however many processes assign at once.
//
// The methods that change a session take the step's support outbox
// entries (evs: post events and notices alike, see SupportEvent) and store
// them with the change, or not at all.
type SupportStore interface {
	// PutAgent makes user a.UserID an agent, or replaces its skills,
	// capacity, availability and update time; Active is kept (0 for a new
	// agent). ErrNotFound if the user does not exist.
	PutAgent(ctx context.Context, a Agent) error
	// GetAgent returns one agent, or ErrNotFound.
	GetAgent(ctx context.Context, userID string) (Agent, error)
	// ListAgents returns the agents that have skill (every agent when skill
	// is empty), by user id.
	ListAgents(ctx context.Context, skill string) ([]Agent, error)
	// DeleteAgent removes an agent; ErrNotFound if it is none, ErrLimit if
	// it has active sessions (transfer or close them first).
	DeleteAgent(ctx context.Context, userID string) error

	// CreateSupportSession stores a new session at Version 1 (whatever
	// s.Version says), with the events evs; it must be waiting (State
	// SupportWaiting, no agent). ErrConflict if the id is taken,
	// ErrNotFound if the visitor does not exist.
	CreateSupportSession(ctx context.Context, s SupportSession, evs ...SupportEvent) error
	// GetSupportSession returns one session, or ErrNotFound.
	GetSupportSession(ctx context.Context, id string) (SupportSession, error)
	// ListSupportSessions returns up to q.Limit sessions that match q, in
	// queue order: by CreatedAt, then id.
	ListSupportSessions(ctx context.Context, q SupportQuery) ([]SupportSession, error)
	// AssignSupportSession gives session id, waiting or active with another
	// agent (a transfer), to agent agentID, if the session's Version is
	// still version and the agent has room (Active < Capacity): the
	// session becomes active with AgentID agentID and AssignedAt at, and
	// Version+1; the agent's Active grows by one and the previous agent's,
	// if any, shrinks by one. It returns the session as stored. ErrNotFound
	// if the session or the agent does not exist, ErrConflict if the
	// session changed (or is closed, or already the agent's), ErrLimit if
	// the agent is full. A call that fails changes nothing. The events
	// evs are stored with the change.
	AssignSupportSession(ctx context.Context, id string, version int64, agentID string, at time.Time, evs ...SupportEvent) (SupportSession, error)
	// RequeueSupportSession puts an active or waiting session back in the
	// queue of skill (a transfer to a queue): waiting, no agent, Version+1,
	// its agent's Active shrinking by one. Conditional on version like
	// AssignSupportSession; ErrConflict if it changed or is closed. The
	// events evs are stored with the change.
	RequeueSupportSession(ctx context.Context, id string, version int64, skill string, evs ...SupportEvent) (SupportSession, error)
	// CloseSupportSession closes a waiting or active session at at, by
	// closedBy (a user id): Version+1, its agent's Active shrinking by one.
	// Conditional on version; ErrConflict if it changed or is closed. The
	// events evs are stored with the change.
	CloseSupportSession(ctx context.Context, id string, version int64, closedBy string, at time.Time, evs ...SupportEvent) (SupportSession, error)
	// RateSupportSession records the visitor's rating (1 to 5) and comment
	// of a closed session, once, with the events evs: ErrConflict if it is
	// not closed or already rated, ErrNotFound if it does not exist.
	RateSupportSession(ctx context.Context, id string, rating int, comment string, evs ...SupportEvent) (SupportSession, error)
	// AddSupportEvents stores events of a step that changes nothing of the
	// session (it stays in its queue), if the session's Version is still
	// version: ErrConflict if it changed, ErrNotFound if there is no such
	// session. An event whose id the session holds already pending is
	// stored once.
	AddSupportEvents(ctx context.Context, id string, version int64, evs ...SupportEvent) error
	// SupportEventsPublished removes the pending entries ids (events or
	// notices) of session sessionID: they were published or sent. Ids it
	// does not hold are ignored.
	SupportEventsPublished(ctx context.Context, sessionID string, ids ...string) error
	// SetAgentActive sets the agent's Active count to active if it is
	// still from: the repair of a count a crash left wrong (see
	// AgentLoad). ErrConflict if the count is no longer from, ErrNotFound
	// if there is no such agent.
	SetAgentActive(ctx context.Context, userID string, from, active int) error
}

// SupportEvent is an entry of the support outbox: a post event (a webhook
// event) or a notice (a system message to the visitor or an agent) of a
// support session's step, stored with the step's change and kept, pending,
// until it is published (an event) or sent (a notice). It makes what a
// step tells as durable as the change: a process that dies between the
// change and the publication leaves the entry pending, and a drain
// (Store.PendingSupportEvents; webhook.Outbox for events,
// support.Service for notices) publishes or sends it later, under the same
// id, so that receivers (and, for a notice, the message store)
// deduplicate it.
type SupportEvent struct {
	// AppID is the entry's app, set by Store.PendingSupportEvents; the
	// app-scoped methods ignore it.
	AppID string
	// SessionID is the session whose step the entry reports. The
	// app-scoped methods that take entries set it to the session changed.
	SessionID string
	// Kind is SupportKindEvent (the zero value) or SupportKindNotice.
	Kind string
	// ID is an event's id, the deliveries' webhook-id, or a notice's
	// client message id. It is unique in the app.
	ID string
	// Type is an event's type, or the step a notice tells (such as
	// "assigned" or "closed").
	Type string
	// UserID is the user a notice goes to; empty for an event.
	UserID string
	// At is the entry's time; a drain takes the entries pending since
	// before a cutoff by it.
	At time.Time
	// Payload is an event's delivery body (JSON), as published, or a
	// notice's message content.
	Payload []byte
}

// Kinds of support outbox entries (SupportEvent.Kind).
const (
	// SupportKindEvent is a post event for the app's webhooks.
	SupportKindEvent = ""
	// SupportKindNotice is a system message to a visitor or an agent.
	SupportKindNotice = "notice"
)

// AgentLoad is an agent's Active count as stored beside the active
// sessions that say what it should be: what the repair sweep reads
// (Store.AgentLoads). In an engine without transactions a process that
// dies between a session's write and its agent's count leaves the count
// wrong until SetAgentActive repairs it.
type AgentLoad struct {
	AppID, UserID string
	// Active is the count as stored.
	Active int
	// Sessions is the number of the agent's active sessions.
	Sessions int
	// Mark sums up the agent's active sessions (their ids and versions):
	// it changes, but for a hash collision, whenever one of them changes,
	// leaves or joins.
	Mark uint64
}

// AddSession counts one of the agent's active sessions into l's Sessions
// and Mark. The stores call it for each session, in any order.
func (l *AgentLoad) AddSession(id string, version int64) {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(version)))
	l.Sessions++
	l.Mark += h.Sum64() // a sum, so that the order of the sessions does not matter
}

// Agent is an app user who answers visitors.
type Agent struct {
	UserID string
	// Skills are the queues the agent serves, such as "billing"; the
	// default queue is the empty skill, which every agent serves.
	Skills []string
	// Capacity is how many active sessions the agent takes at once.
	Capacity int
	// Available agents take new sessions; unavailable ones keep theirs.
	Available bool
	// Active is the number of the agent's active sessions (kept by the
	// store).
	Active    int
	UpdatedAt time.Time
}

// States of a support session.
const (
	SupportWaiting = "waiting" // in its skill's queue, no agent yet
	SupportActive  = "active"  // with an agent
	SupportClosed  = "closed"
)

// SupportSession is one conversation between a visitor and the app's
// service: it waits in a queue, is assigned to an agent, may be
// transferred, and is closed and rated.
type SupportSession struct {
	ID        string
	VisitorID string
	// Skill is the queue the session waits in (empty: the default queue).
	Skill string
	// AgentID is the agent of an active session (and the last agent of a
	// closed one); empty while waiting.
	AgentID    string
	State      string
	CreatedAt  time.Time
	AssignedAt time.Time // zero until assigned
	ClosedAt   time.Time // zero until closed
	ClosedBy   string
	// Rating (1 to 5, 0 for none) and Comment are the visitor's.
	Rating  int
	Comment string
	Version int64
}

// SupportQuery selects support sessions. Empty fields do not filter.
type SupportQuery struct {
	State     string
	Skill     string
	VisitorID string
	AgentID   string
	// FilterSkill makes an empty Skill select the default queue instead
	// of every skill.
	FilterSkill bool
	Limit       int
}
