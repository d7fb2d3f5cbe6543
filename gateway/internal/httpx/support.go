package httpx

// What the server API and the management API share about customer
// service (package support): agents' and sessions' JSON shapes and the
// translation of the service's errors.

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook/support"
)

// FailSupport translates the support service's errors.
func FailSupport(c *gin.Context, err error, notFound string) {
	var ve *support.ValidationError
	switch {
	case errors.As(err, &ve):
		WriteError(c, FieldError(ve.Field, ve.Reason))
	case errors.Is(err, support.ErrNotFound):
		WriteError(c, NewError(http.StatusNotFound, CodeNotFound, notFound))
	case errors.Is(err, support.ErrConflict), errors.Is(err, support.ErrBusy):
		WriteError(c, NewError(http.StatusConflict, CodeConflict, err.Error()))
	default:
		Fail(c, err)
	}
}

// AgentJSON is a customer-service agent as the APIs show it.
type AgentJSON struct {
	UserID    string    `json:"user_id"`
	Skills    []string  `json:"skills"`
	Capacity  int       `json:"capacity"`
	Available bool      `json:"available"`
	Active    int       `json:"active"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ToAgentJSON returns a as the APIs show it.
func ToAgentJSON(a store.Agent) AgentJSON {
	skills := a.Skills
	if skills == nil {
		skills = []string{}
	}
	return AgentJSON{UserID: a.UserID, Skills: skills, Capacity: a.Capacity, Available: a.Available, Active: a.Active, UpdatedAt: a.UpdatedAt}
}

// SessionJSON is a support session as the APIs show it.
type SessionJSON struct {
	ID         string     `json:"id"`
	VisitorID  string     `json:"visitor_id"`
	Skill      string     `json:"skill"`
	AgentID    string     `json:"agent_id,omitempty"`
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	AssignedAt *time.Time `json:"assigned_at,omitempty"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	ClosedBy   string     `json:"closed_by,omitempty"`
	Rating     int        `json:"rating,omitempty"`
	Comment    string     `json:"comment,omitempty"`
}

// ToSessionJSON returns ss as the APIs show it.
func ToSessionJSON(ss store.SupportSession) SessionJSON {
	out := SessionJSON{ID: ss.ID, VisitorID: ss.VisitorID, Skill: ss.Skill, AgentID: ss.AgentID, State: ss.State,
		CreatedAt: ss.CreatedAt, ClosedBy: ss.ClosedBy, Rating: ss.Rating, Comment: ss.Comment}
	if !ss.AssignedAt.IsZero() {
		t := ss.AssignedAt
		out.AssignedAt = &t
	}
	if !ss.ClosedAt.IsZero() {
		t := ss.ClosedAt
		out.ClosedAt = &t
	}
	return out
}

// SupportQuery reads a list of support sessions from the query string, as
// both APIs take it: state (waiting, active or closed), skill (present,
// even empty, filters by it), visitor_id, agent_id, limit (1-500, default
// 100).
func SupportQuery(c *gin.Context) (store.SupportQuery, *Error) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return store.SupportQuery{}, FieldError("limit", "must be from 1 to 500")
		}
		limit = n
	}
	state := c.Query("state")
	if state != "" && state != store.SupportWaiting && state != store.SupportActive && state != store.SupportClosed {
		return store.SupportQuery{}, FieldError("state", "must be waiting, active or closed")
	}
	_, filterSkill := c.GetQuery("skill")
	return store.SupportQuery{State: state, Skill: c.Query("skill"), FilterSkill: filterSkill,
		VisitorID: c.Query("visitor_id"), AgentID: c.Query("agent_id"), Limit: limit}, nil
}
