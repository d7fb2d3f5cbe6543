package loadgen

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

type frameT = magpiev1.Frame

// Result is what a scenario measured. Latencies are in milliseconds.
type Result struct {
	Scenario string   `json:"scenario"`
	URLs     []string `json:"urls"`
	Users    int      `json:"users,omitempty"`
	Members  int      `json:"members,omitempty"`
	Senders  int      `json:"senders,omitempty"`
	// OfferedRate is the scheduled messages per second in all.
	OfferedRate float64 `json:"offered_rate,omitempty"`
	DurationS   float64 `json:"duration_s,omitempty"`
	Size        int     `json:"size,omitempty"`
	Tally
	// Expected is the deliveries expected: each message accepted once for
	// one-to-one, once per other member for a group (Sent and Refused
	// count messages; Delivered and Lost count deliveries).
	Expected int64 `json:"expected"`
	// LateFromEarlierStep counts deliveries of an earlier ramp step's
	// messages after its cut-off.
	LateFromEarlierStep int64 `json:"late_from_earlier_step,omitempty"`
	// RatePerS is what was delivered per second of the schedule: messages
	// for one-to-one, deliveries (one per member) for a group.
	RatePerS float64 `json:"rate_per_s"`
	// Scheduled is the number of messages the schedules held (the offered
	// rate times the duration, give or take the random phases).
	Scheduled int64 `json:"scheduled,omitempty"`
	// SentPerS is what was sent per second of the schedule.
	SentPerS float64 `json:"sent_per_s,omitempty"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
	MeanMs   float64 `json:"mean_ms"`
	AckP50Ms float64 `json:"ack_p50_ms,omitempty"`
	AckP99Ms float64 `json:"ack_p99_ms,omitempty"`
	AckMaxMs float64 `json:"ack_max_ms,omitempty"`
	// WriteP50Ms, WriteP99Ms and WriteMaxMs are the latency from the last
	// write of a send (the one the server took) to its delivery: what the
	// server adds, without the time a sender spent behind its schedule or
	// waiting out refusals, which the end-to-end figures (from the
	// scheduled time) include.
	WriteP50Ms float64 `json:"write_p50_ms,omitempty"`
	WriteP99Ms float64 `json:"write_p99_ms,omitempty"`
	WriteMaxMs float64 `json:"write_max_ms,omitempty"`
	// Errors counts the server's error replies to sends, by code.
	Errors map[string]int64 `json:"errors"`
	// AcksRefused counts DeliverAcks the server refused (retryable; the
	// next one covers them).
	AcksRefused int64 `json:"acks_refused,omitempty"`
	// GoBacks counts the server's overload refusals that sent a
	// connection back to resend from the refused message, after the
	// server's retry hint (the refusals behind it are in Errors too).
	GoBacks int64 `json:"go_backs,omitempty"`
	// SendersGaveUp counts the connections whose sender stopped at the
	// cut-off with sends unanswered or a go-back open; a ramp reconnects
	// them, and the connections the server closed, before its next step
	// (Reconnected).
	SendersGaveUp int `json:"senders_gave_up,omitempty"`
	Reconnected   int `json:"reconnected,omitempty"`
	// Reorders describe the first reordered deliveries (at most 16).
	Reorders []Reorder `json:"reorders,omitempty"`
	// ConnsClosed counts connections the server ended during the run.
	ConnsClosed int64 `json:"conns_closed"`
	// ClosedBy counts them by close code ("close_4001") or failure.
	ClosedBy map[string]int64 `json:"closed_by,omitempty"`
	// Server's CPU in percent of one core over the schedule, and RSS at its end.
	ServerCPUPercent float64 `json:"server_cpu_percent,omitempty"`
	ServerRSSKiB     int64   `json:"server_rss_kib,omitempty"`
	// LoadGenCPUPercent is this process's CPU over the schedule, in percent
	// of one core: when it nears the cores the machine has, the load
	// generator, not the server, may be the limit.
	LoadGenCPUPercent float64 `json:"loadgen_cpu_percent,omitempty"`
	// LoadGenCPUUsPerMsg is this process's CPU time over the schedule (as
	// LoadGenCPUPercent: logins excluded) per delivery, in microseconds:
	// what the load generator takes from the server on shared cores for
	// each message (each delivery, in a group run). /proc counts CPU in
	// 10 ms ticks: short runs read it coarsely.
	LoadGenCPUUsPerMsg float64 `json:"loadgen_cpu_us_per_msg,omitempty"`

	// Connections.
	Conns           int              `json:"conns,omitempty"`
	Connected       int              `json:"connected,omitempty"`
	ConnectFailed   int              `json:"connect_failed,omitempty"`
	ConnectRatePerS float64          `json:"connect_rate_per_s,omitempty"`
	LoginP50Ms      float64          `json:"login_p50_ms,omitempty"`
	LoginP99Ms      float64          `json:"login_p99_ms,omitempty"`
	LoginRefusals   map[string]int64 `json:"login_refusals,omitempty"`
	// ConnectServerCPUUsPerLogin and ConnectLoadGenCPUUsPerLogin are the CPU
	// time the server (with --server-pid) and this process spent while
	// connecting, per connection logged in, in microseconds: on shared
	// cores, their sum bounds the logins per second the machine can make.
	ConnectServerCPUUsPerLogin  float64 `json:"connect_server_cpu_us_per_login,omitempty"`
	ConnectLoadGenCPUUsPerLogin float64 `json:"connect_loadgen_cpu_us_per_login,omitempty"`
	RSSBeforeKiB                int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB                 int64   `json:"rss_after_kib,omitempty"`
	RSSPerConnKiB               float64 `json:"rss_per_conn_kib,omitempty"`
	SourceAddrs                 int     `json:"source_addrs,omitempty"`

	// PresendHookMs is the delay of the pre-send hook the load generator
	// ran for the run (magpie bench --presend-hook-latency), and HookCalls
	// how many messages it was asked about; zero without one.
	PresendHookMs float64 `json:"presend_hook_ms,omitempty"`
	HookCalls     int64   `json:"hook_calls,omitempty"`

	// Ramp.
	Steps    []Result `json:"steps,omitempty"`
	HeldRate float64  `json:"held_rate,omitempty"`
	// Held says whether the run met the bar: every message delivered once
	// and in order, at least 98% of the offered rate, p99 under 1 s, no
	// error replies.
	Held bool `json:"held"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// phase is one timed run of sends on a session: one ramp step, or the
// whole of a one-to-one or group scenario.
type phase struct {
	step   int
	start  time.Time
	end    time.Time
	e2e    *Histogram
	ack    *Histogram
	write  *Histogram       // from a send's last write to its delivery
	srcs   []*Source        // per connection that sends
	sentAt [][]atomic.Int64 // per connection, per message: when it was written
	stream func(rcpt, sender int) *Stream
	all    []*Stream
	// scheduled is the number of messages the schedules hold.
	scheduled int64
	// onSources, when set, runs once the sources exist, before any send.
	onSources func()

	// goBacks, per connection that sends, carry overload refusals from
	// the reader to the sender.
	goBacks []*GoBack

	mu                                  sync.Mutex
	errs                                map[string]int64
	reorders                            []Reorder // the first few
	gaveUp                              []int     // senders that stopped at the cut-off (run)
	acksRefused, stale, sent, delivered atomic.Int64
	errCount, resent                    atomic.Int64
}

// sleepCtx waits for d or until ctx ends, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func newPhase(step int) *phase {
	return &phase{step: step, e2e: NewHistogram(), ack: NewHistogram(), write: NewHistogram(), errs: map[string]int64{}}
}

