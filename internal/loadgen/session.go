package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// Config is what every scenario needs: where the server is, the app's
// credentials, and how to connect.
type Config struct {
	// URLs are the server's base URLs (http://host:port); users are
	// spread over them in turn.
	URLs      []string
	AppKey    string
	AppSecret string
	// SourceAddrs is how many loopback source addresses (127.0.0.2, ...)
	// client sockets spread over when the server is on loopback; zero
	// means 4.
	SourceAddrs int
	// ConnectRate paces logins, per second in all; zero means 500.
	ConnectRate float64
	// LoginConcurrency is how many logins may be in flight at once (dialed
	// and not yet answered); zero means 64. With a login taking L seconds,
	// at most LoginConcurrency/L logins per second can be reached, whatever
	// the ConnectRate.
	LoginConcurrency int
	// FrameLogin logs in with a Login frame after the upgrade, as clients
	// that cannot set request headers (browsers) do, instead of in the
	// upgrade request's headers, as the Go SDK does.
	FrameLogin bool
	// Cutoff is how long after the schedule's end messages may still
	// arrive before they count as lost; zero means 5 s.
	Cutoff time.Duration
	// Size is the content size of a message in bytes; zero means 100.
	Size int
	// Window is how many sends a connection keeps in flight (written and
	// not yet answered) at most, as the SDK's SendWindow does; zero
	// means 32, negative means no limit.
	Window int
	// ServerPID, when not zero, is the server process to read CPU and RSS
	// of (from /proc).
	ServerPID int
	// Progress, when not nil, receives a progress line every second.
	Progress io.Writer
	// Prefix starts the ids of the users the run creates; empty picks one
	// from the clock.
	Prefix string
	// Seed seeds the schedules' random phases; zero picks one.
	Seed uint64
	// MaxFiles caps open files; zero means 20,000.
	MaxFiles int
}

func (c *Config) defaults() error {
	if len(c.URLs) == 0 {
		return fmt.Errorf("no server URL")
	}
	if c.AppKey == "" || c.AppSecret == "" {
		return fmt.Errorf("the app key and the app secret are required")
	}
	if c.SourceAddrs == 0 {
		c.SourceAddrs = 4
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = 500
	}
	if c.LoginConcurrency <= 0 {
		c.LoginConcurrency = 64
	}
	if c.Cutoff <= 0 {
		c.Cutoff = 5 * time.Second
	}
	if c.Size <= 0 {
		c.Size = 100
	}
	if c.Window == 0 {
		c.Window = 32
	}
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("bench%d-", time.Now().UnixNano()%1e12)
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = 20000
	}
	return nil
}

// session is a set of logged-in users.
type session struct {
	cfg     Config
	api     *serverapi.Client
	dialers []*Dialer // one per URL
	users   []string
	conns   []*Conn
	// login holds login latencies; refusals counts failed logins by reason.
	login     *Histogram
	refusals  map[string]int64
	perUser   int           // connections per user (connect)
	connected time.Duration // time taken to connect them all
	// connectCPU is the CPU time the server (when its PID is known) and
	// this process spent while connecting; zero when not read.
	serverConnectCPU, selfConnectCPU time.Duration
	mu                               sync.Mutex // guards refusals, and conns once readAll ran

	// What readAll started, for reconnect: one reader per connection.
	readCtx context.Context
	onFrame func(i int, f *frameT, at time.Time)
	closed  *closeTally
	readWG  *sync.WaitGroup
	readers []*reader
	// gaveUp are the connections the last run's senders gave up (run).
	gaveUp []int
}

// reader is one connection's reader goroutine.
type reader struct {
	ended   chan struct{} // closed when it returned
	retired atomic.Bool   // closed by the load generator: not counted as closed by the server
}

func newSession(cfg Config) (*session, error) {
	api, err := serverapi.New(cfg.URLs[0], cfg.AppKey, cfg.AppSecret)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, api: api, login: NewHistogram(), refusals: map[string]int64{}}
	for _, u := range cfg.URLs {
		d := NewDialer(u, cfg.SourceAddrs)
		d.FrameLogin = cfg.FrameLogin
		s.dialers = append(s.dialers, d)
	}
	return s, nil
}

