package httpx

import (
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/messaging"
)

// SearchQuery reads a message search from the query string, as both APIs
// take it (docs/search.md): q (required), conv_id, sender_id, types
// (comma-separated), from and to (RFC 3339), cursor, limit (1-100,
// default 20).
func SearchQuery(c *gin.Context) (messaging.SearchQuery, *Error) {
	q := messaging.SearchQuery{Query: c.Query("q"), ConvID: c.Query("conv_id"), SenderID: c.Query("sender_id"),
		Cursor: c.Query("cursor")}
	if q.Query == "" {
		return q, FieldError("q", "is required")
	}
	if v := c.Query("types"); v != "" {
		q.Types = strings.Split(v, ",")
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := c.Query(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return q, FieldError(f.name, "must be an RFC 3339 time")
			}
			*f.to = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > messaging.MaxSearchPage {
			return q, FieldError("limit", "must be an integer from 1 to "+strconv.Itoa(messaging.MaxSearchPage))
		}
		q.Limit = n
	}
	return q, nil
}
