package manage

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

// usageDayJSON is an app's usage of one UTC day.
type usageDayJSON struct {
	Day               string `json:"day"`
	Messages          int64  `json:"messages"`
	ActiveUsers       int64  `json:"active_users"`
	PeakConnections   int64  `json:"peak_connections"`
	APICalls          int64  `json:"api_calls"`
	Pushes            int64  `json:"pushes"`
	WebhookDeliveries int64  `json:"webhook_deliveries"`
}

// Usage ranges: 30 days unless asked, at most maxUsageDays.
const (
	defaultUsageDays = 30
	maxUsageDays     = 366
)

// usageRange reads from and to (UTC dates, inclusive); absent, to is
// today and from 29 days before it.
func (s *Server) usageRange(c *gin.Context) (from, to time.Time, ae *httpx.Error) {
	parse := func(name string, def time.Time) (time.Time, *httpx.Error) {
		v := c.Query(name)
		if v == "" {
			return def, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, httpx.FieldError(name, "must be a date like 2026-01-31")
		}
		return t, nil
	}
	now := s.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if to, ae = parse("to", today); ae != nil {
		return
	}
	if from, ae = parse("from", to.AddDate(0, 0, 1-defaultUsageDays)); ae != nil {
		return
	}
	switch {
	case from.After(to):
		ae = httpx.FieldError("from", "must not be after to")
	case to.Sub(from) >= maxUsageDays*24*time.Hour:
		ae = httpx.FieldError("from", "the range may span at most "+strconv.Itoa(maxUsageDays)+" days")
	}
	return
}

// getUsage serves GET /manage/v1/apps/{app}/usage: the app's usage of each
// day of the range, days without usage as zeros.
func (s *Server) getUsage(c *gin.Context) {
	from, to, ae := s.usageRange(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	days, err := s.store.App(app.ID).ListUsage(c.Request.Context(), from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	out := make([]usageDayJSON, 0, int(to.Sub(from).Hours()/24)+1)
	i := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := usageDayJSON{Day: d.Format(time.DateOnly)}
		if i < len(days) && days[i].Day == day.Day {
			u := days[i]
			day = usageDayJSON{Day: u.Day, Messages: u.Messages, ActiveUsers: u.ActiveUsers, PeakConnections: u.PeakConnections,
				APICalls: u.APICalls, Pushes: u.Pushes, WebhookDeliveries: u.WebhookDeliveries}
			i++
		}
		out = append(out, day)
	}
	c.JSON(http.StatusOK, gin.H{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "days": out})
}