// content is a message's body: "mb<step> <sender> <index> <due unix nanos> " padded to size.
func content(step, sender, idx int, due time.Time, size int) string {
	// strconv, not fmt: this runs for every message sent, on the cores
	// the server being measured needs too.
	b := make([]byte, 0, max(size, 64))
	b = append(b, "mb"...)
	for _, v := range [...]int64{int64(step), int64(sender), int64(idx), due.UnixNano()} {
		b = strconv.AppendInt(b, v, 10)
		b = append(b, ' ')
	}
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

func parseContent(s string) (step, sender, idx int, due time.Time, ok bool) {
	rest, ok := strings.CutPrefix(s, "mb")
	if !ok {
		return
	}
	var v [4]int64
	for i := range v {
		var f string
		f, rest, ok = strings.Cut(rest, " ")
		if !ok {
			return
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, 0, 0, time.Time{}, false
		}
		v[i] = n
	}
	return int(v[0]), int(v[1]), int(v[2]), time.Unix(0, v[3]), true
}

// handle accounts for one frame read by connection i of s.
func (s *session) handle(cur *atomic.Pointer[phase], i int, f *frameT, at time.Time) {
	p := cur.Load()
	if p == nil {
		return
	}
	switch {
	case f.GetSendAck() != nil:
		st, k, ok := parseClientMsgID(f.GetSendAck().GetClientMsgId())
		if ok && st == p.step && i < len(p.sentAt) && k < len(p.sentAt[i]) {
			p.goBacks[i].Replied()
			p.srcs[i].Acked(k)
			if t := p.sentAt[i][k].Load(); t != 0 {
				p.ack.Record(at.Sub(time.Unix(0, t)))
			}
		}
	case f.GetError() != nil:
		id := f.GetId()
		if id >= ackIDBase {
			p.acksRefused.Add(1)
			return
		}
		step, epoch, idx := ParseSendID(id)
		if step == p.step && i < len(p.srcs) && p.srcs[i] != nil {
			if after := f.GetError().GetRetryAfterMs(); after > 0 {
				// Overload: go back to the refused message (unless this
				// refusal is one of those behind an earlier one).
				if p.goBacks[i].Refused(epoch, idx, time.Duration(after)*time.Millisecond) {
					p.resent.Add(1)
				}
			} else {
				p.srcs[i].Refused(idx)
			}
			p.goBacks[i].Replied()
		}
		p.errCount.Add(1)
		p.mu.Lock()
		p.errs[f.GetError().GetCode()]++
		p.mu.Unlock()
	case f.GetDeliver() != nil:
		self := s.conns[i].User
		for _, m := range f.GetDeliver().GetMessages() {
			if m.GetSenderId() == self {
				continue
			}
			step, sender, idx, due, ok := parseContent(m.GetContent())
			if !ok {
				continue
			}
			if step != p.step {
				p.stale.Add(1)
				continue
			}
			st := p.stream(i, sender)
			if st == nil {
				continue
			}
			v, ro := st.Deliver(idx, m.GetSeq())
			if v == Reordered {
				ro.Recipient, ro.Sender, ro.ConvID = i, sender, m.GetConvId()
				p.mu.Lock()
				if len(p.reorders) < maxReorders {
					p.reorders = append(p.reorders, ro)
				}
				p.mu.Unlock()
			}
			if v != Duplicate {
				p.e2e.Record(at.Sub(due))
				if sender >= 0 && sender < len(p.sentAt) && idx >= 0 && idx < len(p.sentAt[sender]) {
					if t := p.sentAt[sender][idx].Load(); t != 0 {
						p.write.Record(at.Sub(time.Unix(0, t)))
					}
				}
				p.delivered.Add(1)
			}
		}
	}
}

// run sends on the schedules from senders (connection indexes, with their
// send target), waits until everything expected arrived or the cut-off
// passed, and returns the phase's result.
func (s *session) run(ctx context.Context, cur *atomic.Pointer[phase], p *phase, rate float64, d time.Duration,
	senders []int, target func(i int) *magpiev1.Send, scenario string) Result {
	rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(p.step)))
	p.start = time.Now().Add(100 * time.Millisecond)
	p.end = p.start.Add(d)
	period := time.Duration(float64(time.Second) * float64(len(senders)) / rate)
	p.srcs = make([]*Source, len(s.conns))
	p.sentAt = make([][]atomic.Int64, len(s.conns))
	p.goBacks = make([]*GoBack, len(s.conns))
	scheds := make([]Schedule, len(senders))
	for k, i := range senders {
		scheds[k] = NewSchedule(p.start, p.end, period, rng)
		p.srcs[i] = NewSource(scheds[k].Total())
		p.scheduled += int64(scheds[k].Total())
		p.sentAt[i] = make([]atomic.Int64, scheds[k].Total())
		p.goBacks[i] = NewGoBack()
	}
	if p.onSources != nil {
		p.onSources()
	}
	cur.Store(p)
	before, haveProc := s.sample()
	self := ProcReader{PID: os.Getpid()}
	selfBefore, selfErr := self.Sample()
	var lastE2E *Histogram // the latencies at the previous line
	stop := s.progress(func() string {
		now := p.e2e.Snapshot()
		recent := now.Since(lastE2E)
		lastE2E = now
		return fmt.Sprintf("%s rate=%.0f sent=%d delivered=%d errors=%d p99~%.1fms (last second's %.1fms)", scenario, rate,
			p.sent.Load(), p.delivered.Load(), p.errCount.Load(), ms(now.Percentile(99)), ms(recent.Percentile(99)))
	})
	defer stop()
	sendCtx, cancel := context.WithDeadline(ctx, p.end.Add(s.cfg.Cutoff))
	defer cancel()
	var wg sync.WaitGroup
	var writeErrs atomic.Int64
	for k, i := range senders {
		wg.Go(func() {
			c, sched, gb := s.conns[i], scheds[k], p.goBacks[i]
			// A sender that stops before every send is answered, none
			// refused, may leave the server refusing the connection's
			// sends until the refused one comes again (a go-back): the
			// connection is no use for a later step (see Ramp).
			clean := false
			defer func() {
				if !clean {
					p.mu.Lock()
					p.gaveUp = append(p.gaveUp, i)
					p.mu.Unlock()
				}
			}()
			sent := 0 // messages sent at least once
			// One timer for the whole schedule (since Go 1.23, Reset
			// needs no drain of a stopped or fired timer).
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for idx := 0; ; {
				if back, after, ok := gb.Take(); ok {
					if !sleepCtx(sendCtx, after) {
						return
					}
					idx = back
					continue
				}
				if idx >= sched.Total() {
					// Everything written: wait for the replies, which may
					// still send it back.
					if gb.Drained(sendCtx) {
						clean = true
						return
					}
					if sendCtx.Err() != nil {
						return
					}
					continue
				}
				if dl := time.Until(sched.At(idx)); dl > 0 {
					timer.Reset(dl)
					select {
					case <-timer.C:
					case <-gb.Wake():
						timer.Stop()
						continue // take, at the top, has where to go back to
					case <-sendCtx.Done():
						return
					}
				}
				if !gb.Room(sendCtx, s.cfg.Window) {
					if sendCtx.Err() != nil {
						return
					}
					continue // a go-back is due
				}
				send := target(i)
				send.ClientMsgId = clientMsgID(p.step, idx)
				send.Type = "text"
				send.Content = content(p.step, i, idx, sched.At(idx), s.cfg.Size)
				p.sentAt[i][idx].Store(time.Now().UnixNano())
				err := c.Write(sendCtx, &magpiev1.Frame{Id: SendID(p.step, gb.Epoch(), idx), Body: &magpiev1.Frame_Send{Send: send}})
				if err != nil {
					if sendCtx.Err() == nil {
						writeErrs.Add(1)
					}
					return
				}
				gb.Wrote()
				if idx == sent {
					sent++
					p.srcs[i].Sent()
					p.sent.Add(1)
				}
				idx++
			}
		})
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()
	// The CPU figure covers the schedule, not the drain after it.
	var after ProcSample
	select {
	case <-time.After(time.Until(p.end)):
	case <-ctx.Done():
	}
	if haveProc {
		after, haveProc = s.sample()
	}
	var selfCPU float64
	var selfTime time.Duration
	if selfAfter, err := self.Sample(); err == nil && selfErr == nil {
		selfCPU = CPUPercent(selfBefore, selfAfter)
		selfTime = selfAfter.CPU - selfBefore.CPU
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-sendCtx.Done():
			done = true
		case <-tick.C:
			select {
			case <-sendersDone:
				done = outstanding(p.all) == 0
			default:
			}
		}
	}
	cancel()
	<-sendersDone
	cur.Store(nil)

	r := Result{Scenario: scenario, URLs: s.cfg.URLs, OfferedRate: rate, DurationS: d.Seconds(), Size: s.cfg.Size,
		Errors: map[string]int64{}}
	for _, st := range p.all {
		r.Add(st)
	}
	r.Expected = r.Sent - r.Refused
	r.Scheduled = p.scheduled
	r.Sent, r.Refused = p.sent.Load(), 0
	for _, src := range p.srcs {
		if src != nil {
			r.Refused += src.refused.Load()
		}
	}
	r.LateFromEarlierStep = p.stale.Load()
	r.RatePerS = float64(r.Delivered) / d.Seconds()
	r.SentPerS = float64(p.sent.Load()) / d.Seconds()
	r.P50Ms, r.P90Ms, r.P99Ms = ms(p.e2e.Percentile(50)), ms(p.e2e.Percentile(90)), ms(p.e2e.Percentile(99))
	r.P999Ms, r.MaxMs, r.MeanMs = ms(p.e2e.Percentile(99.9)), ms(p.e2e.Max()), ms(p.e2e.Mean())
	r.AckP50Ms, r.AckP99Ms, r.AckMaxMs = ms(p.ack.Percentile(50)), ms(p.ack.Percentile(99)), ms(p.ack.Max())
	r.WriteP50Ms, r.WriteP99Ms, r.WriteMaxMs = ms(p.write.Percentile(50)), ms(p.write.Percentile(99)), ms(p.write.Max())
	p.mu.Lock()
	for k, v := range p.errs {
		r.Errors[k] = v
	}
	r.Reorders = p.reorders
	r.SendersGaveUp = len(p.gaveUp)
	s.gaveUp = p.gaveUp
	p.mu.Unlock()
	if n := writeErrs.Load(); n > 0 {
		r.Errors["client_write_failed"] = n
	}
	r.AcksRefused = p.acksRefused.Load()
	r.GoBacks = p.resent.Load()
	r.LoadGenCPUPercent = selfCPU
	if r.Delivered > 0 {
		r.LoadGenCPUUsPerMsg = float64(selfTime.Microseconds()) / float64(r.Delivered)
	}
	if haveProc {
		r.ServerCPUPercent = CPUPercent(before, after)
		r.ServerRSSKiB = after.RSSKiB
	}
	r.Held = r.Lost == 0 && r.Unconfirmed == 0 && r.Duplicated == 0 && r.Reordered == 0 && len(r.Errors) == 0 && r.Refused == 0 &&
		r.Sent > 0 && float64(r.Delivered) >= 0.98*float64(p.scheduled)*expectPerMessage(p) && r.P99Ms < 1000
	return r
}

