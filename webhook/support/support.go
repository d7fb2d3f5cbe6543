// Package support is Magpie's customer-service routing: an app's agents
// (app users with skills and a capacity) answer visitors (app users) in
// support sessions. A new session is routed by the app's routing webhook
// when it has one (an agent, or a skill queue), else by the built-in
// router: the least-loaded available, online agent with the skill; with
// none free the visitor waits, told its position in the queue. Sessions
// are transferred, closed and rated; every step is a notice to the people
// involved (a system message: durable, in order, like any message) and a
// post event for the app's webhooks, both stored with the step's change
// (the support outbox, store.SupportEvent) and sent or published from
// there: the events by Events (webhook.Outbox), the notices by the
// Service. What a crash leaves pending, drains send later: the notices'
// drain (DrainNotices) and the routing sweep (Sweep), which routes the
// visitors that a step interrupted by a crash left waiting beside a free
// agent and tells the waiting visitors their positions, run together in
// RunSweep.
//
// A Service is safe for concurrent use, in any number of processes: the
// store's conditional writes keep an agent within its capacity and a
// session with one agent.
package support

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/webhook"
)

// Event types of support sessions, delivered to the app's webhooks.
const (
	EventCreated     = webhook.EventSupportCreated
	EventQueued      = webhook.EventSupportQueued
	EventAssigned    = webhook.EventSupportAssigned
	EventTransferred = webhook.EventSupportTransferred
	EventClosed      = webhook.EventSupportClosed
	EventRated       = webhook.EventSupportRated
)

// Limits of the inputs.
const (
	MaxSkills     = 16
	MaxSkillLen   = 64
	MaxCapacity   = 1000
	MaxComment    = 1024
	maxAssignTry  = 8  // agents tried in turn when others fill up meanwhile
	maxQueueNotes = 50 // queue positions told at once after a change
)

// Errors of the Service besides *ValidationError; others come from the
// store.
var (
	// ErrNotFound means the agent, session or user does not exist (in this app).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the session is in a state that does not allow the
	// change (closed, already rated, the agent full, a visitor with an open
	// session), or it changed meanwhile too often.
	ErrConflict = errors.New("conflict")
	// ErrBusy means the agent still has active sessions.
	ErrBusy = errors.New("the agent has active sessions; transfer or close them first")
)

// ValidationError is an input the Service refuses.
type ValidationError struct {
	Field, Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Store is what the Service needs of the store.
type Store interface {
	App(appID string) store.AppStore
	WaitingSupportApps(ctx context.Context, after string, before time.Time, limit int) ([]string, error)
	PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]store.SupportEvent, error)
}

// Sender sends system messages; *messaging.Service is one.
type Sender interface {
	Send(ctx context.Context, req messaging.SendRequest) (store.Appended, error)
}

// Presence tells which users have a device online.
type Presence interface {
	UsersOnline(ctx context.Context, appID string, userIDs []string) (map[string]bool, error)
}

// Events publishes the post events of the steps; webhook.Outbox is one.
// A step stores its events with its change (store.SupportEvent, the
// support outbox), then hands them to Publish; what a crash or a failed
// publication leaves pending, the outbox's drain publishes later.
type Events interface {
	// Wants reports whether an app may take events of type typ; a step
	// stores only the events wanted. It must not block.
	Wants(appID, typ string) bool
	// Publish publishes the stored events of a step and marks them
	// published.
	Publish(ctx context.Context, appID string, evs []store.SupportEvent) error
}

// Router asks the app's routing webhook (webhook.Moderator.Route).
type Router interface {
	Route(ctx context.Context, appID, id string, data any) ([]byte, error)
}

