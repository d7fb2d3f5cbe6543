package support

import (
	"context"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Defaults of the routing sweep (Sweep, RunSweep).
const (
	// SweepInterval is how often RunSweep makes a pass.
	SweepInterval = time.Minute
	// SweepGrace is how long a session waits before the sweep looks at
	// its app: longer than a step takes to route it.
	SweepGrace = 30 * time.Second
	// sweepApps is how many apps a sweep reads at once.
	sweepApps = 500
	// sweepSessions is how many waiting sessions of an app a sweep reads
	// to find their queues.
	sweepSessions = 500
)

// Sweep routes again the waiting sessions of every app that has one
// waiting for SweepGrace: the built-in router gives each queue's oldest
// sessions to the agents with room, and the visitors still waiting are
// told their positions. Steps route at once when they free an agent (a
// close, a transfer, an agent made available), but a process killed
// between a step's change and its routing leaves a visitor waiting beside
// a free agent (and the visitors behind told no new position); so does a
// crash that left an agent's count too high (store.AgentLoad) until the
// repair sweep (maintenance.AgentRepair) lowers it. Sweep finds both. A
// position told already is not stored again (its notice's client message
// id is the same). It returns how many sessions it assigned.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n, err := s.sweep(ctx)
	s.cfg.Metrics.SupportSweep(n, err != nil && ctx.Err() == nil)
	return n, err
}

func (s *Service) sweep(ctx context.Context) (int, error) {
	before := s.cfg.Now().Add(-SweepGrace)
	n, after := 0, ""
	for {
		apps, err := s.st.WaitingSupportApps(ctx, after, before, sweepApps)
		if err != nil {
			return n, fmt.Errorf("support routing sweep: %w", err)
		}
		for _, app := range apps {
			m, err := s.sweepApp(ctx, app)
			n += m
			if err != nil {
				return n, fmt.Errorf("support routing sweep of app %s: %w", app, err)
			}
		}
		if len(apps) < sweepApps {
			return n, nil
		}
		after = apps[len(apps)-1]
	}
}

// sweepApp dispatches each queue of an app's oldest waiting sessions; the
// visitors of a queue where nobody moved are told their positions
// (dispatch tells those of a queue that moved).
func (s *Service) sweepApp(ctx context.Context, appID string) (int, error) {
	waiting, err := s.st.App(appID).ListSupportSessions(ctx, store.SupportQuery{State: store.SupportWaiting, Limit: sweepSessions})
	if err != nil {
		return 0, err
	}
	n := 0
	seen := map[string]bool{}
	for _, ss := range waiting {
		if seen[ss.Skill] {
			continue
		}
		seen[ss.Skill] = true
		m := s.dispatch(ctx, appID, ss.Skill)
		if m == 0 {
			s.tellPositions(ctx, appID, ss.Skill)
		}
		n += m
	}
	return n, nil
}

// RunSweep makes the Service's background passes at once and then every
// SweepInterval until ctx ends: DrainNotices, then Sweep. A failed pass is
// logged and the next one goes on. It returns nil when ctx ends.
func (s *Service) RunSweep(ctx context.Context) error {
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for {
		s.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pass makes one pass of RunSweep.
func (s *Service) pass(ctx context.Context) {
	sent, err := s.DrainNotices(ctx)
	if sent > 0 {
		s.log.WarnContext(ctx, "support notices sent by the drain (a process died or a send failed after their steps)", "notices", sent)
	}
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "support notice drain failed", "err", err)
	}
	n, err := s.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.WarnContext(ctx, "support routing sweep failed", "err", err)
	case n > 0:
		s.log.InfoContext(ctx, "waiting support sessions routed by the sweep", "sessions", n)
	}
}
