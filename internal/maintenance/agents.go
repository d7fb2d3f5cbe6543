package maintenance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Defaults of an AgentRepair.
const (
	// AgentRepairInterval is how often RunAgentRepair makes a pass.
	AgentRepairInterval = time.Minute
	// AgentRepairGrace is how long a count above the agent's sessions must
	// stand still before it is repaired: longer than any store call
	// between the two writes of a session's change.
	AgentRepairGrace = 2 * time.Minute
	// AgentRepairBatch is how many agents a pass reads.
	AgentRepairBatch = 500
	// maxSuspects bounds the counts a repair remembers between passes;
	// past it, it forgets them all and starts observing again.
	maxSuspects = 10000
)

// AgentRepair repairs agents' Active counts that a crash left wrong: a
// process that dies between a support session's write and its agent's
// count, in a store without transactions, leaves the count one off (see
// store.AgentLoad). Each Pass reads the next batch of agents, of every
// app, with their active sessions, and sets a count that differs from
// them:
//
//   - a count below the sessions at once (the agent would take more than
//     its capacity), conditional on the count read: a session change in
//     flight never leaves a count below its sessions, and one that moves
//     the count meanwhile makes the write miss;
//   - a count above the sessions (what a change in flight also shows,
//     between its two writes) only once it has stood still, the count and
//     the sessions both, for Grace: seen so at one pass and, unchanged, at
//     a pass at least Grace later.
//
// Where a store has transactions the counts never drift and every pass
// finds nothing to do. An AgentRepair is not safe for concurrent use (one
// goroutine runs its passes); any number of processes may run one.
type AgentRepair struct {
	// Grace is how long a count above its sessions stands still before it
	// is repaired. Zero means AgentRepairGrace.
	Grace time.Duration
	// Batch is how many agents a pass reads. Zero means AgentRepairBatch.
	Batch int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	afterApp, afterUser string              // where the next pass starts
	suspects            map[agentID]suspect // counts above their sessions, as first seen
}

type agentID struct{ app, user string }

// suspect is a count above its sessions, as seen at a pass.
type suspect struct {
	load store.AgentLoad
	at   time.Time // the first pass that saw it so
}

// Pass reads the next batch of agents (from the first again after the
// last) and repairs the counts that differ from their sessions. It
// returns how many it repaired.
func (r *AgentRepair) Pass(ctx context.Context, st store.Store) (int, error) {
	batch, grace, now := r.Batch, r.Grace, time.Now
	if batch <= 0 {
		batch = AgentRepairBatch
	}
	if grace <= 0 {
		grace = AgentRepairGrace
	}
	if r.Now != nil {
		now = r.Now
	}
	if r.suspects == nil || len(r.suspects) > maxSuspects {
		r.suspects = make(map[agentID]suspect)
	}
	loads, err := st.AgentLoads(ctx, r.afterApp, r.afterUser, batch)
	if err != nil {
		return 0, err
	}
	if len(loads) < batch {
		r.afterApp, r.afterUser = "", ""
	} else {
		last := loads[len(loads)-1]
		r.afterApp, r.afterUser = last.AppID, last.UserID
	}
	at := now()
	fixed := 0
	for _, l := range loads {
		k := agentID{l.AppID, l.UserID}
		if l.Active <= l.Sessions {
			delete(r.suspects, k)
			if l.Active == l.Sessions {
				continue
			}
		} else if s, ok := r.suspects[k]; !ok || s.load != l {
			r.suspects[k] = suspect{load: l, at: at}
			continue
		} else if at.Sub(s.at) < grace {
			continue
		}
		delete(r.suspects, k)
		switch err := st.App(l.AppID).SetAgentActive(ctx, l.UserID, l.Active, l.Sessions); {
		case err == nil:
			fixed++
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			// It changed, or went, since the read: the next pass looks again.
		default:
			return fixed, err
		}
	}
	return fixed, nil
}

// RunAgentRepair makes a pass of an AgentRepair with the default settings
// at once and then every AgentRepairInterval until ctx ends. A failed pass
// is logged and the next one goes on. It returns nil when ctx ends.
func RunAgentRepair(ctx context.Context, st store.Store, log *slog.Logger) error {
	t := time.NewTicker(AgentRepairInterval)
	defer t.Stop()
	var r AgentRepair
	for {
		n, err := r.Pass(ctx, st)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "agent repair failed", "err", err)
		case n > 0:
			log.WarnContext(ctx, "agent active counts repaired", "agents", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
