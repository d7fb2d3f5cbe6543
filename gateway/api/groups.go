package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/store"
)

// The server API acts for the app's backend: it may do everything the
// groups service allows its owners and admins, in any group of the app.

type groupJSON struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	AvatarURL      string            `json:"avatar_url"`
	Notice         string            `json:"notice"`
	Metadata       map[string]string `json:"metadata"`
	OwnerID        string            `json:"owner_id"`
	JoinPolicy     string            `json:"join_policy"`
	MuteAll        bool              `json:"mute_all"`
	HistoryVisible bool              `json:"history_visible"`
	MemberCount    int               `json:"member_count"`
	ConvID         string            `json:"conv_id"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func toGroupJSON(g store.Group) groupJSON {
	md := g.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return groupJSON{ID: g.ID, Name: g.Name, AvatarURL: g.AvatarURL, Notice: g.Notice, Metadata: md, OwnerID: g.OwnerID,
		JoinPolicy: string(g.Policy), MuteAll: g.MuteAll, HistoryVisible: g.HistoryVisible, MemberCount: g.MemberCount,
		ConvID: store.GroupConvID(g.ID), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type groupMemberJSON struct {
	UserID     string     `json:"user_id"`
	Role       string     `json:"role"`
	JoinedAt   time.Time  `json:"joined_at"`
	MutedUntil *time.Time `json:"muted_until,omitempty"`
}

func toGroupMemberJSON(m store.GroupMember) groupMemberJSON {
	out := groupMemberJSON{UserID: m.UserID, Role: string(m.Role), JoinedAt: m.JoinedAt}
	if !m.MutedUntil.IsZero() {
		t := m.MutedUntil
		out.MutedUntil = &t
	}
	return out
}

// needGroups refuses a group route when the server has no groups service.
func (s *Server) needGroups(c *gin.Context) {
	if s.cfg.Groups == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "groups are not available on this server"))
		return
	}
	c.Next()
}

// failGroup translates the groups service's errors.
func failGroup(c *gin.Context, err error) {
	var ge *groups.Error
	if !errors.As(err, &ge) {
		httpx.Fail(c, err)
		return
	}
	switch ge.Code {
	case groups.CodeInvalidArgument:
		httpx.WriteError(c, httpx.FieldError(ge.Field, strings.TrimPrefix(ge.Message, ge.Field+": ")))
		return
	}
	status := map[string]int{
		groups.CodeGroupNotFound: http.StatusNotFound,
		groups.CodeUserNotFound:  http.StatusNotFound,
		groups.CodeNotFound:      http.StatusNotFound,
		groups.CodeGroupExists:   http.StatusConflict,
		groups.CodeGroupFull:     http.StatusConflict,
		groups.CodeForbidden:     http.StatusForbidden,
	}[ge.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	httpx.WriteError(c, httpx.NewError(status, ge.Code, ge.Message))
}

type groupInput struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	AvatarURL      string            `json:"avatar_url"`
	Notice         string            `json:"notice"`
	Metadata       map[string]string `json:"metadata"`
	OwnerID        string            `json:"owner_id"`
	JoinPolicy     string            `json:"join_policy"`
	HistoryVisible bool              `json:"history_visible"`
	MemberIDs      []string          `json:"member_ids"`
}

// createGroup serves POST /v1/groups.
func (s *Server) createGroup(c *gin.Context) {
	var in groupInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	g, err := s.cfg.Groups.Create(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, groups.Input{
		ID: in.ID, Name: in.Name, AvatarURL: in.AvatarURL, Notice: in.Notice, Metadata: in.Metadata, OwnerID: in.OwnerID,
		Policy: store.JoinPolicy(in.JoinPolicy), HistoryVisible: in.HistoryVisible, MemberIDs: in.MemberIDs,
	})
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"group": toGroupJSON(g)})
}

// getGroup serves GET /v1/groups/{id}.
func (s *Server) getGroup(c *gin.Context) {
	g, err := s.cfg.Groups.Get(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"))
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"group": toGroupJSON(g)})
}

type groupPatch struct {
	Name           *string           `json:"name"`
	AvatarURL      *string           `json:"avatar_url"`
	Notice         *string           `json:"notice"`
	Metadata       map[string]string `json:"metadata"`
	JoinPolicy     *string           `json:"join_policy"`
	HistoryVisible *bool             `json:"history_visible"`
	MuteAll        *bool             `json:"mute_all"`
}

// updateGroup serves PATCH /v1/groups/{id}.
func (s *Server) updateGroup(c *gin.Context) {
	var in groupPatch
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	u := groups.Update{Name: in.Name, AvatarURL: in.AvatarURL, Notice: in.Notice, Metadata: in.Metadata,
		HistoryVisible: in.HistoryVisible, MuteAll: in.MuteAll}
	if in.JoinPolicy != nil {
		p := store.JoinPolicy(*in.JoinPolicy)
		u.Policy = &p
	}
	g, err := s.cfg.Groups.Update(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), u)
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"group": toGroupJSON(g)})
}

// dismissGroup serves DELETE /v1/groups/{id}.
func (s *Server) dismissGroup(c *gin.Context) {
	if err := s.cfg.Groups.Dismiss(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id")); err != nil {
		failGroup(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// groupAction serves POST /v1/groups/{id}:transfer.
func (s *Server) groupAction(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("id"), ":")
	if verb != "transfer" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :transfer"))
		return
	}
	var in struct {
		UserID string `json:"user_id"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	g, err := s.cfg.Groups.Transfer(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, id, in.UserID)
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"group": toGroupJSON(g)})
}

