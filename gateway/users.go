package gateway

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/token"
)

// Limits on user fields.
const (
	maxNameLen      = 128
	maxAvatarURLLen = 1024
	maxMetadataKeys = 32
	maxMetaKeyLen   = 64
	maxMetaValueLen = 1024
	maxImportBatch  = 100
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

func (in userInput) validate(prefix string) *apiError {
	if !token.ValidUserID(in.ID) {
		return fieldError(prefix+"id", "must be 1-64 characters of A-Z a-z 0-9 _ . @ -, not . or ..")
	}
	return validateProfile(prefix, &in.Name, &in.AvatarURL, in.Metadata)
}

func validateProfile(prefix string, name, avatar *string, md map[string]string) *apiError {
	if name != nil && (utf8.RuneCountInString(*name) > maxNameLen || !utf8.ValidString(*name)) {
		return fieldError(prefix+"name", "must be valid UTF-8 of at most 128 characters")
	}
	if avatar != nil && *avatar != "" {
		u, err := url.Parse(*avatar)
		if err != nil || len(*avatar) > maxAvatarURLLen || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fieldError(prefix+"avatar_url", "must be an http(s) URL of at most 1024 bytes")
		}
	}
	if len(md) > maxMetadataKeys {
		return fieldError(prefix+"metadata", "at most 32 keys")
	}
	for k, v := range md {
		if k == "" || len(k) > maxMetaKeyLen || len(v) > maxMetaValueLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fieldError(prefix+"metadata", "keys must be 1-64 bytes and values at most 1024 bytes of UTF-8")
		}
	}
	return nil
}

func (g *Gateway) createUser(c *gin.Context) {
	var in userInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	if ae := in.validate(""); ae != nil {
		writeError(c, ae)
		return
	}
	now := g.now()
	u := store.User{ID: in.ID, Name: in.Name, AvatarURL: in.AvatarURL, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
	err := g.appStore(c).CreateUser(c.Request.Context(), u)
	if errors.Is(err, store.ErrConflict) {
		writeError(c, newError(http.StatusConflict, CodeUserExists, "a user with this id already exists"))
		return
	}
	if err != nil {
		fail(c, err)
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
	if len(in.Users) == 0 || len(in.Users) > maxImportBatch {
		writeError(c, fieldError("users", "must hold 1-100 users"))
		return
	}
	now := g.now()
	results := make([]importResult, len(in.Users))
	var valid []store.User
	var slots []int
	for i, u := range in.Users {
		results[i].ID = u.ID
		if ae := u.validate("users[" + strconv.Itoa(i) + "]."); ae != nil {
			results[i].Status = "error"
			results[i].Error = &itemError{Code: ae.Code, Message: ae.Message, Field: ae.Field}
			continue
		}
		valid = append(valid, store.User{ID: u.ID, Name: u.Name, AvatarURL: u.AvatarURL, Metadata: u.Metadata, CreatedAt: now, UpdatedAt: now})
		slots = append(slots, i)
	}
	errs, err := g.appStore(c).CreateUsers(c.Request.Context(), valid)
	if err != nil {
		fail(c, err)
		return
	}
	for j, e := range errs {
		r := &results[slots[j]]
		switch {
		case e == nil:
			r.Status = "created"
		case errors.Is(e, store.ErrConflict):
			r.Status = "exists"
		default:
			logger(c).ErrorContext(c.Request.Context(), "import user", "err", e)
			r.Status = "error"
			r.Error = &itemError{Code: CodeInternal, Message: "internal error"}
		}
	}
	c.JSON(http.StatusOK, gin.H{"results": results})
}

func (g *Gateway) getUser(c *gin.Context) {
	u, ok := g.loadUser(c, c.Param("id"))
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}

// loadUser fetches a user of the request's app, answering 404 itself.
func (g *Gateway) loadUser(c *gin.Context, id string) (store.User, bool) {
	if !token.ValidUserID(id) {
		writeError(c, fieldError("id", "must be 1-64 characters of A-Z a-z 0-9 _ . @ -, not . or .."))
		return store.User{}, false
	}
	u, err := g.appStore(c).GetUser(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(c, newError(http.StatusNotFound, CodeUserNotFound, "no user with this id"))
		return store.User{}, false
	}
	if err != nil {
		fail(c, err)
		return store.User{}, false
	}
	return u, true
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
	var md map[string]string
	if p.Metadata != nil {
		md = *p.Metadata
	}
	if ae := validateProfile("", p.Name, p.AvatarURL, md); ae != nil {
		writeError(c, ae)
		return
	}
	u, ok := g.loadUser(c, c.Param("id"))
	if !ok {
		return
	}
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.AvatarURL != nil {
		u.AvatarURL = *p.AvatarURL
	}
	if p.Metadata != nil {
		u.Metadata = md
	}
	u.UpdatedAt = g.now()
	if err := g.appStore(c).UpdateUser(c.Request.Context(), u); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}

func (g *Gateway) deleteUser(c *gin.Context) {
	id := c.Param("id")
	if !token.ValidUserID(id) {
		writeError(c, fieldError("id", "must be 1-64 characters of A-Z a-z 0-9 _ . @ -, not . or .."))
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
	err := g.appStore(c).DeleteUser(c.Request.Context(), id, store.UserDeletion{At: g.now(), EraseMessages: erase})
	if errors.Is(err, store.ErrNotFound) {
		writeError(c, newError(http.StatusNotFound, CodeUserNotFound, "no user with this id"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	g.userChanged(c.Request.Context(), credsOf(c).App.ID, id, true)
	c.Status(http.StatusNoContent)
}

func (g *Gateway) listUsers(c *gin.Context) {
	limit, after, ae := pageParams(c)
	if ae != nil {
		writeError(c, ae)
		return
	}
	users, err := g.appStore(c).ListUsers(c.Request.Context(), after, limit+1)
	if err != nil {
		fail(c, err)
		return
	}
	users, next := trimPage(users, limit, func(x store.User) string { return x.ID })
	out := make([]userJSON, len(users))
	for i, u := range users {
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
		g.setBlocked(c, id, verb == "block")
	default:
		writeError(c, newError(http.StatusNotFound, CodeRouteNotFound, "unknown action :"+verb))
	}
}

func (g *Gateway) setBlocked(c *gin.Context, id string, blocked bool) {
	u, ok := g.loadUser(c, id)
	if !ok {
		return
	}
	now := g.now()
	if err := g.appStore(c).SetUserBlocked(c.Request.Context(), id, blocked, now); err != nil {
		fail(c, err)
		return
	}
	u.Blocked, u.UpdatedAt = blocked, now
	if blocked {
		g.userChanged(c.Request.Context(), credsOf(c).App.ID, id, false)
	}
	c.JSON(http.StatusOK, gin.H{"user": toUserJSON(u)})
}
