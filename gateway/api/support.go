package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook/support"
)

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
		httpx.FailSupport(c, err, "no user with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"agent": httpx.ToAgentJSON(a)})
}

// listAgents serves GET /v1/support/agents?skill=.
func (s *Server) listAgents(c *gin.Context) {
	as, err := s.cfg.Support.Agents(c.Request.Context(), httpx.Creds(c).App.ID, c.Query("skill"))
	if err != nil {
		httpx.FailSupport(c, err, "")
		return
	}
	out := make([]httpx.AgentJSON, len(as))
	for i, a := range as {
		out[i] = httpx.ToAgentJSON(a)
	}
	c.JSON(http.StatusOK, gin.H{"agents": out})
}

// deleteAgent serves DELETE /v1/support/agents/{user}.
func (s *Server) deleteAgent(c *gin.Context) {
	if err := s.cfg.Support.DeleteAgent(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("user")); err != nil {
		httpx.FailSupport(c, err, "no agent with this user id")
		return
	}
	c.Status(http.StatusNoContent)
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
		httpx.FailSupport(c, err, "no user with this visitor_id")
		return
	}
	c.JSON(http.StatusCreated, gin.H{"session": httpx.ToSessionJSON(ss)})
}

// listSessions serves GET /v1/support/sessions.
func (s *Server) listSessions(c *gin.Context) {
	q, ae := httpx.SupportQuery(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ss, err := s.cfg.Support.List(c.Request.Context(), httpx.Creds(c).App.ID, q)
	if err != nil {
		httpx.FailSupport(c, err, "")
		return
	}
	out := make([]httpx.SessionJSON, len(ss))
	for i, x := range ss {
		out[i] = httpx.ToSessionJSON(x)
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

// getSession serves GET /v1/support/sessions/{id}.
func (s *Server) getSession(c *gin.Context) {
	ss, err := s.cfg.Support.Get(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		httpx.FailSupport(c, err, "no support session with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": httpx.ToSessionJSON(ss)})
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
		httpx.FailSupport(c, err, "no support session (or agent) with this id")
		return
	}
	c.JSON(http.StatusOK, gin.H{"session": httpx.ToSessionJSON(ss)})
}