// Config configures a Service. Sender and Presence are required.
type Config struct {
	Sender   Sender
	Presence Presence
	// Router asks the routing webhook; nil routes with the built-in router
	// only.
	Router Router
	// Events publishes the steps' post events; nil emits none.
	Events Events
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Metrics records the notices' drain and the routing sweep. Nil
	// records nothing.
	Metrics *telemetry.Metrics
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Service routes and tracks support sessions.
type Service struct {
	st  Store
	cfg Config
	log *slog.Logger
}

// New returns a Service on st.
func New(st Store, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, cfg: cfg, log: log}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// AgentInput is an agent's settings.
type AgentInput struct {
	Skills    []string
	Capacity  int
	Available bool
}

func checkSkill(field, skill string) error {
	if len(skill) > MaxSkillLen || !utf8.ValidString(skill) {
		return invalid(field, "a skill is at most %d bytes of UTF-8", MaxSkillLen)
	}
	return nil
}

// PutAgent makes a user an agent or changes its settings; an agent that
// becomes available takes waiting sessions of its skills at once.
func (s *Service) PutAgent(ctx context.Context, appID, userID string, in AgentInput) (store.Agent, error) {
	if len(in.Skills) > MaxSkills {
		return store.Agent{}, invalid("skills", "at most %d skills", MaxSkills)
	}
	for _, sk := range in.Skills {
		if err := checkSkill("skills", sk); err != nil {
			return store.Agent{}, err
		}
	}
	if in.Capacity < 1 || in.Capacity > MaxCapacity {
		return store.Agent{}, invalid("capacity", "must be from 1 to %d", MaxCapacity)
	}
	skills := slices.Clone(in.Skills)
	slices.Sort(skills)
	a := store.Agent{UserID: userID, Skills: slices.Compact(skills), Capacity: in.Capacity, Available: in.Available, UpdatedAt: s.now()}
	if err := s.st.App(appID).PutAgent(ctx, a); errors.Is(err, store.ErrNotFound) {
		return store.Agent{}, ErrNotFound
	} else if err != nil {
		return store.Agent{}, err
	}
	got, err := s.st.App(appID).GetAgent(ctx, userID)
	if err != nil {
		return store.Agent{}, err
	}
	if got.Available {
		for _, sk := range append([]string{""}, got.Skills...) {
			s.dispatch(ctx, appID, sk)
		}
	}
	return got, nil
}

// Agents returns the app's agents with skill (all when empty).
func (s *Service) Agents(ctx context.Context, appID, skill string) ([]store.Agent, error) {
	return s.st.App(appID).ListAgents(ctx, skill)
}

// Online reports which of an app's users (agents, visitors) have a device
// online, as the built-in router sees them.
func (s *Service) Online(ctx context.Context, appID string, userIDs []string) (map[string]bool, error) {
	return s.cfg.Presence.UsersOnline(ctx, appID, userIDs)
}

// DeleteAgent removes an agent without active sessions.
func (s *Service) DeleteAgent(ctx context.Context, appID, userID string) error {
	switch err := s.st.App(appID).DeleteAgent(ctx, userID); {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrLimit):
		return ErrBusy
	default:
		return err
	}
}

// Get returns one session.
func (s *Service) Get(ctx context.Context, appID, id string) (store.SupportSession, error) {
	ss, err := s.st.App(appID).GetSupportSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ss, ErrNotFound
	}
	return ss, err
}

// List returns sessions in queue order.
func (s *Service) List(ctx context.Context, appID string, q store.SupportQuery) ([]store.SupportSession, error) {
	return s.st.App(appID).ListSupportSessions(ctx, q)
}