// expectPerMessage is the number of deliveries each sent message makes.
func expectPerMessage(p *phase) float64 {
	var senders, streams float64
	for _, src := range p.srcs {
		if src != nil {
			senders++
		}
	}
	streams = float64(len(p.all))
	if senders == 0 {
		return 1
	}
	return streams / senders
}

func outstanding(all []*Stream) int64 {
	var n int64
	for _, st := range all {
		n += st.Outstanding()
	}
	return n
}

// OneToOneConfig shapes a one-to-one run.
type OneToOneConfig struct {
	Users    int           // even: users 2k and 2k+1 are partners
	Rate     float64       // messages per second in all
	Duration time.Duration // of the schedule
}

// connectPairs imports and logs in users for one-to-one runs.
func connectPairs(ctx context.Context, cfg Config, users int) (*session, *atomic.Pointer[phase], *closeTally, func(), error) {
	if users < 2 || users%2 != 0 {
		return nil, nil, nil, nil, fmt.Errorf("--users must be even and at least 2, not %d", users)
	}
	if err := EnsureFiles(users, cfg.MaxFiles); err != nil {
		return nil, nil, nil, nil, err
	}
	s, err := newSession(cfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := s.importUsers(ctx, users); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := s.connect(ctx, users, 1); err != nil {
		s.close()
		return nil, nil, nil, nil, err
	}
	if n := s.failed(); n > 0 {
		s.close()
		return nil, nil, nil, nil, fmt.Errorf("%d of %d users could not log in (%s). %s", n, users, s.refusalText(), s.refusalHint())
	}
	cur := &atomic.Pointer[phase]{}
	closed := &closeTally{}
	rctx, cancel := context.WithCancel(context.Background())
	wg := s.readAll(rctx, func(i int, f *frameT, at time.Time) { s.handle(cur, i, f, at) }, closed)
	go s.pinger(rctx)
	return s, cur, closed, func() { cancel(); s.close(); wg.Wait() }, nil
}

func (s *session) oneToOnePhase(ctx context.Context, cur *atomic.Pointer[phase], step int, rate float64, d time.Duration, scenario string) Result {
	p := newPhase(step)
	n := len(s.conns)
	ins := make([]*Stream, n)
	senders := make([]int, n)
	for i := range n {
		senders[i] = i
	}
	// ins[i] is what i receives from its partner i^1; sources are set by run.
	p.stream = func(rcpt, sender int) *Stream {
		if sender != rcpt^1 {
			return nil
		}
		return ins[rcpt]
	}
	for i := range n {
		ins[i] = &Stream{}
	}
	p.all = ins
	p.onSources = func() { // run makes the sources
		for i := range n {
			ins[i].From = p.srcs[i^1]
		}
	}
	target := func(i int) *magpiev1.Send { return &magpiev1.Send{ToUserId: s.conns[i^1].User} }
	return s.run(ctx, cur, p, rate, d, senders, target, scenario)
}

// OneToOne runs the one-to-one scenario.
func OneToOne(ctx context.Context, cfg Config, oc OneToOneConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if oc.Rate <= 0 || oc.Duration <= 0 {
		return Result{}, fmt.Errorf("--rate and --duration must be positive")
	}
	s, cur, closed, done, err := connectPairs(ctx, cfg, oc.Users)
	if err != nil {
		return Result{}, err
	}
	defer done()
	r := s.oneToOnePhase(ctx, cur, 1, oc.Rate, oc.Duration, "one-to-one")
	s.fillConnect(&r)
	r.Users = oc.Users
	closed.fill(&r)
	return r, ctx.Err()
}

func (s *session) fillConnect(r *Result) {
	r.Conns = len(s.conns)
	r.ConnectFailed = s.failed()
	r.Connected = r.Conns - r.ConnectFailed
	if s.connected > 0 {
		r.ConnectRatePerS = float64(r.Connected) / s.connected.Seconds()
	}
	if r.Connected > 0 {
		r.ConnectServerCPUUsPerLogin = float64(s.serverConnectCPU.Microseconds()) / float64(r.Connected)
		r.ConnectLoadGenCPUUsPerLogin = float64(s.selfConnectCPU.Microseconds()) / float64(r.Connected)
	}
	r.LoginP50Ms, r.LoginP99Ms = ms(s.login.Percentile(50)), ms(s.login.Percentile(99))
	s.mu.Lock()
	if len(s.refusals) > 0 {
		r.LoginRefusals = map[string]int64{}
		for k, v := range s.refusals {
			r.LoginRefusals[k] = v
		}
	}
	s.mu.Unlock()
	r.SourceAddrs = s.dialers[0].Sources()
}

// RampConfig shapes a ramp: one-to-one at From, From+Step, ... To
// messages per second, StepDuration each, on the same users.
type RampConfig struct {
	Users          int
	From, Step, To float64
	StepDuration   time.Duration
	// KeepGoing runs every step even after one failed.
	KeepGoing bool
}

// Ramp runs one-to-one at rising rates and reports the highest that held.
func Ramp(ctx context.Context, cfg Config, rc RampConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if rc.From <= 0 || rc.Step <= 0 || rc.To < rc.From || rc.StepDuration <= 0 {
		return Result{}, fmt.Errorf("--from, --step, --to and --step-duration must be positive, --to at least --from")
	}
	s, cur, closed, done, err := connectPairs(ctx, cfg, rc.Users)
	if err != nil {
		return Result{}, err
	}
	defer done()
	r := Result{Scenario: "ramp", URLs: cfg.URLs, Users: rc.Users, Size: cfg.Size, Errors: map[string]int64{}}
	s.fillConnect(&r)
	step, allHeld := 0, true
	for rate := rc.From; rate <= rc.To+1e-9 && ctx.Err() == nil; rate += rc.Step {
		step++
		if step > 1 {
			// Every step starts with every connection logged in and none
			// left refused by the step before.
			n, err := s.restore(ctx)
			r.Steps[len(r.Steps)-1].Reconnected = n
			if err != nil {
				return r, fmt.Errorf("before the step at %.0f msgs/s: %w", rate, err)
			}
		}
		st := s.oneToOnePhase(ctx, cur, step, rate, rc.StepDuration, "ramp")
		st.Users = rc.Users
		closed.take(&st)
		r.Steps = append(r.Steps, st)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "[bench] step %.0f msgs/s: %s\n", rate, StepLine(st))
		}
		if st.Held && allHeld {
			r.HeldRate = rate
		} else {
			allHeld = false
		}
		if !st.Held && !rc.KeepGoing {
			break
		}
	}
	// The summary fields are those of the highest step that held.
	for _, st := range r.Steps {
		if st.OfferedRate == r.HeldRate {
			steps := r.Steps
			held := r.HeldRate
			conn := r
			r = st
			r.Scenario, r.Steps, r.HeldRate = "ramp", steps, held
			r.Conns, r.Connected, r.ConnectFailed, r.ConnectRatePerS = conn.Conns, conn.Connected, conn.ConnectFailed, conn.ConnectRatePerS
			r.LoginP50Ms, r.LoginP99Ms, r.SourceAddrs = conn.LoginP50Ms, conn.LoginP99Ms, conn.SourceAddrs
		}
	}
	r.Held = r.HeldRate > 0
	return r, ctx.Err()
}

