package httpx

// What the server API and the management API share about chat rooms
// (package rooms): a room's JSON shape and the translation of the rooms
// service's errors.

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/rooms"
)

// RoomJSON is a chat room as the APIs show it.
type RoomJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	OwnerID     string    `json:"owner_id"`
	HistorySize int       `json:"history_size"`
	RateLimit   float64   `json:"rate_limit"`
	MaxMembers  int       `json:"max_members"`
	Muted       []string  `json:"muted"`
	MemberCount *int      `json:"member_count,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ToRoomJSON encodes a room with its effective settings; count is nil
// where the member count is not read (lists).
func ToRoomJSON(r store.Room, count *int) RoomJSON {
	muted := r.Muted
	if muted == nil {
		muted = []string{}
	}
	return RoomJSON{ID: r.ID, Name: r.Name, OwnerID: r.OwnerID, HistorySize: rooms.HistorySize(r), RateLimit: rooms.RateLimit(r),
		MaxMembers: r.MaxMembers, Muted: muted, MemberCount: count, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// FailRoom translates the rooms service's errors.
func FailRoom(c *gin.Context, err error) {
	var re *rooms.Error
	if !errors.As(err, &re) {
		FailMessaging(c, err) // moderation's message_rejected, or a failure
		return
	}
	if re.Code == rooms.CodeInvalidArgument {
		WriteError(c, FieldError(re.Field, strings.TrimPrefix(re.Message, re.Field+": ")))
		return
	}
	status := map[string]int{
		rooms.CodeRoomNotFound: http.StatusNotFound,
		rooms.CodeUserNotFound: http.StatusNotFound,
		rooms.CodeRoomExists:   http.StatusConflict,
		rooms.CodeRoomFull:     http.StatusConflict,
		rooms.CodeRoomBanned:   http.StatusForbidden,
		rooms.CodeRateLimited:  http.StatusTooManyRequests,
		"message_too_large":    http.StatusRequestEntityTooLarge,
	}[re.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	if status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	WriteError(c, NewError(status, re.Code, re.Message))
}

// Require is a handler that refuses a route with 503 unavailable when the
// server lacks the service it needs (available false), saying which.
func Require(available bool, what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !available {
			WriteError(c, NewError(http.StatusServiceUnavailable, CodeUnavailable, what+" not available on this server"))
			return
		}
		c.Next()
	}
}