// Open starts a support session for visitor in the queue of skill and
// routes it: to the agent or queue the routing webhook names, else to the
// least-loaded available online agent with the skill; with none free the
// session waits and the visitor is told its position.
func (s *Service) Open(ctx context.Context, appID, visitorID, skill string) (store.SupportSession, error) {
	if err := checkSkill("skill", skill); err != nil {
		return store.SupportSession{}, err
	}
	a := s.st.App(appID)
	open, err := a.ListSupportSessions(ctx, store.SupportQuery{VisitorID: visitorID, Limit: 100})
	if err != nil {
		return store.SupportSession{}, err
	}
	for _, o := range open {
		if o.State != store.SupportClosed {
			return s.resume(ctx, appID, o), fmt.Errorf("%w: the visitor has an open session %s", ErrConflict, o.ID)
		}
	}
	ss := store.SupportSession{ID: "ss_" + rand.Text()[:20], VisitorID: visitorID, Skill: skill, State: store.SupportWaiting, CreatedAt: s.now(), Version: 1}
	evs := s.events(appID, EventCreated, ss, "")
	if err := a.CreateSupportSession(ctx, ss, evs...); errors.Is(err, store.ErrNotFound) {
		return store.SupportSession{}, ErrNotFound
	} else if err != nil {
		return store.SupportSession{}, err
	}
	s.tell(ctx, appID, evs)
	return s.place(ctx, appID, ss), nil
}

// place routes a waiting session: to the agent or queue the routing
// webhook names, else to the least-loaded free agent; with none free it
// waits and the visitor is told its position. It returns the session as
// it left it.
func (s *Service) place(ctx context.Context, appID string, ss store.SupportSession) store.SupportSession {
	ss, placed := s.route(ctx, appID, ss)
	if placed {
		return ss
	}
	if got, ok := s.assignBest(ctx, appID, ss); ok {
		return got
	}
	s.queued(ctx, appID, ss)
	s.tellPositions(ctx, appID, ss.Skill)
	return ss
}

// queued reports that a waiting session found no agent (its
// support.session.queued event), unless it changed meanwhile.
func (s *Service) queued(ctx context.Context, appID string, ss store.SupportSession) {
	evs := s.events(appID, EventQueued, ss, "")
	if len(evs) == 0 {
		return
	}
	switch err := s.st.App(appID).AddSupportEvents(ctx, ss.ID, ss.Version, evs...); {
	case err == nil:
		s.tell(ctx, appID, evs)
	case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound):
		s.log.WarnContext(ctx, "support event not stored", "app_id", appID, "session_id", ss.ID, "type", EventQueued, "err", err)
	}
}

// resume finishes what a process killed in the middle of a visitor's open
// session may have left undone, when the visitor asks again (its SDK
// resends after reconnecting): a waiting session is placed again (it may
// have been stored and never routed), an active one's assignment told
// again at once (its notices, stored with the assignment, would otherwise
// wait for the drain). Each step is conditional on the session's version
// or keyed by it (a notice told twice is stored once), so resuming a
// session routed and told long ago changes nothing. It returns the
// session as it left it.
func (s *Service) resume(ctx context.Context, appID string, ss store.SupportSession) store.SupportSession {
	switch ss.State {
	case store.SupportWaiting:
		return s.place(ctx, appID, ss)
	case store.SupportActive:
		s.tell(ctx, appID, []store.SupportEvent{s.notice(appID, ss.VisitorID, ss, "assigned"), s.notice(appID, ss.AgentID, ss, "assigned")})
	}
	return ss
}

// routeAnswer is the routing webhook's answer.
type routeAnswer struct {
	AgentID string  `json:"agent_id"`
	Skill   *string `json:"skill"`
}

// route asks the routing webhook. It returns the session as it left it
// (moved to the queue the hook named) and whether it placed it with an
// agent.
func (s *Service) route(ctx context.Context, appID string, ss store.SupportSession) (store.SupportSession, bool) {
	if s.cfg.Router == nil {
		return ss, false
	}
	body, err := s.cfg.Router.Route(ctx, appID, "route_"+ss.ID, map[string]string{"session_id": ss.ID, "visitor_id": ss.VisitorID, "skill": ss.Skill})
	if errors.Is(err, webhook.ErrNoHook) {
		return ss, false
	}
	var ans routeAnswer
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &ans)
	}
	if err != nil {
		s.log.WarnContext(ctx, "routing webhook failed; routing with the built-in router", "app_id", appID, "session_id", ss.ID, "err", err)
		return ss, false
	}
	if ans.AgentID != "" {
		got, err := s.assign(ctx, appID, ss, ans.AgentID)
		if err == nil {
			return got, true
		}
		s.log.InfoContext(ctx, "agent named by the routing webhook cannot take the session", "app_id", appID, "session_id", ss.ID, "err", err)
		return ss, false
	}
	if ans.Skill != nil && *ans.Skill != ss.Skill && checkSkill("skill", *ans.Skill) == nil {
		got, err := s.st.App(appID).RequeueSupportSession(ctx, ss.ID, ss.Version, *ans.Skill)
		if err == nil {
			return got, false // waits in the named queue; the built-in router goes on from there
		}
	}
	return ss, false
}

