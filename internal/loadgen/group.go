package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// GroupConfig shapes a group run: one group of Members users, all online,
// the first Senders of them sending Rate messages per second in all.
type GroupConfig struct {
	Members  int
	Senders  int
	Rate     float64
	Duration time.Duration
}

// Group runs the group fan-out scenario: member 0 creates the group and
// adds the others (batches of 500) over the protocol, then the senders send
// on their schedules; every other member must get every message once, in
// order.
func Group(ctx context.Context, cfg Config, gc GroupConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if gc.Members < 2 || gc.Senders < 1 || gc.Senders > gc.Members || gc.Rate <= 0 || gc.Duration <= 0 {
		return Result{}, fmt.Errorf("--members must be at least 2, --senders between 1 and --members, --rate and --duration positive")
	}
	if err := EnsureFiles(gc.Members, cfg.MaxFiles); err != nil {
		return Result{}, err
	}
	s, err := newSession(cfg)
	if err != nil {
		return Result{}, err
	}
	if err := s.importUsers(ctx, gc.Members); err != nil {
		return Result{}, err
	}
	if err := s.connect(ctx, gc.Members, 1); err != nil {
		s.close()
		return Result{}, err
	}
	defer s.close()
	if n := s.failed(); n > 0 {
		return Result{}, fmt.Errorf("%d of %d members could not log in (%s). %s", n, gc.Members, s.refusalText(), s.refusalHint())
	}
	cur := &atomic.Pointer[phase]{}
	var closed closeTally
	rctx, cancel := context.WithCancel(context.Background())
	wg := s.readAll(rctx, func(i int, f *frameT, at time.Time) { s.handle(cur, i, f, at) }, &closed)
	defer func() { cancel(); s.close(); wg.Wait() }()
	go s.pinger(rctx)

	group := s.cfg.Prefix + "grp"
	owner := s.conns[0]
	if _, err := owner.Request(ctx, 2, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{Id: group, Name: "magpie bench"}}}, 30*time.Second); err != nil {
		return Result{}, fmt.Errorf("create group: %w", err)
	}
	for i, id := 1, uint64(3); i < gc.Members; i, id = i+500, id+1 {
		if _, err := owner.Request(ctx, id, &magpiev1.Frame{Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{
			GroupId: group, UserIds: s.users[i:min(i+500, gc.Members)]}}}, 60*time.Second); err != nil {
			return Result{}, fmt.Errorf("add group members: %w", err)
		}
	}

	p := newPhase(1)
	streams := make([][]*Stream, gc.Members) // [member][sender]
	for m := range streams {
		streams[m] = make([]*Stream, gc.Senders)
		for k := range gc.Senders {
			if k != m {
				st := &Stream{}
				streams[m][k] = st
				p.all = append(p.all, st)
			}
		}
	}
	p.stream = func(rcpt, sender int) *Stream {
		if sender < 0 || sender >= gc.Senders {
			return nil
		}
		return streams[rcpt][sender]
	}
	p.onSources = func() {
		for m := range streams {
			for k, st := range streams[m] {
				if st != nil {
					st.From = p.srcs[k]
				}
			}
		}
	}
	senders := make([]int, gc.Senders)
	for k := range senders {
		senders[k] = k
	}
	r := s.run(ctx, cur, p, gc.Rate, gc.Duration, senders, func(int) *magpiev1.Send {
		return &magpiev1.Send{ToGroupId: group}
	}, "group")
	s.fillConnect(&r)
	r.Members, r.Senders = gc.Members, gc.Senders
	closed.fill(&r)
	// Sent and refused are counted once per member expecting them: report
	// the messages themselves in sent_per_s.
	return r, ctx.Err()
}

// IdleConfig shapes an idle run.
type IdleConfig struct {
	Conns int
	// PerUser is how many connections (devices) each user opens; zero
	// means 5, the default device limit.
	PerUser int
	// Hold is how long the connections stay open, idle but for pings,
	// before the server's RSS is read again; zero means 5 s.
	Hold time.Duration
}

// Idle opens Conns authenticated connections at the connect rate, holds
// them and reports the connect rate achieved and, with a server PID, the
// server's RSS per connection.
func Idle(ctx context.Context, cfg Config, ic IdleConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if ic.Conns < 1 {
		return Result{}, fmt.Errorf("--conns must be positive")
	}
	if ic.PerUser <= 0 {
		ic.PerUser = 5
	}
	if ic.Hold <= 0 {
		ic.Hold = 5 * time.Second
	}
	if err := EnsureFiles(ic.Conns, cfg.MaxFiles); err != nil {
		return Result{}, err
	}
	s, err := newSession(cfg)
	if err != nil {
		return Result{}, err
	}
	if err := s.importUsers(ctx, (ic.Conns+ic.PerUser-1)/ic.PerUser); err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "idle", URLs: cfg.URLs, Users: len(s.users), Errors: map[string]int64{}}
	before, haveProc := s.sample()
	err = s.connect(ctx, ic.Conns, ic.PerUser)
	defer s.close()
	if err != nil {
		return r, err
	}
	var closed closeTally
	rctx, cancel := context.WithCancel(context.Background())
	wg := s.readAll(rctx, func(int, *frameT, time.Time) {}, &closed)
	defer func() { cancel(); s.close(); wg.Wait() }()
	go s.pinger(rctx)
	stop := s.progress(func() string {
		return fmt.Sprintf("idle: %d connections held, %d closed by the server", ic.Conns-s.failed(), closed.count())
	})
	select {
	case <-time.After(ic.Hold):
	case <-ctx.Done():
	}
	stop()
	s.fillConnect(&r)
	closed.fill(&r)
	if haveProc {
		if after, ok := s.sample(); ok {
			r.RSSBeforeKiB, r.RSSAfterKiB, r.ServerRSSKiB = before.RSSKiB, after.RSSKiB, after.RSSKiB
			if r.Connected > 0 {
				r.RSSPerConnKiB = float64(after.RSSKiB-before.RSSKiB) / float64(r.Connected)
			}
		}
	}
	r.Held = r.ConnectFailed == 0 && r.ConnsClosed == 0
	return r, ctx.Err()
}
