package support

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// A step's notices (assigned, transferred_away, closed) are entries of the
// support outbox (store.SupportEvent of kind store.SupportKindNotice),
// stored with the step's change like its events: the step sends them
// after its commit and marks them sent; what a process that died between
// the two (or a failed send) left pending, DrainNotices sends later. A
// notice's id is its message's client message id, derived from the step,
// so a notice sent by its step and again by the drain is stored once.
// Queue positions are not stored: they change with every step of the
// queue, and the routing sweep tells them again (Sweep).

// Defaults of the notices' drain (DrainNotices).
const (
	// NoticeGrace is how old a pending notice must be before the drain
	// sends it: far longer than a step takes from its commit to its
	// notices' sending, so that the drain sends only what a crash or a
	// failed send left behind.
	NoticeGrace = 30 * time.Second
	// noticeBatch is how many pending notices a drain reads at once.
	noticeBatch = 500
	// noticeRounds bounds the batches of one drain pass.
	noticeRounds = 20
	// noticeTimeout bounds the sending of a step's notices, which runs on
	// after the step's caller has gone.
	noticeTimeout = 10 * time.Second
)

// notice is the content of a support system message (type "custom").
type notice struct {
	Support noticeBody `json:"support"`
}

type noticeBody struct {
	Event     string `json:"event"` // queued, assigned, transferred_away, closed
	SessionID string `json:"session_id"`
	VisitorID string `json:"visitor_id"`
	AgentID   string `json:"agent_id,omitempty"`
	Skill     string `json:"skill,omitempty"`
	Position  int    `json:"position,omitempty"`
}

// notice returns the notice telling user the step event of session ss (as
// the step leaves it), ready to be stored with the step's change. Its id,
// the message's client message id, names the user: the visitor's and the
// agent's notices of one step are two messages (system messages share one
// sender, and a sender's client message ids are deduplicated).
func (s *Service) notice(appID, user string, ss store.SupportSession, event string) store.SupportEvent {
	return s.noticeEntry(appID, user, ss.ID, ss.ID+":"+event+":"+strconv.FormatInt(ss.Version, 10)+":"+recipientKey(user),
		noticeBody{Event: event, SessionID: ss.ID, VisitorID: ss.VisitorID, AgentID: ss.AgentID, Skill: ss.Skill})
}

// positionNotice returns the notice telling the visitor of waiting
// session ss its position pos in the queue.
func (s *Service) positionNotice(appID string, ss store.SupportSession, pos int) store.SupportEvent {
	return s.noticeEntry(appID, ss.VisitorID, ss.ID, ss.ID+":queued:"+strconv.Itoa(pos)+":"+strconv.FormatInt(ss.Version, 10),
		noticeBody{Event: "queued", SessionID: ss.ID, VisitorID: ss.VisitorID, Skill: ss.Skill, Position: pos})
}

func (s *Service) noticeEntry(appID, user, sessionID, key string, b noticeBody) store.SupportEvent {
	content, err := json.Marshal(notice{Support: b})
	if err != nil {
		s.log.Error("support notice not encoded", "app_id", appID, "err", err) // cannot happen: strings and ints
	}
	return store.SupportEvent{Kind: store.SupportKindNotice, SessionID: sessionID, ID: "support:" + key, Type: b.Event,
		UserID: user, At: s.now(), Payload: content}
}

// recipientKey is user in a notice's key: the id itself when short, else
// a hash of it, so that the key stays within a client message id's 128
// bytes.
func recipientKey(user string) string {
	if len(user) <= 40 {
		return user
	}
	sum := sha256.Sum256([]byte(user))
	return "h" + hex.EncodeToString(sum[:8])
}

// tell publishes the events and sends the notices that a step stored with
// its change; what it cannot is left to the drains.
func (s *Service) tell(ctx context.Context, appID string, entries []store.SupportEvent) {
	var evs, ns []store.SupportEvent
	for _, e := range entries {
		if e.Kind == store.SupportKindNotice {
			ns = append(ns, e)
		} else {
			evs = append(evs, e)
		}
	}
	if len(evs) > 0 {
		if err := s.cfg.Events.Publish(ctx, appID, evs); err != nil {
			s.log.WarnContext(ctx, "support events left to the outbox drain", "app_id", appID, "events", len(evs), "err", err)
		}
	}
	if len(ns) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
		defer cancel()
		if left, err := s.sendNotices(ctx, appID, ns); err != nil {
			s.log.WarnContext(ctx, "support notices left to the drain", "app_id", appID, "notices", len(left), "err", err)
		}
	}
}

