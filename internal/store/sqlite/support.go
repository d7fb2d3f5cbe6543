package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const agentColumns = `user_id, skills, capacity, available, active, updated_at`

// PutAgent makes a user an agent, or replaces its skills, capacity,
// availability and update time, keeping Active: one statement that writes
// only while the user exists. store.ErrNotFound if it does not.
func (a *appStore) PutAgent(ctx context.Context, ag store.Agent) error {
	skills, err := toJSON(nilIfNone(ag.Skills))
	if err != nil {
		return fmt.Errorf("put agent %s: encode skills: %w", ag.UserID, err)
	}
	res, err := a.exec(ctx, `INSERT INTO support_agents (app_id, `+agentColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6
		WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2)
		ON CONFLICT (app_id, user_id) DO UPDATE SET skills = excluded.skills,
			capacity = excluded.capacity, available = excluded.available, updated_at = excluded.updated_at`,
		ag.UserID, skills, ag.Capacity, ag.Available, ms(ag.UpdatedAt))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("put agent %s: %w", ag.UserID, err)
	}
	return nil
}

// nilIfNone returns nil for an empty list, so that it is stored as null.
func nilIfNone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// GetAgent returns one agent, or store.ErrNotFound.
func (a *appStore) GetAgent(ctx context.Context, userID string) (store.Agent, error) {
	ag, err := scanAgent(a.queryRow(ctx, `SELECT `+agentColumns+` FROM support_agents
		WHERE app_id = ?1 AND user_id = ?2`, userID))
	if err != nil {
		return store.Agent{}, fmt.Errorf("get agent %s: %w", userID, translate(err))
	}
	return ag, nil
}

// ListAgents returns the agents that have skill (all when it is empty), by
// user id.
func (a *appStore) ListAgents(ctx context.Context, skill string) ([]store.Agent, error) {
	rows, err := a.query(ctx, `SELECT `+agentColumns+` FROM support_agents
		WHERE app_id = ?1 AND (?2 = '' OR EXISTS (SELECT 1 FROM json_each(skills) WHERE value = ?2))
		ORDER BY user_id`, skill)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", translate(err))
	}
	ags, err := collect(rows, scanAgent)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return ags, nil
}

// DeleteAgent removes an agent without active sessions; store.ErrLimit if
// it has some, store.ErrNotFound if it is none.
func (a *appStore) DeleteAgent(ctx context.Context, userID string) error {
	res, err := a.exec(ctx, `DELETE FROM support_agents WHERE app_id = ?1 AND user_id = ?2 AND active <= 0`, userID)
	n, err := affected(res, err)
	if err == nil && n == 0 {
		err = store.ErrNotFound
		if _, gerr := a.GetAgent(ctx, userID); gerr == nil {
			err = fmt.Errorf("agent has active sessions: %w", store.ErrLimit)
		}
	}
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", userID, err)
	}
	return nil
}

func scanAgent(r scanner) (store.Agent, error) {
	var ag store.Agent
	var skills string
	var updated int64
	err := r.Scan(&ag.UserID, &skills, &ag.Capacity, &ag.Available, &ag.Active, &updated)
	if err != nil {
		return ag, err
	}
	if err := fromJSON(skills, &ag.Skills); err != nil {
		return ag, fmt.Errorf("decode skills: %w", err)
	}
	ag.UpdatedAt = fromMS(updated)
	return ag, nil
}

const supportColumns = `id, visitor_id, skill, agent_id, state, created_at, assigned_at, closed_at, closed_by,
	rating, comment, version`

// CreateSupportSession stores a waiting session at Version 1, and its
// events, in one transaction whose insert happens only while the visitor
// exists: no row means store.ErrNotFound, a taken id store.ErrConflict.
func (a *appStore) CreateSupportSession(ctx context.Context, s store.SupportSession, evs ...store.SupportEvent) error {
	if s.State != store.SupportWaiting || s.AgentID != "" {
		return fmt.Errorf("create support session %s: state %q with agent %q, want waiting without one", s.ID, s.State, s.AgentID)
	}
	err := a.inTx(ctx, func(t *appTx) error {
		res, err := t.tx.ExecContext(ctx, `INSERT INTO support_sessions (app_id, `+supportColumns+`)
			SELECT ?1, ?2, ?3, ?4, '', ?5, ?6, 0, 0, '', 0, '', 1
			WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?3)`,
			a.bind([]any{s.ID, s.VisitorID, s.Skill, store.SupportWaiting, ms(s.CreatedAt)})...)
		if err := mustAffect(res, err); err != nil {
			return err
		}
		return t.addSupportEvents(ctx, s.ID, evs)
	})
	if err != nil {
		return fmt.Errorf("create support session %s: %w", s.ID, err)
	}
	return nil
}

// GetSupportSession returns one session, or store.ErrNotFound.
func (a *appStore) GetSupportSession(ctx context.Context, id string) (store.SupportSession, error) {
	s, err := scanSupportSession(a.queryRow(ctx, `SELECT `+supportColumns+` FROM support_sessions
		WHERE app_id = ?1 AND id = ?2`, id))
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("get support session %s: %w", id, translate(err))
	}
	return s, nil
}

// ListSupportSessions returns up to q.Limit sessions that match q, by
// creation time then id. Each filter adds an equality on an indexed
// column; the planner picks among the queue, agent, visitor and creation
// indexes.
func (a *appStore) ListSupportSessions(ctx context.Context, q store.SupportQuery) ([]store.SupportSession, error) {
	if q.Limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as none
	}
	where := `app_id = ?1`
	args := []any{q.Limit}
	eq := func(col string, v string) {
		args = append(args, v)
		where += fmt.Sprintf(" AND %s = ?%d", col, len(args)+1)
	}
	if q.State != "" {
		eq("state", q.State)
	}
	if q.Skill != "" || q.FilterSkill {
		eq("skill", q.Skill)
	}
	if q.VisitorID != "" {
		eq("visitor_id", q.VisitorID)
	}
	if q.AgentID != "" {
		eq("agent_id", q.AgentID)
	}
	rows, err := a.query(ctx, `SELECT `+supportColumns+` FROM support_sessions WHERE `+where+
		` ORDER BY created_at, id LIMIT ?2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list support sessions: %w", translate(err))
	}
	ss, err := collect(rows, scanSupportSession)
	if err != nil {
		return nil, fmt.Errorf("list support sessions: %w", err)
	}
	return ss, nil
}