// assignBest assigns a waiting session to the least-loaded available,
// online agent with its skill; ok is false when none has room.
func (s *Service) assignBest(ctx context.Context, appID string, ss store.SupportSession) (store.SupportSession, bool) {
	agents, err := s.candidates(ctx, appID, ss.Skill)
	if err != nil {
		s.log.WarnContext(ctx, "list agents", "app_id", appID, "err", err)
		return ss, false
	}
	for i, ag := range agents {
		if i == maxAssignTry {
			break
		}
		got, err := s.assign(ctx, appID, ss, ag.UserID)
		if err == nil {
			return got, true
		}
		if errors.Is(err, ErrConflict) && !errors.Is(err, errAgentFull) {
			return ss, false // the session changed: someone else placed it
		}
	}
	return ss, false
}

// candidates returns the available online agents of skill with room, the
// least loaded first.
func (s *Service) candidates(ctx context.Context, appID, skill string) ([]store.Agent, error) {
	all, err := s.st.App(appID).ListAgents(ctx, skill)
	if err != nil {
		return nil, err
	}
	var ids []string
	free := all[:0]
	for _, a := range all {
		if a.Available && a.Active < a.Capacity {
			free = append(free, a)
			ids = append(ids, a.UserID)
		}
	}
	if len(free) == 0 {
		return nil, nil
	}
	online, err := s.cfg.Presence.UsersOnline(ctx, appID, ids)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(free, func(a store.Agent) bool { return !online[a.UserID] })
	slices.SortStableFunc(out, func(a, b store.Agent) int {
		// Least loaded relative to capacity, then fewest sessions.
		if d := a.Active*b.Capacity - b.Active*a.Capacity; d != 0 {
			return d
		}
		return a.Active - b.Active
	})
	return out, nil
}

var errAgentFull = fmt.Errorf("%w: the agent is full", ErrConflict)

// assign gives ss to agent and tells both; a transfer tells the previous
// agent too.
func (s *Service) assign(ctx context.Context, appID string, ss store.SupportSession, agent string) (store.SupportSession, error) {
	ev := EventAssigned
	if ss.AgentID != "" {
		ev = EventTransferred
	}
	next := ss
	next.State, next.AgentID, next.AssignedAt, next.Version = store.SupportActive, agent, s.now(), ss.Version+1
	evs := s.events(appID, ev, next, ss.AgentID)
	if ss.AgentID != "" {
		evs = append(evs, s.notice(appID, ss.AgentID, next, "transferred_away"))
	}
	evs = append(evs, s.notice(appID, next.VisitorID, next, "assigned"), s.notice(appID, agent, next, "assigned"))
	got, err := s.st.App(appID).AssignSupportSession(ctx, ss.ID, ss.Version, agent, next.AssignedAt, evs...)
	switch {
	case errors.Is(err, store.ErrLimit):
		return ss, errAgentFull
	case errors.Is(err, store.ErrConflict):
		return ss, fmt.Errorf("%w: the session changed", ErrConflict)
	case errors.Is(err, store.ErrNotFound):
		return ss, ErrNotFound
	case err != nil:
		return ss, err
	}
	s.tell(ctx, appID, evs)
	if ss.State == store.SupportWaiting {
		s.tellPositions(ctx, appID, ss.Skill)
	}
	return got, nil
}

