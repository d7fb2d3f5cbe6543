package gateway

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/users"
)

// Page sizes of list endpoints.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

type userJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
	Blocked   bool              `json:"blocked"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

func toUserJSON(u store.User) userJSON {
	md := u.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return userJSON{ID: u.ID, Name: u.Name, AvatarURL: u.AvatarURL, Metadata: md, Blocked: u.Blocked,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type userInput struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
}

// failUser translates the errors of the user service into API errors.
func failUser(c *gin.Context, err error) {
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(c, fieldError(ve.Field, ve.Reason))
	case errors.Is(err, users.ErrNotFound):
		writeError(c, newError(http.StatusNotFound, CodeUserNotFound, "no user with this id"))
	case errors.Is(err, users.ErrExists):
		writeError(c, newError(http.StatusConflict, CodeUserExists, "a user with this id already exists"))
	case errors.Is(err, users.ErrBlocked):
		writeError(c, newError(http.StatusForbidden, CodeUserBlocked, "the user is blocked"))
	default:
		fail(c, err)
	}
}

func (g *Gateway) createUser(c *gin.Context) {
	var in userInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	u, err := g.users.Create(c.Request.Context(), credsOf(c).App.ID, users.Input(in))
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
func (g *Gateway) importUsers(c *gin.Context) {
	var in importRequest
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	batch := make([]users.Input, len(in.Users))
	for i, u := range in.Users {
		batch[i] = users.Input(u)
	}
	res, err := g.users.Import(c.Request.Context(), credsOf(c).App.ID, batch)
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
			ae := fieldError(ve.Field, ve.Reason)
			out[i].Error = &itemError{Code: ae.Code, Message: ae.Message, Field: ae.Field}
		default:
			logger(c).ErrorContext(c.Request.Context(), "import user", "err", r.Err)
			out[i].Error = &itemError{Code: CodeInternal, Message: "internal error"}
		}
	}
	c.JSON(http.StatusOK, gin.H{"results": out})
}

func (g *Gateway) getUser(c *gin.Context) {
	u, err := g.users.Get(c.Request.Context(), credsOf(c).App.ID, c.Param("id"))
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

func (g *Gateway) updateUser(c *gin.Context) {
	var p userPatch
	if err := decodeJSON(c, &p); err != nil {
		fail(c, err)
		return
	}
	u, err := g.users.Update(c.Request.Context(), credsOf(c).App.ID, c.Param("id"), users.Patch(p))
	if err != nil {
		failUser(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}

func (g *Gateway) deleteUser(c *gin.Context) {
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
		writeError(c, fieldError("erase_messages", `must be "true" or "false"`))
		return
	}
	if err := g.users.Delete(c.Request.Context(), credsOf(c).App.ID, id, erase); err != nil {
		failUser(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (g *Gateway) listUsers(c *gin.Context) {
	limit, after, ae := pageParams(c)
	if ae != nil {
		writeError(c, ae)
		return
	}
	us, err := g.users.List(c.Request.Context(), credsOf(c).App.ID, after, limit+1)
	if err != nil {
		fail(c, err)
		return
	}
	us, next := trimPage(us, limit, func(x store.User) string { return x.ID })
	out := make([]userJSON, len(us))
	for i, u := range us {
		out[i] = toUserJSON(u)
	}
	c.JSON(http.StatusOK, gin.H{"users": out, "next_cursor": next})
}

// limitParam reads the limit query parameter.
func limitParam(c *gin.Context) (int, *apiError) {
	s := c.Query("limit")
	if s == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, fieldError("limit", "must be an integer from 1 to 200")
	}
	return n, nil
}

// pageParams reads the limit and cursor query parameters.
func pageParams(c *gin.Context) (limit int, after string, ae *apiError) {
	if limit, ae = limitParam(c); ae != nil {
		return 0, "", ae
	}
	if s := c.Query("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || !utf8.Valid(b) {
			return 0, "", fieldError("cursor", "is not a cursor returned by this API")
		}
		after = string(b)
	}
	return limit, after, nil
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// trimPage cuts a page read with limit+1 rows to limit rows and returns the
// cursor of the next page ("" when there is none).
func trimPage[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(id(rows[limit-1]))
}

// userAction serves POST /v1/users/{id}:{verb} (block, unblock). User ids
// cannot contain ':', so the verb is what follows the first one.
func (g *Gateway) userAction(c *gin.Context) {
	id, verb, ok := strings.Cut(c.Param("id"), ":")
	if !ok {
		writeError(c, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST /v1/users to create users"))
		return
	}
	switch verb {
	case "block", "unblock":
		u, err := g.users.SetBlocked(c.Request.Context(), credsOf(c).App.ID, id, verb == "block")
		if err != nil {
			failUser(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
	default:
		writeError(c, newError(http.StatusNotFound, CodeRouteNotFound, "unknown action :"+verb))
	}
}