// addGroupMembers serves POST /v1/groups/{id}/members.
func (s *Server) addGroupMembers(c *gin.Context) {
	var in struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	a, err := s.cfg.Groups.AddMembers(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), in.UserIDs)
	if err != nil {
		failGroup(c, err)
		return
	}
	added := make([]groupMemberJSON, len(a.Added))
	for i, m := range a.Added {
		added[i] = toGroupMemberJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"added": added})
}

// listGroupMembers serves GET /v1/groups/{id}/members.
func (s *Server) listGroupMembers(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ms, next, err := s.cfg.Groups.Members(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), after, limit)
	if err != nil {
		failGroup(c, err)
		return
	}
	out := make([]groupMemberJSON, len(ms))
	for i, m := range ms {
		out[i] = toGroupMemberJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"members": out, "next_cursor": httpx.Cursor(next)})
}

// getGroupMember serves GET /v1/groups/{id}/members/{user}.
func (s *Server) getGroupMember(c *gin.Context) {
	m, err := s.cfg.Groups.Member(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), c.Param("user"))
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"member": toGroupMemberJSON(m)})
}

// updateGroupMember serves PATCH /v1/groups/{id}/members/{user}: a role,
// or a mute (mute_seconds, 0 unmutes).
func (s *Server) updateGroupMember(c *gin.Context) {
	var in struct {
		Role        string `json:"role"`
		MuteSeconds *int64 `json:"mute_seconds"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	ctx, app, id, user := c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("user")
	var m store.GroupMember
	var err error
	switch {
	case in.Role != "" && in.MuteSeconds != nil:
		httpx.WriteError(c, httpx.FieldError("role", "set role or mute_seconds, not both"))
		return
	case in.Role != "":
		m, err = s.cfg.Groups.SetRole(ctx, app, groups.Backend, id, user, store.GroupRole(in.Role))
	case in.MuteSeconds != nil:
		if *in.MuteSeconds < 0 || *in.MuteSeconds > int64(groups.MaxMute/time.Second) {
			httpx.WriteError(c, httpx.FieldError("mute_seconds", "0 (unmute) to 31622400 (366 days)"))
			return
		}
		m, err = s.cfg.Groups.Mute(ctx, app, groups.Backend, id, user, time.Duration(*in.MuteSeconds)*time.Second)
	default:
		httpx.WriteError(c, httpx.FieldError("role", "set role or mute_seconds"))
		return
	}
	if err != nil {
		failGroup(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"member": toGroupMemberJSON(m)})
}

// removeGroupMember serves DELETE /v1/groups/{id}/members/{user}.
func (s *Server) removeGroupMember(c *gin.Context) {
	removed, err := s.cfg.Groups.RemoveMembers(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), []string{c.Param("user")})
	if err != nil {
		failGroup(c, err)
		return
	}
	if len(removed) == 0 {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, groups.CodeNotFound, "the user is not a member of this group"))
		return
	}
	c.Status(http.StatusNoContent)
}

type joinRequestJSON struct {
	UserID    string    `json:"user_id"`
	InviterID string    `json:"inviter_id,omitempty"`
	Message   string    `json:"message,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// listJoinRequests serves GET /v1/groups/{id}/join-requests.
func (s *Server) listJoinRequests(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	rs, next, err := s.cfg.Groups.JoinRequests(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), after, limit)
	if err != nil {
		failGroup(c, err)
		return
	}
	out := make([]joinRequestJSON, len(rs))
	for i, r := range rs {
		out[i] = joinRequestJSON{UserID: r.UserID, InviterID: r.InviterID, Message: r.Message, CreatedAt: r.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"join_requests": out, "next_cursor": httpx.Cursor(next)})
}

// joinRequestAction serves POST /v1/groups/{id}/join-requests/{user}:approve
// and :decline.
func (s *Server) joinRequestAction(c *gin.Context) {
	user, verb, _ := strings.Cut(c.Param("user"), ":")
	if verb != "approve" && verb != "decline" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :approve or :decline"))
		return
	}
	a, err := s.cfg.Groups.Resolve(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), user, verb == "approve")
	if err != nil {
		failGroup(c, err)
		return
	}
	added := make([]groupMemberJSON, len(a.Added))
	for i, m := range a.Added {
		added[i] = toGroupMemberJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"added": added})
}

