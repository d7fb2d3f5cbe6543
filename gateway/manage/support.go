package manage

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook/support"
)

// The console's Customer service page: an app's agents, its waiting queue
// and open sessions, on top of the same support service as the server
// API's /v1/support routes, so that a transfer or a close here tells the
// visitor and the agents, and the app's webhooks, as one there does.

// consoleAgentJSON is an agent with whether it has a device online.
type consoleAgentJSON struct {
	httpx.AgentJSON
	Online bool `json:"online"`
}

// listAgents serves GET /manage/v1/apps/{app}/support/agents?skill=: the
// app's agents with their load and whether each is online.
func (s *Server) listAgents(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	as, err := s.cfg.Support.Agents(ctx, app.ID, c.Query("skill"))
	if err != nil {
		httpx.FailSupport(c, err, "")
		return
	}
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.UserID
	}
	online := map[string]bool{}
	if len(ids) > 0 {
		if online, err = s.cfg.Support.Online(ctx, app.ID, ids); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	out := make([]consoleAgentJSON, len(as))
	for i, a := range as {
		out[i] = consoleAgentJSON{AgentJSON: httpx.ToAgentJSON(a), Online: online[a.UserID]}
	}
	c.JSON(http.StatusOK, gin.H{"agents": out})
}

type agentRequest struct {
	Skills    []string `json:"skills"`
	Capacity  int      `json:"capacity"`
	Available bool     `json:"available"`
}

// putAgent serves PUT /manage/v1/apps/{app}/support/agents/{user}: makes
// a user an agent or changes its skills, capacity and availability.
func (s *Server) putAgent(c *gin.Context) {
	var in agentRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	user := c.Param("user")
	a, err := s.cfg.Support.PutAgent(c.Request.Context(), app.ID, user, support.AgentInput(in))
	if err != nil {
		httpx.FailSupport(c, err, "no user with this id")
		return
	}
	s.audit(c, "support.agent_put", app.TenantID, user, "app_id", app.ID, "capacity", a.Capacity, "available", a.Available)
	c.JSON(http.StatusOK, gin.H{"agent": httpx.ToAgentJSON(a)})
}

// deleteAgent serves DELETE /manage/v1/apps/{app}/support/agents/{user}.
func (s *Server) deleteAgent(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	user := c.Param("user")
	if err := s.cfg.Support.DeleteAgent(c.Request.Context(), app.ID, user); err != nil {
		httpx.FailSupport(c, err, "no agent with this user id")
		return
	}
	s.audit(c, "support.agent_delete", app.TenantID, user, "app_id", app.ID)
	c.Status(http.StatusNoContent)
}

// listSupportSessions serves GET /manage/v1/apps/{app}/support/sessions:
// the query of the server API's GET /v1/support/sessions (state=waiting is
// the queue, in queue order).
func (s *Server) listSupportSessions(c *gin.Context) {
	q, ae := httpx.SupportQuery(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ss, err := s.cfg.Support.List(c.Request.Context(), app.ID, q)
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

type sessionActionRequest struct {
	AgentID string  `json:"agent_id"`
	Skill   *string `json:"skill"`
}

// supportSessionAction serves POST
// /manage/v1/apps/{app}/support/sessions/{id}:transfer (to agent_id, or
// to the queue of skill) and :close (closed by no user: the console).
func (s *Server) supportSessionAction(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("id"), ":")
	if verb != "transfer" && verb != "close" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :transfer or :close"))
		return
	}
	var in sessionActionRequest
	if len(httpx.Body(c)) > 0 {
		if err := httpx.DecodeJSON(c, &in); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var ss store.SupportSession
	var err error
	if verb == "transfer" {
		ss, err = s.cfg.Support.Transfer(ctx, app.ID, id, in.AgentID, in.Skill)
	} else {
		ss, err = s.cfg.Support.Close(ctx, app.ID, id, "")
	}
	if err != nil {
		httpx.FailSupport(c, err, "no support session (or agent) with this id")
		return
	}
	s.audit(c, "support.session_"+verb, app.TenantID, id, "app_id", app.ID, "agent_id", ss.AgentID)
	c.JSON(http.StatusOK, gin.H{"session": httpx.ToSessionJSON(ss)})
}