// sendNotices sends notices of app appID in order and marks those sent,
// session by session. A notice the messaging core refuses for good (its
// recipient was deleted, say) is dropped: marked, and logged. It returns
// the notices it left pending and why.
func (s *Service) sendNotices(ctx context.Context, appID string, ns []store.SupportEvent) ([]store.SupportEvent, error) {
	var left []store.SupportEvent
	var errs []error
	var sessions []string
	done := map[string][]store.SupportEvent{}
	for _, n := range ns {
		err := s.sendNotice(ctx, appID, n)
		if err != nil && !refused(err) {
			left = append(left, n)
			errs = append(errs, fmt.Errorf("send notice %s: %w", n.ID, err))
			continue
		}
		if err != nil {
			s.log.WarnContext(ctx, "support notice refused; dropped", "app_id", appID, "user_id", n.UserID, "session_id", n.SessionID, "err", err)
		}
		if _, ok := done[n.SessionID]; !ok {
			sessions = append(sessions, n.SessionID)
		}
		done[n.SessionID] = append(done[n.SessionID], n)
	}
	a := s.st.App(appID)
	for _, id := range sessions {
		ids := make([]string, len(done[id]))
		for i, n := range done[id] {
			ids[i] = n.ID
		}
		if err := a.SupportEventsPublished(ctx, id, ids...); err != nil {
			left = append(left, done[id]...)
			errs = append(errs, fmt.Errorf("mark notices of support session %s sent: %w", id, err))
		}
	}
	return left, errors.Join(errs...)
}

// refused reports whether err is the messaging core's refusal of a
// message, which sending it again would not change.
func refused(err error) bool {
	var me *messaging.Error
	return errors.As(err, &me) && !wire.Retryable(me.Code)
}

// sendNotice sends notice n as a system message to its user.
func (s *Service) sendNotice(ctx context.Context, appID string, n store.SupportEvent) error {
	_, err := s.cfg.Sender.Send(ctx, messaging.SendRequest{AppID: appID, ToUserID: n.UserID, System: true,
		ClientMsgID: n.ID, Type: "custom", Content: string(n.Payload)})
	return err
}

// DrainNotices makes one pass of the notices' drain: it sends the notices
// pending since before NoticeGrace ago, app by app, and marks them sent.
// A notice sent by its step and again by the drain (its step was slow, or
// died after sending it) is stored once. It returns how many it sent; a
// round in which some could not be sent ends the pass, after the other
// apps' notices of the round were sent.
func (s *Service) DrainNotices(ctx context.Context) (int, error) {
	n := 0
	now := s.cfg.Now()
	var oldest time.Time // of the notices left pending
	err := func() error {
		for range noticeRounds {
			ns, err := s.st.PendingSupportEvents(ctx, store.SupportKindNotice, now.Add(-NoticeGrace), noticeBatch)
			if err != nil {
				return err
			}
			var errs []error
			for start := 0; start < len(ns); {
				end := start + 1
				for end < len(ns) && ns[end].AppID == ns[start].AppID {
					end++
				}
				left, err := s.sendNotices(ctx, ns[start].AppID, ns[start:end])
				n += end - start - len(left)
				for _, l := range left {
					if oldest.IsZero() || l.At.Before(oldest) {
						oldest = l.At
					}
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("app %s: %w", ns[start].AppID, err))
				}
				start = end
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			if len(ns) < noticeBatch {
				return nil
			}
		}
		return nil
	}()
	m := s.cfg.Metrics
	m.SupportOutboxDrained(telemetry.SupportNotice, n)
	if err != nil {
		if ctx.Err() == nil {
			m.SupportOutboxDrainFailed(telemetry.SupportNotice)
		}
		err = fmt.Errorf("drain support notices: %w", err)
	}
	if !oldest.IsZero() || err == nil {
		m.SupportOutboxOldest(telemetry.SupportNotice, ageOf(oldest, now))
	}
	return n, err
}

// ageOf is the age at now of an entry of time at, 0 for none.
func ageOf(at, now time.Time) time.Duration {
	if at.IsZero() {
		return 0
	}
	return max(now.Sub(at), 0)
}

// tellPositions tells the visitors waiting for skill their place in the
// queue (1 is next). The notices are not stored: the routing sweep tells
// the positions again.
func (s *Service) tellPositions(ctx context.Context, appID, skill string) {
	waiting, err := s.st.App(appID).ListSupportSessions(ctx, store.SupportQuery{State: store.SupportWaiting, Skill: skill, FilterSkill: true, Limit: maxQueueNotes})
	if err != nil {
		s.log.WarnContext(ctx, "list waiting sessions", "app_id", appID, "err", err)
		return
	}
	for i, ss := range waiting {
		if err := s.sendNotice(ctx, appID, s.positionNotice(appID, ss, i+1)); err != nil {
			s.log.WarnContext(ctx, "support notice not sent", "app_id", appID, "user_id", ss.VisitorID, "err", err)
		}
	}
}
