package api

import (
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// rateLimit applies the app's server API rate limit and sets the
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers; over the
// limit it answers 429 with Retry-After. The limit is the Config.Limiter's:
// the process's own in embedded mode, shared by every gateway in cluster
// mode. If the limiter cannot be reached the request is served (fail open,
// logged): a rate limit is not worth an outage.
func (s *Server) rateLimit(c *gin.Context) {
	if ae := s.allowAPI(c); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	c.Next()
}

// allowAPI spends one request of the app's server API budget, setting the
// RateLimit headers; over the limit it returns the 429 error.
func (s *Server) allowAPI(c *gin.Context) *httpx.Error {
	creds := httpx.Creds(c)
	perSec, burst := creds.Limits.APIRate, creds.Limits.APIBurst
	d, err := s.limiter.Allow(c.Request.Context(), creds.App.ID+":api", perSec, burst)
	if err != nil {
		httpx.Logger(c).WarnContext(c.Request.Context(), "rate limiter unavailable; request served unlimited", "err", err)
		return nil
	}
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(d.Reset.Seconds()))))
	if !d.OK {
		s.cfg.Metrics.RateLimited(telemetry.LimitAPI)
		h.Set("Retry-After", strconv.Itoa(max(int(math.Ceil(d.RetryAfter.Seconds())), 1)))
		return httpx.NewError(http.StatusTooManyRequests, httpx.CodeRateLimited, "API rate limit exceeded for this app; retry after the Retry-After seconds")
	}
	return nil
}