// Transfer moves an open session to agent toAgent, or to the queue of
// toSkill when toAgent is empty.
func (s *Service) Transfer(ctx context.Context, appID, id, toAgent string, toSkill *string) (store.SupportSession, error) {
	ss, err := s.Get(ctx, appID, id)
	if err != nil {
		return ss, err
	}
	if ss.State == store.SupportClosed {
		return ss, fmt.Errorf("%w: the session is closed", ErrConflict)
	}
	if toAgent != "" {
		return s.assign(ctx, appID, ss, toAgent)
	}
	if toSkill == nil {
		return ss, invalid("agent_id", "name an agent_id or a skill to transfer to")
	}
	if err := checkSkill("skill", *toSkill); err != nil {
		return ss, err
	}
	next := ss
	next.State, next.AgentID, next.AssignedAt, next.Skill, next.Version = store.SupportWaiting, "", time.Time{}, *toSkill, ss.Version+1
	evs := s.events(appID, EventTransferred, next, ss.AgentID)
	if ss.AgentID != "" {
		evs = append(evs, s.notice(appID, ss.AgentID, next, "transferred_away"))
	}
	got, err := s.st.App(appID).RequeueSupportSession(ctx, id, ss.Version, *toSkill, evs...)
	if errors.Is(err, store.ErrConflict) {
		return ss, fmt.Errorf("%w: the session changed", ErrConflict)
	} else if err != nil {
		return ss, err
	}
	s.tell(ctx, appID, evs)
	if placed, ok := s.assignBest(ctx, appID, got); ok {
		got = placed
	} else {
		s.queued(ctx, appID, got)
		s.tellPositions(ctx, appID, got.Skill)
	}
	if ss.AgentID != "" {
		s.dispatchAgent(ctx, appID, ss.AgentID)
	}
	return got, nil
}

// Close closes an open session, by the visitor or an agent; the agent's
// freed place goes to the next waiting visitor.
func (s *Service) Close(ctx context.Context, appID, id, by string) (store.SupportSession, error) {
	ss, err := s.Get(ctx, appID, id)
	if err != nil {
		return ss, err
	}
	next := ss
	next.State, next.ClosedAt, next.ClosedBy, next.Version = store.SupportClosed, s.now(), by, ss.Version+1
	evs := append(s.events(appID, EventClosed, next, ""), s.notice(appID, next.VisitorID, next, "closed"))
	if next.AgentID != "" {
		evs = append(evs, s.notice(appID, next.AgentID, next, "closed"))
	}
	got, err := s.st.App(appID).CloseSupportSession(ctx, id, ss.Version, by, next.ClosedAt, evs...)
	if errors.Is(err, store.ErrConflict) {
		return ss, fmt.Errorf("%w: the session is closed or changed", ErrConflict)
	} else if err != nil {
		return ss, err
	}
	s.tell(ctx, appID, evs)
	if got.AgentID != "" {
		s.dispatchAgent(ctx, appID, got.AgentID)
	} else {
		s.tellPositions(ctx, appID, got.Skill)
	}
	return got, nil
}

// Rate records the visitor's rating of a closed session.
func (s *Service) Rate(ctx context.Context, appID, id string, rating int, comment string) (store.SupportSession, error) {
	if rating < 1 || rating > 5 {
		return store.SupportSession{}, invalid("rating", "must be from 1 to 5")
	}
	if len(comment) > MaxComment || !utf8.ValidString(comment) {
		return store.SupportSession{}, invalid("comment", "at most %d bytes of UTF-8", MaxComment)
	}
	// The event describes the session as rated: read it first (a closed
	// session changes no more but for its one rating).
	var evs []store.SupportEvent
	if s.wants(appID, EventRated) {
		ss, err := s.Get(ctx, appID, id)
		if err != nil {
			return ss, err
		}
		ss.Rating, ss.Comment = rating, comment
		evs = s.events(appID, EventRated, ss, "")
	}
	got, err := s.st.App(appID).RateSupportSession(ctx, id, rating, comment, evs...)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return got, ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return got, fmt.Errorf("%w: only a closed session is rated, once", ErrConflict)
	case err != nil:
		return got, err
	}
	s.tell(ctx, appID, evs)
	return got, nil
}

