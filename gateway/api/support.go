package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook/support"
)

// needSupport refuses a support route when the server has no support
// service.
func (s *Server) needSupport(c *gin.Context) {
	if s.cfg.Support == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "customer service is not available on this server"))
		return
	}
	c.Next()
}

// failSupport translates the support service's errors.
func failSupport(c *gin.Context, err error, notFound string) {
	var ve *support.ValidationError
	switch {
	case errors.As(err, &ve):
		httpx.WriteError(c, httpx.FieldError(ve.Field, ve.Reason))
	case errors.Is(err, support.ErrNotFound):
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, notFound))
	case errors.Is(err, support.ErrConflict), errors.Is(err, support.ErrBusy):
		httpx.WriteError(c, httpx.NewError(http.StatusConflict, httpx.CodeConflict, err.Error()))
	default:
		httpx.Fail(c, err)
	}
}

type agentJSON struct {
	UserID    string    `json:"user_id"`
	Skills    []string  `json:"skills"`
	Capacity  int       `json:"capacity"`
	Available bool      `json:"available"`
	Active    int       `json:"active"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toAgentJSON(a store.Agent) agentJSON {
	skills := a.Skills
	if skills == nil {
		skills = []string{}
	}
	return agentJSON{UserID: a.UserID, Skills: skills, Capacity: a.Capacity, Available: a.Available, Active: a.Active, UpdatedAt: a.UpdatedAt}
}

type agentInput struct {
	Skills    []string `json:"skills"`
	Capacity  int      `json:"capacity"`
	Available bool     `json:"available"`
}

// putAgent serves PUT /v1/support/agents/{user}.
func (s *Server) putAgent(c *gin.Context) {
	var in agentInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	a, err := s.cfg.Support.PutAgent(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("user"), support.AgentInput(in))
	if err != nil {
		failSupport(c, err, "no user with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"agent": toAgentJSON(a)})
}

// listAgents serves GET /v1/support/agents?skill=.
func (s *Server) listAgents(c *gin.Context) {
	as, err := s.cfg.Support.Agents(c.Request.Context(), httpx.Creds(c).App.ID, c.Query("skill"))
	if err != nil {
		failSupport(c, err, "")
		return
	}
	out := make([]agentJSON, len(as))
	for i, a := range as {
		out[i] = toAgentJSON(a)
	}
	c.JSON(http.StatusOK, gin.H{"agents": out})
}

// deleteAgent serves DELETE /v1/support/agents/{user}.
func (s *Server) deleteAgent(c *gin.Context) {
	if err := s.cfg.Support.DeleteAgent(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("user")); err != nil {
		failSupport(c, err, "no agent with this user id")
		return
	}
	c.Status(http.StatusNoContent)
}

type sessionJSON struct {
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

func toSessionJSON(ss store.SupportSession) sessionJSON {
	out := sessionJSON{ID: ss.ID, VisitorID: ss.VisitorID, Skill: ss.Skill, AgentID: ss.AgentID, State: ss.State,
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

// openSession serves POST /v1/support/sessions.
func (s *Server) openSession(c *gin.Context) {
	var in struct {
		VisitorID string `json:"visitor_id"`
		Skill     string `json:"skill"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.VisitorID == "" {
		httpx.WriteError(c, httpx.FieldError("visitor_id", "is required"))
		return
	}
	ss, err := s.cfg.Support.Open(c.Request.Context(), httpx.Creds(c).App.ID, in.VisitorID, in.Skill)
	if err != nil {
		failSupport(c, err, "no user with this visitor_id")
		return
	}
	c.JSON(http.StatusCreated, gin.H{"session": toSessionJSON(ss)})
}

// listSessions serves GET /v1/support/sessions.
func (s *Server) listSessions(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			httpx.WriteError(c, httpx.FieldError("limit", "must be from 1 to 500"))
			return
		}
		limit = n
	}
	state := c.Query("state")
	if state != "" && state != store.SupportWaiting && state != store.SupportActive && state != store.SupportClosed {
		httpx.WriteError(c, httpx.FieldError("state", "must be waiting, active or closed"))
		return
	}
	_, filterSkill := c.GetQuery("skill")
	ss, err := s.cfg.Support.List(c.Request.Context(), httpx.Creds(c).App.ID, store.SupportQuery{State: state, Skill: c.Query("skill"),
		FilterSkill: filterSkill, VisitorID: c.Query("visitor_id"), AgentID: c.Query("agent_id"), Limit: limit})
	if err != nil {
		failSupport(c, err, "")
		return
	}
	out := make([]sessionJSON, len(ss))
	for i, x := range ss {
		out[i] = toSessionJSON(x)
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

// getSession serves GET /v1/support/sessions/{id}.
func (s *Server) getSession(c *gin.Context) {
	ss, err := s.cfg.Support.Get(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		failSupport(c, err, "no support session with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": toSessionJSON(ss)})
}

// sessionAction serves POST /v1/support/sessions/{id}:transfer, :close
// and :rate.
func (s *Server) sessionAction(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("id"), ":")
	var in struct {
		AgentID string  `json:"agent_id"`
		Skill   *string `json:"skill"`
		By      string  `json:"by"`
		Rating  int     `json:"rating"`
		Comment string  `json:"comment"`
	}
	if len(httpx.Body(c)) > 0 {
		if err := httpx.DecodeJSON(c, &in); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	ctx, app := c.Request.Context(), httpx.Creds(c).App.ID
	var ss store.SupportSession
	var err error
	switch verb {
	case "transfer":
		ss, err = s.cfg.Support.Transfer(ctx, app, id, in.AgentID, in.Skill)
	case "close":
		ss, err = s.cfg.Support.Close(ctx, app, id, in.By)
	case "rate":
		ss, err = s.cfg.Support.Rate(ctx, app, id, in.Rating, in.Comment)
	default:
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :transfer, :close or :rate"))
		return
	}
	if err != nil {
		failSupport(c, err, "no support session (or agent) with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": toSessionJSON(ss)})
}