// restore reconnects the connections the last run's senders gave up
// (see run), and those the server closed, and reports how many.
func (s *session) restore(ctx context.Context) (int, error) {
	redo := map[int]bool{}
	for _, i := range s.gaveUp {
		redo[i] = true
	}
	s.gaveUp = nil
	for i := range s.readers {
		if s.ended(i) {
			redo[i] = true
		}
	}
	n := 0
	for _, i := range slices.Sorted(maps.Keys(redo)) {
		if err := s.reconnect(ctx, i); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// StepLine summarises a run in one line.
func StepLine(r Result) string {
	verdict := "held"
	if !r.Held {
		verdict = "FAILED"
	}
	line := fmt.Sprintf("%s: sent=%d delivered=%d lost=%d unconfirmed=%d dup=%d reordered=%d errors=%s delivered/s=%.0f p50=%.1fms p99=%.1fms max=%.1fms",
		verdict, r.Sent, r.Delivered, r.Lost, r.Unconfirmed, r.Duplicated, r.Reordered, ErrorText(r.Errors), r.RatePerS, r.P50Ms, r.P99Ms, r.MaxMs)
	if r.SendersGaveUp > 0 {
		line += fmt.Sprintf(" senders_gave_up=%d", r.SendersGaveUp)
	}
	return line
}

// ErrorText prints error counts by code, "0" when there are none.
func ErrorText(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// clientMsgID is the client message id of a user's idx-th message of a
// step: both numbers zero-padded, so that a user's ids sort as strings in
// the order they are sent, as the SDKs' do (they start with the time),
// which the server's dedup index is fastest with.
func clientMsgID(step, idx int) string {
	b := make([]byte, 0, 16)
	b = appendPadded(b, step, 4)
	b = append(b, '-')
	b = appendPadded(b, idx, 10)
	return string(b)
}

func appendPadded(b []byte, n, width int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, int64(n), 10)
	for len(b)-start < width {
		b = slices.Insert(b, start, '0')
	}
	return b
}

// parseClientMsgID is the inverse of clientMsgID.
func parseClientMsgID(id string) (step, idx int, ok bool) {
	st, ix, ok := strings.Cut(id, "-")
	if !ok {
		return 0, 0, false
	}
	step, err1 := strconv.Atoi(st)
	idx, err2 := strconv.Atoi(ix)
	return step, idx, err1 == nil && err2 == nil && step >= 0 && idx >= 0
}
