package gateway

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// appLimiters holds one token bucket per app, so that one app's burst never
// slows another app. It is safe for concurrent use.
type appLimiters struct {
	mu sync.Mutex // guards m
	m  map[string]*rate.Limiter
}

func newAppLimiters() *appLimiters {
	return &appLimiters{m: make(map[string]*rate.Limiter)}
}

// get returns the app's limiter, adjusted to the app's current limits.
func (l *appLimiters) get(appID string, perSec float64, burst int, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[appID]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(perSec), burst)
		l.m[appID] = lim
		return lim
	}
	if lim.Limit() != rate.Limit(perSec) {
		lim.SetLimitAt(now, rate.Limit(perSec))
	}
	if lim.Burst() != burst {
		lim.SetBurstAt(now, burst)
	}
	return lim
}

// rateLimit applies the app's server API rate limit and sets the
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers; over the
// limit it answers 429 with Retry-After.
func (g *Gateway) rateLimit(c *gin.Context) {
	creds := credsOf(c)
	perSec, burst := creds.Limits.APIRate, creds.Limits.APIBurst
	now := g.now()
	lim := g.apiLimits.get(creds.App.ID, perSec, burst, now)
	ok := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(int(tokens), 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil((float64(burst)-tokens)/perSec))))
	if !ok {
		wait := int(math.Ceil((1 - tokens) / perSec))
		h.Set("Retry-After", strconv.Itoa(max(wait, 1)))
		writeError(c, newError(http.StatusTooManyRequests, CodeRateLimited, "API rate limit exceeded for this app; retry after the Retry-After seconds"))
		return
	}
	c.Next()
}
