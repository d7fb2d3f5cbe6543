package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// Customer service without transactions. An agent's Active count lives in
// its document and a session's state in the session's, so each state
// change is two single-document writes, each conditional:
//
//   - AssignSupportSession first takes a place of the new agent (an $inc of
//     active only while active < capacity), then updates the session only
//     while it has the version read, is not closed and is not the agent's;
//     if that update matches nothing it gives the place back. On success it
//     gives back the previous agent's place, if the session had one.
//   - RequeueSupportSession and CloseSupportSession update the session
//     first, conditionally, then give back its agent's place.
//
// No interleaving of calls, in any number of processes, lets an agent's
// Active exceed its Capacity: every place is taken by the conditional $inc.
// The crash window: a process that dies between the two writes leaves an
// Active count off by one (one too high after the place was taken or
// before it was given back; the agent then refuses a session it could
// take). The workers' repair sweep (maintenance.AgentRepair, through
// AgentLoads and SetAgentActive) sets such a count from the sessions once
// it has stood still for a grace period. Giving back never takes a count
// below 0.

// agentDoc is an agent (_id.id is its user id). Skills is left out when
// empty.
type agentDoc struct {
	ID        appKey    `bson:"_id"`
	Skills    []string  `bson:"skills,omitempty"`
	Capacity  int       `bson:"capacity"`
	Available bool      `bson:"available"`
	Active    int       `bson:"active"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// supportDoc is a support session (_id.id). Agent is "" while waiting.
type supportDoc struct {
	ID         appKey    `bson:"_id"`
	Visitor    string    `bson:"visitor"`
	Skill      string    `bson:"skill"`
	Agent      string    `bson:"agent"`
	State      string    `bson:"state"`
	CreatedAt  time.Time `bson:"created_at"`
	AssignedAt time.Time `bson:"assigned_at,omitempty"`
	ClosedAt   time.Time `bson:"closed_at,omitempty"`
	ClosedBy   string    `bson:"closed_by,omitempty"`
	Rating     int       `bson:"rating"`
	Comment    string    `bson:"comment,omitempty"`
	Version    int64     `bson:"version"`
	// Outbox holds the session's pending events and Notices its pending
	// notices (store.SupportEvent), written by the same single-document
	// update as the change they report; see supportoutbox.go.
	Outbox  []supportEventDoc `bson:"outbox,omitempty"`
	Notices []supportEventDoc `bson:"notices,omitempty"`
}

func (d agentDoc) record() store.Agent {
	return store.Agent{UserID: d.ID.ID, Skills: d.Skills, Capacity: d.Capacity, Available: d.Available,
		Active: d.Active, UpdatedAt: utc(d.UpdatedAt)}
}

func (d supportDoc) record() store.SupportSession {
	return store.SupportSession{
		ID: d.ID.ID, VisitorID: d.Visitor, Skill: d.Skill, AgentID: d.Agent, State: d.State,
		CreatedAt: utc(d.CreatedAt), AssignedAt: utc(d.AssignedAt), ClosedAt: utc(d.ClosedAt),
		ClosedBy: d.ClosedBy, Rating: d.Rating, Comment: d.Comment, Version: d.Version,
	}
}

// PutAgent makes a user an agent, or replaces its skills, capacity,
// availability and update time: an upsert that sets active only when it
// inserts. store.ErrNotFound if the user does not exist. A DeleteUser
// racing with it removes the agent after the user (see deleteUserEntries).
func (a *appStore) PutAgent(ctx context.Context, ag store.Agent) error {
	if err := a.putAgent(ctx, ag); err != nil {
		return fmt.Errorf("put agent %s: %w", ag.UserID, err)
	}
	return nil
}

func (a *appStore) putAgent(ctx context.Context, ag store.Agent) error {
	k := a.key(ag.UserID)
	if _, err := findOne[userDoc](ctx, a.s.c.users, byID(k), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})); err != nil {
		return err
	}
	var skills []string
	if len(ag.Skills) > 0 {
		skills = ag.Skills
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "skills", Value: skills}, {Key: "capacity", Value: ag.Capacity},
			{Key: "available", Value: ag.Available}, {Key: "updated_at", Value: ag.UpdatedAt},
		}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "active", Value: 0}}},
	}
	var err error
	for range 2 { // two upserts of a new agent at once: one inserts, the other updates on retry
		_, err = a.s.c.agents.UpdateOne(ctx, byID(k), update, options.UpdateOne().SetUpsert(true))
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return errorf(err, "upsert")
	}
	return nil
}

// GetAgent returns one agent, or store.ErrNotFound.
func (a *appStore) GetAgent(ctx context.Context, userID string) (store.Agent, error) {
	d, err := findOne[agentDoc](ctx, a.s.c.agents, byID(a.key(userID)))
	if err != nil {
		return store.Agent{}, fmt.Errorf("get agent %s: %w", userID, err)
	}
	return d.record(), nil
}

// ListAgents returns the agents that have skill (all when it is empty), by
// user id.
func (a *appStore) ListAgents(ctx context.Context, skill string) ([]store.Agent, error) {
	var conds []bson.E
	if skill != "" {
		conds = append(conds, bson.E{Key: "skills", Value: skill})
	}
	ds, err := findAll[agentDoc](ctx, a.s.c.agents, a.scope(conds...),
		options.Find().SetSort(bson.D{{Key: "_id.id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return records(ds, agentDoc.record), nil
}

// DeleteAgent removes an agent without active sessions: one conditional
// delete, then, if it removed nothing, a read that tells store.ErrLimit
// (the agent has sessions) from store.ErrNotFound.
func (a *appStore) DeleteAgent(ctx context.Context, userID string) error {
	k := a.key(userID)
	res, err := a.s.c.agents.DeleteOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "active", Value: bson.D{{Key: "$lte", Value: 0}}}})
	if err == nil && res.DeletedCount == 0 {
		_, err = findOne[agentDoc](ctx, a.s.l.agents, byID(k))
		if err == nil {
			err = fmt.Errorf("agent has active sessions: %w", store.ErrLimit)
		}
	}
	if err != nil {
		return errorf(err, "delete agent %s", userID)
	}
	return nil
}

// CreateSupportSession stores a waiting session at Version 1 if its
// visitor exists (store.ErrNotFound otherwise); a taken id is a duplicate
// key, store.ErrConflict.
func (a *appStore) CreateSupportSession(ctx context.Context, s store.SupportSession, evs ...store.SupportEvent) error {
	if s.State != store.SupportWaiting || s.AgentID != "" {
		return fmt.Errorf("create support session %s: state %q with agent %q, want waiting without one", s.ID, s.State, s.AgentID)
	}
	_, err := findOne[userDoc](ctx, a.s.c.users, byID(a.key(s.VisitorID)), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err == nil {
		_, err = a.s.c.supportSessions.InsertOne(ctx, supportDoc{
			ID: a.key(s.ID), Visitor: s.VisitorID, Skill: s.Skill, State: store.SupportWaiting,
			CreatedAt: s.CreatedAt, Version: 1,
			Outbox: eventDocs(evs, store.SupportKindEvent), Notices: eventDocs(evs, store.SupportKindNotice),
		})
	}
	if err != nil {
		return errorf(err, "create support session %s", s.ID)
	}
	return nil
}

// GetSupportSession returns one session, or store.ErrNotFound.
func (a *appStore) GetSupportSession(ctx context.Context, id string) (store.SupportSession, error) {
	d, err := findOne[supportDoc](ctx, a.s.c.supportSessions, byID(a.key(id)))
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("get support session %s: %w", id, err)
	}
	return d.record(), nil
}

// ListSupportSessions returns up to q.Limit sessions that match q, by
// creation time then id.
func (a *appStore) ListSupportSessions(ctx context.Context, q store.SupportQuery) ([]store.SupportSession, error) {
	if q.Limit <= 0 {
		return nil, nil // MongoDB reads a zero limit as none
	}
	var conds []bson.E
	if q.State != "" {
		conds = append(conds, bson.E{Key: "state", Value: q.State})
	}
	if q.Skill != "" || q.FilterSkill {
		conds = append(conds, bson.E{Key: "skill", Value: q.Skill})
	}
	if q.VisitorID != "" {
		conds = append(conds, bson.E{Key: "visitor", Value: q.VisitorID})
	}
	if q.AgentID != "" {
		conds = append(conds, bson.E{Key: "agent", Value: q.AgentID})
	}
	ds, err := findAll[supportDoc](ctx, a.s.c.supportSessions, a.scope(conds...),
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id.id", Value: 1}}).SetLimit(int64(q.Limit)))
	if err != nil {
		return nil, fmt.Errorf("list support sessions: %w", err)
	}
	return records(ds, supportDoc.record), nil
}

// agentRounds caps the rounds of takeAgentPlace whose conditional $inc
// misses because the agent changed between its read and the update.
const agentRounds = 16

// takeAgentPlace adds one to an agent's active count while it is below the
// capacity: it reads the agent, then increments active only while the
// capacity is the one read and active is below it, reading again if that
// misses. store.ErrNotFound if there is no such agent, store.ErrLimit if it
// is full.
func (a *appStore) takeAgentPlace(ctx context.Context, agentID string) error {
	k := a.key(agentID)
	for range agentRounds {
		d, err := findOne[agentDoc](ctx, a.s.l.agents, byID(k))
		if err != nil {
			return fmt.Errorf("agent %s: %w", agentID, err)
		}
		if d.Active >= d.Capacity {
			return fmt.Errorf("agent %s has %d of %d sessions: %w", agentID, d.Active, d.Capacity, store.ErrLimit)
		}
		filter := bson.D{{Key: "_id", Value: k}, {Key: "capacity", Value: d.Capacity},
			{Key: "active", Value: bson.D{{Key: "$lt", Value: d.Capacity}}}}
		res, err := a.s.c.agents.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "active", Value: 1}}}})
		if err != nil {
			return errorf(err, "take a place of agent %s", agentID)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("agent %s kept changing for %d rounds", agentID, agentRounds)
}

// releaseAgent takes one from an agent's active count, never below 0 (the
// agent may have been deleted, or deleted and put again). It runs without
// the caller's cancellation: the write it completes has happened.
func (a *appStore) releaseAgent(ctx context.Context, agentID string) error {
	filter := bson.D{{Key: "_id", Value: a.key(agentID)}, {Key: "active", Value: bson.D{{Key: "$gt", Value: 0}}}}
	_, err := a.s.c.agents.UpdateOne(context.WithoutCancel(ctx), filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "active", Value: -1}}}})
	if err != nil {
		return errorf(err, "release agent %s", agentID)
	}
	return nil
}

// checkSession reads a session locally and says why a change of it
// conditional on version (and, if agentID is set, on not being that
// agent's already) cannot apply: store.ErrNotFound, store.ErrConflict, or
// nil if it could.
func (a *appStore) checkSession(ctx context.Context, id string, version int64, agentID string) error {
	d, err := findOne[supportDoc](ctx, a.s.l.supportSessions, byID(a.key(id)))
	switch {
	case err != nil:
		return err
	case d.Version != version:
		return fmt.Errorf("version %d, not %d: %w", d.Version, version, store.ErrConflict)
	case d.State == store.SupportClosed:
		return fmt.Errorf("closed: %w", store.ErrConflict)
	case agentID != "" && d.Agent == agentID:
		return fmt.Errorf("already with agent %s: %w", agentID, store.ErrConflict)
	}
	return nil
}

// changeSession applies update (with version+1, and the events evs added
// to the outbox) to session id if its version is still version, it is not
// closed and, if agentID is set, it is not that agent's; it returns the
// session as it was before.
func (a *appStore) changeSession(ctx context.Context, id string, version int64, agentID string, update bson.D, evs []store.SupportEvent) (supportDoc, error) {
	filter := bson.D{{Key: "_id", Value: a.key(id)}, {Key: "version", Value: version},
		{Key: "state", Value: bson.D{{Key: "$ne", Value: store.SupportClosed}}}}
	if agentID != "" {
		filter = append(filter, bson.E{Key: "agent", Value: bson.D{{Key: "$ne", Value: agentID}}})
	}
	update = append(update, bson.E{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}})
	update = pushEvents(update, evs)
	var d supportDoc
	err := a.s.c.supportSessions.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.Before)).Decode(&d)
	err = translate(err)
	if errors.Is(err, store.ErrNotFound) {
		// Nothing matched: say why (a session that changed after the
		// update missed it is a conflict too).
		if err = a.checkSession(ctx, id, version, agentID); err == nil {
			err = store.ErrConflict
		}
	}
	return d, err
}

// AssignSupportSession gives a session to an agent: it takes a place of
// the agent, changes the session conditionally (giving the place back if
// that fails) and gives back the previous agent's place. See the top of
// this file. Errors of the session come before those of the agent.
func (a *appStore) AssignSupportSession(ctx context.Context, id string, version int64, agentID string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	d, err := a.assignSupportSession(ctx, id, version, agentID, at, evs)
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("assign support session %s to %s: %w", id, agentID, err)
	}
	return d.record(), nil
}

func (a *appStore) assignSupportSession(ctx context.Context, id string, version int64, agentID string, at time.Time, evs []store.SupportEvent) (supportDoc, error) {
	if err := a.takeAgentPlace(ctx, agentID); err != nil {
		if serr := a.checkSession(ctx, id, version, agentID); serr != nil {
			return supportDoc{}, serr
		}
		return supportDoc{}, err
	}
	d, err := a.changeSession(ctx, id, version, agentID, set(
		bson.E{Key: "state", Value: store.SupportActive}, bson.E{Key: "agent", Value: agentID},
		bson.E{Key: "assigned_at", Value: at}), evs)
	if err != nil {
		return supportDoc{}, errors.Join(err, a.releaseAgent(ctx, agentID))
	}
	if err := a.releaseSessionAgent(ctx, d); err != nil {
		return supportDoc{}, err
	}
	d.State, d.Agent, d.AssignedAt, d.Version = store.SupportActive, agentID, at, d.Version+1
	return d, nil
}

// releaseSessionAgent gives back the place of the agent of a session that
// was active.
func (a *appStore) releaseSessionAgent(ctx context.Context, before supportDoc) error {
	if before.State != store.SupportActive || before.Agent == "" {
		return nil
	}
	return a.releaseAgent(ctx, before.Agent)
}

// RequeueSupportSession puts a session back in a queue: a conditional
// update of the session, then its agent's place given back. AssignedAt
// goes with the agent.
func (a *appStore) RequeueSupportSession(ctx context.Context, id string, version int64, skill string, evs ...store.SupportEvent) (store.SupportSession, error) {
	d, err := a.changeSession(ctx, id, version, "", bson.D{
		{Key: "$set", Value: bson.D{{Key: "state", Value: store.SupportWaiting}, {Key: "agent", Value: ""}, {Key: "skill", Value: skill}}},
		{Key: "$unset", Value: bson.D{{Key: "assigned_at", Value: ""}}},
	}, evs)
	if err == nil {
		err = a.releaseSessionAgent(ctx, d)
	}
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("requeue support session %s: %w", id, err)
	}
	d.State, d.Agent, d.Skill, d.AssignedAt, d.Version = store.SupportWaiting, "", skill, time.Time{}, d.Version+1
	return d.record(), nil
}

// CloseSupportSession closes a session: a conditional update of the
// session, then its agent's place given back. The session keeps its
// agent, as its last.
func (a *appStore) CloseSupportSession(ctx context.Context, id string, version int64, closedBy string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	d, err := a.changeSession(ctx, id, version, "", set(bson.E{Key: "state", Value: store.SupportClosed},
		bson.E{Key: "closed_at", Value: at}, bson.E{Key: "closed_by", Value: closedBy}), evs)
	if err == nil {
		err = a.releaseSessionAgent(ctx, d)
	}
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("close support session %s: %w", id, err)
	}
	d.State, d.ClosedAt, d.ClosedBy, d.Version = store.SupportClosed, at, closedBy, d.Version+1
	return d.record(), nil
}

// RateSupportSession records the rating of a closed, unrated session, and
// its events, with one conditional update; it leaves Version alone.
func (a *appStore) RateSupportSession(ctx context.Context, id string, rating int, comment string, evs ...store.SupportEvent) (store.SupportSession, error) {
	k := a.key(id)
	filter := bson.D{{Key: "_id", Value: k}, {Key: "state", Value: store.SupportClosed}, {Key: "rating", Value: 0}}
	var d supportDoc
	err := a.s.c.supportSessions.FindOneAndUpdate(ctx, filter,
		pushEvents(set(bson.E{Key: "rating", Value: rating}, bson.E{Key: "comment", Value: comment}), evs),
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	err = translate(err)
	if errors.Is(err, store.ErrNotFound) {
		if _, ferr := findOne[supportDoc](ctx, a.s.l.supportSessions, byID(k)); ferr == nil {
			err = fmt.Errorf("not closed or rated already: %w", store.ErrConflict)
		}
	}
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("rate support session %s: %w", id, err)
	}
	return d.record(), nil
}

// SetAgentActive sets an agent's Active count if it is still from: one
// conditional update, then, if it matched nothing, a read that tells
// store.ErrConflict from store.ErrNotFound.
func (a *appStore) SetAgentActive(ctx context.Context, userID string, from, active int) error {
	k := a.key(userID)
	res, err := a.s.c.agents.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "active", Value: from}},
		set(bson.E{Key: "active", Value: active}))
	if err == nil && res.MatchedCount == 0 {
		_, err = findOne[agentDoc](ctx, a.s.l.agents, byID(k))
		if err == nil {
			err = fmt.Errorf("active is not %d: %w", from, store.ErrConflict)
		}
	}
	if err != nil {
		return errorf(err, "set active of agent %s", userID)
	}
	return nil
}

// AgentLoads reads a page of agents of every app (through the app_id
// index), then, per app of the page, their active sessions (through the
// app_agent_state index). The counts are read before the sessions: a
// change between the two reads shows as a difference that the repair
// sweep sees come and go.
func (s *Store) AgentLoads(ctx context.Context, afterApp, afterUser string, limit int) ([]store.AgentLoad, error) {
	if limit <= 0 {
		return nil, nil
	}
	after := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "_id.app", Value: bson.D{{Key: "$gt", Value: afterApp}}}},
		bson.D{{Key: "_id.app", Value: afterApp}, {Key: "_id.id", Value: bson.D{{Key: "$gt", Value: afterUser}}}},
	}}}
	ags, err := findAll[agentDoc](ctx, s.l.agents, after, options.Find().
		SetSort(bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}).SetLimit(int64(limit)).
		SetProjection(bson.D{{Key: "active", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("agent loads: %w", err)
	}
	out := make([]store.AgentLoad, len(ags))
	at := make(map[appKey]int, len(ags))
	byApp := map[string][]string{}
	for i, d := range ags {
		out[i] = store.AgentLoad{AppID: d.ID.App, UserID: d.ID.ID, Active: d.Active}
		at[d.ID] = i
		byApp[d.ID.App] = append(byApp[d.ID.App], d.ID.ID)
	}
	for app, users := range byApp {
		ss, err := findAll[supportDoc](ctx, s.l.supportSessions,
			s.app(app).scope(bson.E{Key: "agent", Value: in(users)}, bson.E{Key: "state", Value: store.SupportActive}),
			options.Find().SetProjection(bson.D{{Key: "agent", Value: 1}, {Key: "version", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("agent loads of %s: %w", app, err)
		}
		for _, d := range ss {
			if i, ok := at[appKey{App: app, ID: d.Agent}]; ok {
				out[i].AddSession(d.ID.ID, d.Version)
			}
		}
	}
	return out, nil
}