// groupReads serves GET /v1/groups/{id}/reads?seqs=1,2,3: read counts.
func (s *Server) groupReads(c *gin.Context) {
	var seqs []int64
	for i, f := range strings.Split(c.Query("seqs"), ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			httpx.WriteError(c, httpx.FieldError("seqs", "comma-separated positive seqs (item "+strconv.Itoa(i)+")"))
			return
		}
		seqs = append(seqs, n)
	}
	reads, err := s.cfg.Groups.ReadCounts(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), seqs)
	if err != nil {
		failGroup(c, err)
		return
	}
	type readJSON struct {
		Seq  int64 `json:"seq"`
		Read int   `json:"read"`
		Of   int   `json:"of"`
	}
	out := make([]readJSON, len(reads))
	for i, r := range reads {
		out[i] = readJSON{Seq: r.Seq, Read: r.Read, Of: r.Of}
	}
	c.JSON(http.StatusOK, gin.H{"reads": out})
}

// groupReaders serves GET /v1/groups/{id}/messages/{seq}/readers: who read
// a message (read=true, the default) or not (read=false).
func (s *Server) groupReaders(c *gin.Context) {
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		httpx.WriteError(c, httpx.FieldError("seq", "must be a positive integer"))
		return
	}
	read := true
	switch c.DefaultQuery("read", "true") {
	case "true":
	case "false":
		read = false
	default:
		httpx.WriteError(c, httpx.FieldError("read", `must be "true" or "false"`))
		return
	}
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ids, next, err := s.cfg.Groups.Readers(c.Request.Context(), httpx.Creds(c).App.ID, groups.Backend, c.Param("id"), seq, read, after, limit)
	if err != nil {
		failGroup(c, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	c.JSON(http.StatusOK, gin.H{"user_ids": ids, "next_cursor": httpx.Cursor(next)})
}