// sessionHead is what a state change reads of a session first.
type sessionHead struct {
	state, agent string
	version      int64
}

// supportHead reads a session's state, agent and version in the
// transaction and checks that it may change: store.ErrNotFound if it does
// not exist, store.ErrConflict if its version is not version or it is
// closed.
func (t *appTx) supportHead(ctx context.Context, id string, version int64) (sessionHead, error) {
	var h sessionHead
	err := t.tx.QueryRowContext(ctx, `SELECT state, agent_id, version FROM support_sessions
		WHERE app_id = ?1 AND id = ?2`, t.a.bind([]any{id})...).Scan(&h.state, &h.agent, &h.version)
	if err != nil {
		return h, translate(err)
	}
	if h.version != version {
		return h, fmt.Errorf("version %d, not %d: %w", h.version, version, store.ErrConflict)
	}
	if h.state == store.SupportClosed {
		return h, fmt.Errorf("closed: %w", store.ErrConflict)
	}
	return h, nil
}

// releaseAgent takes one from the Active count of the agent of a session
// that was active (never below 0: the agent may have been deleted and put
// again meanwhile).
func (t *appTx) releaseAgent(ctx context.Context, h sessionHead) error {
	if h.state != store.SupportActive || h.agent == "" {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE support_agents SET active = active - 1
		WHERE app_id = ?1 AND user_id = ?2 AND active > 0`, t.a.bind([]any{h.agent})...)
	if err != nil {
		return fmt.Errorf("release agent %s: %w", h.agent, translate(err))
	}
	return nil
}

// updateSession applies set (assignments that bind ?3 onwards) to a
// session, stores its events evs and returns it as updated.
func (t *appTx) updateSession(ctx context.Context, id string, evs []store.SupportEvent, set string, args ...any) (store.SupportSession, error) {
	s, err := scanSupportSession(t.tx.QueryRowContext(ctx, `UPDATE support_sessions SET `+set+`,
		version = version + 1 WHERE app_id = ?1 AND id = ?2 RETURNING `+supportColumns,
		t.a.bind(append([]any{id}, args...))...))
	if err != nil {
		return s, translate(err)
	}
	return s, t.addSupportEvents(ctx, id, evs)
}

// AssignSupportSession gives a session to an agent in one transaction: it
// checks the session (version, not closed, not the agent's already), takes
// a place of the agent's (Active < Capacity, else store.ErrLimit), gives
// back the previous agent's and updates the session.
func (a *appStore) AssignSupportSession(ctx context.Context, id string, version int64, agentID string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	var s store.SupportSession
	err := a.inTx(ctx, func(t *appTx) error {
		h, err := t.supportHead(ctx, id, version)
		if err != nil {
			return err
		}
		if h.agent == agentID && h.state == store.SupportActive {
			return fmt.Errorf("already with agent %s: %w", agentID, store.ErrConflict)
		}
		res, err := t.tx.ExecContext(ctx, `UPDATE support_agents SET active = active + 1
			WHERE app_id = ?1 AND user_id = ?2 AND active < capacity`, a.bind([]any{agentID})...)
		n, err := affected(res, err)
		if err == nil && n == 0 {
			err = store.ErrNotFound
			var active, capacity int
			qerr := t.tx.QueryRowContext(ctx, `SELECT active, capacity FROM support_agents
				WHERE app_id = ?1 AND user_id = ?2`, a.bind([]any{agentID})...).Scan(&active, &capacity)
			if qerr == nil {
				err = fmt.Errorf("agent %s has %d of %d sessions: %w", agentID, active, capacity, store.ErrLimit)
			} else if !errors.Is(translate(qerr), store.ErrNotFound) {
				err = translate(qerr)
			}
		}
		if err != nil {
			return err
		}
		if err := t.releaseAgent(ctx, h); err != nil {
			return err
		}
		s, err = t.updateSession(ctx, id, evs, `state = ?3, agent_id = ?4, assigned_at = ?5`,
			store.SupportActive, agentID, ms(at))
		return err
	})
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("assign support session %s to %s: %w", id, agentID, err)
	}
	return s, nil
}

// RequeueSupportSession puts a session back in a queue in one transaction
// that checks it, updates it and gives its agent's place back. AssignedAt
// goes with the agent.
func (a *appStore) RequeueSupportSession(ctx context.Context, id string, version int64, skill string, evs ...store.SupportEvent) (store.SupportSession, error) {
	var s store.SupportSession
	err := a.inTx(ctx, func(t *appTx) error {
		h, err := t.supportHead(ctx, id, version)
		if err != nil {
			return err
		}
		if err := t.releaseAgent(ctx, h); err != nil {
			return err
		}
		s, err = t.updateSession(ctx, id, evs, `state = ?3, agent_id = '', assigned_at = 0, skill = ?4`,
			store.SupportWaiting, skill)
		return err
	})
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("requeue support session %s: %w", id, err)
	}
	return s, nil
}

// CloseSupportSession closes a session in one transaction that checks it,
// updates it and gives its agent's place back. The session keeps its
// agent, as its last.
func (a *appStore) CloseSupportSession(ctx context.Context, id string, version int64, closedBy string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	var s store.SupportSession
	err := a.inTx(ctx, func(t *appTx) error {
		h, err := t.supportHead(ctx, id, version)
		if err != nil {
			return err
		}
		if err := t.releaseAgent(ctx, h); err != nil {
			return err
		}
		s, err = t.updateSession(ctx, id, evs, `state = ?3, closed_at = ?4, closed_by = ?5`,
			store.SupportClosed, ms(at), closedBy)
		return err
	})
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("close support session %s: %w", id, err)
	}
	return s, nil
}

// RateSupportSession records the rating of a closed, unrated session, and
// its events, in one transaction around a conditional update; it leaves
// Version alone.
func (a *appStore) RateSupportSession(ctx context.Context, id string, rating int, comment string, evs ...store.SupportEvent) (store.SupportSession, error) {
	var s store.SupportSession
	err := a.inTx(ctx, func(t *appTx) error {
		var err error
		s, err = scanSupportSession(t.tx.QueryRowContext(ctx, `UPDATE support_sessions
			SET rating = ?3, comment = ?4
			WHERE app_id = ?1 AND id = ?2 AND state = ?5 AND rating = 0 RETURNING `+supportColumns,
			a.bind([]any{id, rating, comment, store.SupportClosed})...))
		if err != nil {
			return translate(err)
		}
		return t.addSupportEvents(ctx, id, evs)
	})
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := a.GetSupportSession(ctx, id); gerr == nil {
			err = fmt.Errorf("not closed or rated already: %w", store.ErrConflict)
		}
	}
	if err != nil {
		return store.SupportSession{}, fmt.Errorf("rate support session %s: %w", id, err)
	}
	return s, nil
}

func scanSupportSession(r scanner) (store.SupportSession, error) {
	var s store.SupportSession
	var created, assigned, closed int64
	err := r.Scan(&s.ID, &s.VisitorID, &s.Skill, &s.AgentID, &s.State, &created, &assigned, &closed,
		&s.ClosedBy, &s.Rating, &s.Comment, &s.Version)
	s.CreatedAt, s.AssignedAt, s.ClosedAt = fromMS(created), fromMS(assigned), fromMS(closed)
	return s, err
}

// SetAgentActive sets an agent's Active count if it is still from: one
// conditional statement, then, if it changed nothing, a read that tells
// store.ErrConflict from store.ErrNotFound.
func (a *appStore) SetAgentActive(ctx context.Context, userID string, from, active int) error {
	res, err := a.exec(ctx, `UPDATE support_agents SET active = ?4 WHERE app_id = ?1 AND user_id = ?2 AND active = ?3`,
		userID, from, active)
	err = mustAffect(res, err)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := a.GetAgent(ctx, userID); gerr == nil {
			err = fmt.Errorf("active is not %d: %w", from, store.ErrConflict)
		}
	}
	if err != nil {
		return fmt.Errorf("set active of agent %s: %w", userID, err)
	}
	return nil
}

// AgentLoads reads a page of agents, of every app, with their active
// sessions in one statement (one snapshot): the page, joined to the
// sessions through the agent index.
func (s *Store) AgentLoads(ctx context.Context, afterApp, afterUser string, limit int) ([]store.AgentLoad, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.readRows(ctx, `SELECT g.app_id, g.user_id, g.active, s.id, s.version
		FROM (SELECT app_id, user_id, active FROM support_agents
			WHERE (app_id, user_id) > (?1, ?2) ORDER BY app_id, user_id LIMIT ?3) g
		LEFT JOIN support_sessions s ON s.app_id = g.app_id AND s.agent_id = g.user_id AND s.state = ?4
		ORDER BY g.app_id, g.user_id`, afterApp, afterUser, limit, store.SupportActive)
	if err != nil {
		return nil, fmt.Errorf("agent loads: %w", translate(err))
	}
	defer rows.Close()
	var out []store.AgentLoad
	for rows.Next() {
		var l store.AgentLoad
		var id sql.NullString
		var version sql.NullInt64
		if err := rows.Scan(&l.AppID, &l.UserID, &l.Active, &id, &version); err != nil {
			return nil, fmt.Errorf("agent loads: %w", translate(err))
		}
		if n := len(out); n == 0 || out[n-1].AppID != l.AppID || out[n-1].UserID != l.UserID {
			out = append(out, l)
		}
		if id.Valid {
			out[len(out)-1].AddSession(id.String, version.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent loads: %w", translate(err))
	}
	return out, nil
}