// importUsers creates n users through the server API, in batches of 100.
func (s *session) importUsers(ctx context.Context, n int) error {
	s.users = make([]string, n)
	var batch []serverapi.UserInput
	for i := range n {
		s.users[i] = fmt.Sprintf("%su%06d", s.cfg.Prefix, i)
		batch = append(batch, serverapi.UserInput{ID: s.users[i]})
		if len(batch) == 100 || i == n-1 {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := s.api.ImportUsers(cctx, batch)
			cancel()
			if err != nil {
				return fmt.Errorf("import users: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// connect logs in conns connections, connection i as user users[i/perUser]
// on URL i%len(URLs), paced at the connect rate with up to
// LoginConcurrency logins in flight, each retried up to 3 times. It keeps the failed ones nil and
// returns an error only when ctx ends.
func (s *session) connect(ctx context.Context, conns, perUser int) error {
	s.conns = make([]*Conn, conns)
	s.perUser = perUser
	tokens := make([]string, len(s.users))
	for i, u := range s.users {
		tok, err := s.api.MintToken(u, 24*time.Hour)
		if err != nil {
			return err
		}
		tokens[i] = tok.Token
	}
	srvBefore, haveSrv := s.sample()
	self := ProcReader{PID: os.Getpid()}
	selfBefore, selfErr := self.Sample()
	start := time.Now()
	sched := Schedule{Start: start, Period: time.Duration(float64(time.Second) / s.cfg.ConnectRate), End: start.Add(1000 * time.Hour)}
	work := make(chan int)
	var wg sync.WaitGroup
	var done atomic.Int64
	stopProgress := s.progress(func() string {
		return fmt.Sprintf("connecting %d/%d, refused %s", done.Load(), conns, s.refusalText())
	})
	defer stopProgress()
	for range min(s.cfg.LoginConcurrency, conns) {
		wg.Go(func() {
			for i := range work {
				u := i / perUser
				for attempt := 0; ; attempt++ {
					t := time.Now()
					c, err := Login(ctx, s.dialers[i%len(s.dialers)], s.cfg.URLs[i%len(s.cfg.URLs)], s.users[u], tokens[u], fmt.Sprintf("bench-%d", i%perUser))
					if err == nil {
						s.login.Record(time.Since(t))
						s.conns[i] = c
						break
					}
					reason := "error"
					if le := (*LoginError)(nil); errors.As(err, &le) {
						reason = le.Reason()
					}
					s.mu.Lock()
					s.refusals[reason]++
					s.mu.Unlock()
					if attempt == 2 || ctx.Err() != nil {
						break
					}
					select {
					case <-time.After(time.Duration(attempt+1) * time.Second):
					case <-ctx.Done():
					}
				}
				done.Add(1)
			}
		})
	}
	for i := range conns {
		if d := time.Until(sched.At(i)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	s.connected = time.Since(start)
	if srvAfter, ok := s.sample(); ok && haveSrv {
		s.serverConnectCPU = srvAfter.CPU - srvBefore.CPU
	}
	if selfAfter, err := self.Sample(); err == nil && selfErr == nil {
		s.selfConnectCPU = selfAfter.CPU - selfBefore.CPU
	}
	return ctx.Err()
}

// failed is the number of connections that could not log in.
func (s *session) failed() int {
	n := 0
	for _, c := range s.conns {
		if c == nil {
			n++
		}
	}
	return n
}

func (s *session) refusalText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refusals) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range s.refusals {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// refusalHint explains login refusals.
func (s *session) refusalHint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hints []string
	if s.refusals["close_4001"] > 0 {
		hints = append(hints, "close 4001 (overload) is a login rate limit: the app's conn_rate (200/s by default; "+
			"--raise-limits lifts it), 1 login/s per user, or 50/s per client address unless the server runs with "+
			"--unlimited-addresses 127.0.0.0/8; lower --connect-rate")
	}
	if s.refusals["http_429"] > 0 {
		hints = append(hints, "HTTP 429 is the server's limit of sockets not logged in yet per client address: "+
			"lower --connect-rate, or spread over more --source-addrs")
	}
	if s.refusals["close_4107"] > 0 || s.refusals["close_4103"] > 0 {
		hints = append(hints, "4107/4103: too many devices per user (max_devices_per_user; --raise-limits lifts it)")
	}
	return strings.Join(hints, "; ")
}

// readAll runs every connection's reader with handle(i, frame, at) until
// ctx ends; closed counts the connections that ended early.
func (s *session) readAll(ctx context.Context, handle func(i int, f *frameT, at time.Time), closed *closeTally) *sync.WaitGroup {
	s.readCtx, s.onFrame, s.closed, s.readWG = ctx, handle, closed, &sync.WaitGroup{}
	s.readers = make([]*reader, len(s.conns))
	for i, c := range s.conns {
		if c != nil {
			s.startReader(i, c)
		}
	}
	return s.readWG
}

func (s *session) startReader(i int, c *Conn) {
	r := &reader{ended: make(chan struct{})}
	s.readers[i] = r
	s.readWG.Go(func() {
		defer close(r.ended)
		err := c.Run(s.readCtx, func(f *frameT, at time.Time) { s.onFrame(i, f, at) })
		if s.readCtx.Err() == nil && !r.retired.Load() {
			s.closed.add(err)
		}
	})
}

// ended reports whether connection i's reader returned: the server closed
// the connection (or it failed).
func (s *session) ended(i int) bool {
	r := s.readers[i]
	if r == nil {
		return false
	}
	select {
	case <-r.ended:
		return true
	default:
		return false
	}
}

// reconnect replaces connection i with a new login of its user and device,
// after closing it if it is open: between the steps of a ramp, so that
// each step starts with every connection logged in and none that the
// server refuses (see run). Call it while nothing sends.
func (s *session) reconnect(ctx context.Context, i int) error {
	r := s.readers[i]
	if r == nil {
		return fmt.Errorf("connection %d never logged in", i)
	}
	r.retired.Store(true)
	s.conns[i].Close()
	select {
	case <-r.ended:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return fmt.Errorf("connection %d did not close", i)
	}
	user := s.users[i/s.perUser]
	tok, err := s.api.MintToken(user, 24*time.Hour)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		c, err := Login(ctx, s.dialers[i%len(s.dialers)], s.cfg.URLs[i%len(s.cfg.URLs)], user, tok.Token, fmt.Sprintf("bench-%d", i%s.perUser))
		if err == nil {
			s.mu.Lock()
			s.conns[i] = c
			s.mu.Unlock()
			s.startReader(i, c)
			return nil
		}
		if attempt == 2 {
			return fmt.Errorf("reconnect %s: %w", user, err)
		}
		// A user may log in once a second.
		if !sleepCtx(ctx, time.Duration(attempt+1)*time.Second) {
			return ctx.Err()
		}
	}
}

// closeTally counts connections that ended during a run, by reason.
type closeTally struct {
	mu sync.Mutex
	n  int64
	by map[string]int64
}

func (c *closeTally) add(err error) {
	reason := "error"
	if code := closeCode(err); code > 0 {
		reason = fmt.Sprintf("close_%d", code)
	} else if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
		reason = "eof"
	} else if strings.Contains(err.Error(), "reset") {
		reason = "reset"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.by == nil {
		c.by = map[string]int64{}
	}
	c.by[reason]++
}

func (c *closeTally) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// take sets the result's closed counts, and starts counting again.
func (c *closeTally) take(r *Result) {
	c.fill(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.by = 0, nil
}

// fill sets the result's closed counts.
func (c *closeTally) fill(r *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.ConnsClosed = c.n
	if len(c.by) > 0 {
		r.ClosedBy = map[string]int64{}
		for k, v := range c.by {
			r.ClosedBy[k] = v
		}
	}
}

// pinger keeps quiet connections alive until ctx ends.
func (s *session) pinger(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			conns := slices.Clone(s.conns)
			s.mu.Unlock()
			for _, c := range conns {
				if c != nil && ctx.Err() == nil {
					_ = c.PingIfIdle(ctx)
				}
			}
		}
	}
}

// progress prints line() every second to the progress writer until the
// returned stop is called.
func (s *session) progress(line func() string) (stop func()) {
	if s.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(s.cfg.Progress, "[bench %3.0fs] %s\n", time.Since(start).Seconds(), line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (s *session) close() {
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
	for _, d := range s.dialers {
		d.Close()
	}
}

// sample reads the server's CPU and RSS, when a PID was given.
func (s *session) sample() (ProcSample, bool) {
	if s.cfg.ServerPID == 0 {
		return ProcSample{}, false
	}
	p, err := ProcReader{PID: s.cfg.ServerPID}.Sample()
	return p, err == nil
}
