package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/users"
)

type userJSON = httpx.UserJSON

func toUserJSON(u store.User) userJSON { return httpx.ToUserJSON(u) }

type userInput struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
}

// failUser translates the errors of the user service into API errors.
func failUser(c *gin.Context, err error) { httpx.FailUser(c, err) }

func (s *Server) createUser(c *gin.Context) {
	var in userInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	u, err := s.users.Create(c.Request.Context(), httpx.Creds(c).App.ID, users.Input(in))
	if err != nil {
		failUser(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"user": toUserJSON(u)})
}

type importRequest struct {
	Users []userInput `json:"users"`
}

type importResult struct {
	ID     string     `json:"id"`
	Status string     `json:"status"`
	Error  *itemError `json:"error,omitempty"`
}

// itemError is the error of one item of a batch; the request id is the
// batch response's.
type itemError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// importUsers creates up to 100 users in one call; existing ids are reported
// and left untouched, invalid entries are reported and skipped.
func (s *Server) importUsers(c *gin.Context) {
	var in importRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	batch := make([]users.Input, len(in.Users))
	for i, u := range in.Users {
		batch[i] = users.Input(u)
	}
	res, err := s.users.Import(c.Request.Context(), httpx.Creds(c).App.ID, batch)
	if err != nil {
		failUser(c, err)
		return
	}
	out := make([]importResult, len(res))
	for i, r := range res {
		out[i] = importResult{ID: r.ID, Status: r.Status}
		var ve *users.ValidationError
		switch {
		case r.Err == nil:
		case errors.As(r.Err, &ve):
			ae := httpx.FieldError(ve.Field, ve.Reason)
			out[i].Error = &itemError{Code: ae.Code, Message: ae.Message, Field: ae.Field}
		default:
			httpx.Logger(c).ErrorContext(c.Request.Context(), "import user", "err", r.Err)
			out[i].Error = &itemError{Code: httpx.CodeInternal, Message: "internal error"}
		}
	}
	c.JSON(http.StatusOK, gin.H{"results": out})
}

func (s *Server) getUser(c *gin.Context) {
	u, err := s.users.Get(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		failUser(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}

type userPatch struct {
	Name      *string            `json:"name"`
	AvatarURL *string            `json:"avatar_url"`
	Metadata  *map[string]string `json:"metadata"`
}

func (s *Server) updateUser(c *gin.Context) {
	var p userPatch
	if err := httpx.DecodeJSON(c, &p); err != nil {
		httpx.Fail(c, err)
		return
	}
	u, err := s.users.Update(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), users.Patch(p))
	if err != nil {
		failUser(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}

func (s *Server) deleteUser(c *gin.Context) {
	id := c.Param("id")
	if err := users.CheckID(id); err != nil {
		failUser(c, err)
		return
	}
	var erase bool
	switch v := c.Query("erase_messages"); v {
	case "", "false":
	case "true":
		erase = true
	default:
		httpx.WriteError(c, httpx.FieldError("erase_messages", `must be "true" or "false"`))
		return
	}
	if err := s.users.Delete(c.Request.Context(), httpx.Creds(c).App.ID, id, erase); err != nil {
		failUser(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) listUsers(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	us, err := s.users.List(c.Request.Context(), httpx.Creds(c).App.ID, after, limit+1)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	us, next := httpx.TrimPage(us, limit, func(x store.User) string { return x.ID })
	out := make([]userJSON, len(us))
	for i, u := range us {
		out[i] = toUserJSON(u)
	}
	c.JSON(http.StatusOK, gin.H{"users": out, "next_cursor": next})
}

// userAction serves POST /v1/users/{id}:{verb} (block, unblock). User ids
// cannot contain ':', so the verb is what follows the first one.
func (s *Server) userAction(c *gin.Context) {
	id, verb, ok := strings.Cut(c.Param("id"), ":")
	if !ok {
		httpx.WriteError(c, httpx.NewError(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, "use POST /v1/users to create users"))
		return
	}
	switch verb {
	case "block", "unblock":
		u, err := s.users.SetBlocked(c.Request.Context(), httpx.Creds(c).App.ID, id, verb == "block")
		if err != nil {
			failUser(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
	default:
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action :"+verb))
	}
}