// dispatchAgent gives a freed agent the next waiting sessions of its
// skills.
func (s *Service) dispatchAgent(ctx context.Context, appID, agentID string) {
	ag, err := s.st.App(appID).GetAgent(ctx, agentID)
	if err != nil {
		return
	}
	for _, sk := range append([]string{""}, ag.Skills...) {
		s.dispatch(ctx, appID, sk)
	}
}

// dispatch assigns the waiting sessions of skill, oldest first, while
// agents have room, then tells the others their positions. It returns how
// many it assigned.
func (s *Service) dispatch(ctx context.Context, appID, skill string) int {
	waiting, err := s.st.App(appID).ListSupportSessions(ctx, store.SupportQuery{State: store.SupportWaiting, Skill: skill, FilterSkill: true, Limit: maxQueueNotes})
	if err != nil {
		s.log.WarnContext(ctx, "list waiting sessions", "app_id", appID, "err", err)
		return 0
	}
	moved := 0
	for _, ss := range waiting {
		if _, ok := s.assignBest(ctx, appID, ss); !ok {
			break
		}
		moved++
	}
	if moved > 0 {
		s.tellPositions(ctx, appID, skill)
	}
	return moved
}

// SessionData is the payload of the support.session.* events.
type SessionData struct {
	SessionID       string     `json:"session_id"`
	VisitorID       string     `json:"visitor_id"`
	Skill           string     `json:"skill"`
	AgentID         string     `json:"agent_id,omitempty"`
	PreviousAgentID string     `json:"previous_agent_id,omitempty"`
	State           string     `json:"state"`
	CreatedAt       time.Time  `json:"created_at"`
	AssignedAt      *time.Time `json:"assigned_at,omitempty"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	ClosedBy        string     `json:"closed_by,omitempty"`
	Rating          int        `json:"rating,omitempty"`
	Comment         string     `json:"comment,omitempty"`
}

// wants reports whether the app may take events of type typ.
func (s *Service) wants(appID, typ string) bool {
	return s.cfg.Events != nil && s.cfg.Events.Wants(appID, typ)
}

// events returns the post event of type typ reporting ss (as the step
// leaves it; prev is the agent a transfer took it from), ready to be
// stored with the step's change; none if the app takes no such event.
// Its id derives from the session, its version and the type, so a step
// told twice is one event.
func (s *Service) events(appID, typ string, ss store.SupportSession, prev string) []store.SupportEvent {
	if !s.wants(appID, typ) {
		return nil
	}
	d := SessionData{SessionID: ss.ID, VisitorID: ss.VisitorID, Skill: ss.Skill, AgentID: ss.AgentID, PreviousAgentID: prev,
		State: ss.State, CreatedAt: ss.CreatedAt, ClosedBy: ss.ClosedBy, Rating: ss.Rating, Comment: ss.Comment}
	if !ss.AssignedAt.IsZero() {
		t := ss.AssignedAt
		d.AssignedAt = &t
	}
	if !ss.ClosedAt.IsZero() {
		t := ss.ClosedAt
		d.ClosedAt = &t
	}
	key := ss.ID + "@" + strconv.FormatInt(ss.Version, 10)
	ev := webhook.NewEvent(appID, typ, key, s.now(), d)
	p, err := ev.Payload(appID)
	if err != nil {
		s.log.Error("support event not encoded", "app_id", appID, "type", typ, "err", err)
		return nil
	}
	return []store.SupportEvent{{SessionID: ss.ID, ID: ev.ID, Type: typ, At: ev.At, Payload: p}}
}
