package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// Scenarios of a probe run.
const (
	// ScenarioChat exchanges messages between two connected users, one of
	// them going offline and back (the default).
	ScenarioChat = "chat"
	// ScenarioPush registers a device for a user who never connects,
	// sends it messages one at a time and checks that each was pushed
	// exactly once: sent to the provider, or recorded in the app's outbox
	// with the user's unread count as badge when the app has no
	// credentials.
	ScenarioPush = "push"
)

// PushDevice is the device the push scenario registers. The zero value is
// an FCM device with a made-up token: right for an app without credentials
// (outbox) or an installation pointed at provider stand-ins; an app with
// real credentials needs a real device's token, or the provider refuses it.
type PushDevice struct {
	Platform, Provider, Token, Topic, Environment string
}

// pushSteps are the push log statuses that end a notification's handling
// for a device.
var pushSteps = map[string]bool{"sent": true, "recorded": true, "failed": true, "token_removed": true, "suppressed": true}

// push runs the push scenario with n messages.
func (r *runner) push(ctx context.Context, n int) (Result, error) {
	r.res.Push = true
	a, b := r.prefix+"-a", r.prefix+"-b"
	for _, u := range []string{a, b} {
		if _, err := r.api.CreateUser(ctx, serverapi.UserInput{ID: u, Name: "Magpie probe"}); err != nil {
			return r.res, fmt.Errorf("probe: create user %s: %w", u, err)
		}
	}
	d := r.cfg.PushDevice
	if d.Provider == "" {
		d = PushDevice{Platform: "android", Provider: "fcm", Token: "magpie-probe-" + randomHex(16)}
	}
	if _, err := r.api.PutDevice(ctx, b, b+"-phone", serverapi.DeviceInput{Platform: d.Platform, Provider: d.Provider,
		Token: d.Token, Topic: d.Topic, Environment: d.Environment}); err != nil {
		return r.res, fmt.Errorf("probe: register a device for %s: %w", b, err)
	}
	for i := 1; i <= n; i++ {
		sent, err := r.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: a, ToUserID: b, Type: "text",
			Content: fmt.Sprintf("push probe %d", i), ClientMsgID: fmt.Sprintf("%s-push-%d", r.prefix, i)})
		if err != nil {
			return r.res, fmt.Errorf("probe: send message %d: %w", i, err)
		}
		r.res.Sent++
		m := sent.Message
		start := time.Now()
		steps, err := r.pushSteps(ctx, m.ConvID, m.Seq)
		if err != nil {
			return r.res, err
		}
		r.lat = append(r.lat, time.Since(start))
		r.checkPush(ctx, i, m, steps)
	}
	return r.finish(), nil
}

// pushSteps waits until the push log holds a final step for the message,
// and returns its final steps.
func (r *runner) pushSteps(ctx context.Context, conv string, seq int64) ([]serverapi.PushLogEntry, error) {
	for {
		es, _, err := r.api.PushLog(ctx, serverapi.PushLogQuery{ConvID: conv, Seq: seq, Limit: 50})
		if err != nil {
			return nil, fmt.Errorf("probe: read the push log: %w", err)
		}
		var final []serverapi.PushLogEntry
		for _, e := range es {
			if pushSteps[e.Status] {
				final = append(final, e)
			}
		}
		if len(final) > 0 {
			return final, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("probe: no push of seq %d after %s: %w", seq, r.cfg.Timeout, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkPush checks the final steps of message i: one, either sent to the
// device or recorded in the outbox with badge i (the recipient never reads,
// and messages go one at a time).
func (r *runner) checkPush(ctx context.Context, i int, m serverapi.Message, steps []serverapi.PushLogEntry) {
	if len(steps) != 1 {
		r.res.failf("message %d: %d final push steps %v, want exactly one", i, len(steps), statuses(steps))
		r.res.Duplicates += max(len(steps)-1, 0)
		return
	}
	switch s := steps[0]; s.Status {
	case "sent":
		r.res.Received++
	case "recorded":
		es, _, err := r.api.PushOutbox(ctx, s.UserID, "", 200)
		if err != nil {
			r.res.failf("message %d: read the outbox: %v", i, err)
			return
		}
		found := 0
		for _, e := range es {
			if e.ConvID == m.ConvID && e.Seq == m.Seq {
				found++
				if e.Badge != i {
					r.res.failf("message %d: outbox badge %d, want %d (the unread count)", i, e.Badge, i)
				}
			}
		}
		if found != 1 {
			r.res.failf("message %d: %d outbox entries, want 1", i, found)
			return
		}
		r.res.Received++
	default:
		r.res.Missing++
		r.res.failf("message %d: push %s (%s)", i, s.Status, s.Reason)
	}
}

func statuses(es []serverapi.PushLogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Status + "/" + e.Provider
	}
	return out
}
