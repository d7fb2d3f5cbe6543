package httpx

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Page sizes of list endpoints.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// LimitParam reads the limit query parameter.
func LimitParam(c *gin.Context) (int, *Error) {
	s := c.Query("limit")
	if s == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, FieldError("limit", "must be an integer from 1 to 200")
	}
	return n, nil
}

// PageParams reads the limit and cursor query parameters.
func PageParams(c *gin.Context) (limit int, after string, ae *Error) {
	if limit, ae = LimitParam(c); ae != nil {
		return 0, "", ae
	}
	if s := c.Query("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || !utf8.Valid(b) {
			return 0, "", FieldError("cursor", "is not a cursor returned by this API")
		}
		after = string(b)
	}
	return limit, after, nil
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TrimPage cuts a page read with limit+1 rows to limit rows and returns the
// cursor of the next page ("" when there is none).
func TrimPage[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, encodeCursor(id(rows[limit-1]))
}

// Cursor encodes the id a page ends at as the cursor of the next page; ""
// stays "" (no next page).
func Cursor(next string) string {
	if next == "" {
		return ""
	}
	return encodeCursor(next)
}
