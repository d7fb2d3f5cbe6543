package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push/provider"
)

// Push log statuses.
const (
	StatusQueued       = "queued"
	StatusSent         = "sent"
	StatusFailed       = "failed"
	StatusTokenRemoved = "token_removed"
	StatusSuppressed   = "suppressed"
	StatusRecorded     = "recorded"
)

// logID returns the id of a push log entry: the notification's id, then
// the device's (if any), then the step, so that one notification's
// entries sort together and a step is logged once however often it runs.
func logID(notifID, deviceID, status string) string {
	if deviceID == "" {
		return notifID + "." + status
	}
	return notifID + "." + SendJobID(notifID, deviceID, "")[4:12] + "." + status
}

// notify carries out an offline job that applies; see Worker.
func (w *Worker) notify(ctx context.Context, appID, id string, j OfflineJob, st jobState) error {
	a := w.store.App(appID)
	now := w.now().UTC().Truncate(time.Millisecond)
	entry := func(deviceID, prov, status, reason string) store.PushLogEntry {
		return store.PushLogEntry{
			ID: logID(id, deviceID, status), UserID: j.UserID, ConvID: j.ConvID, Seq: j.Seq,
			DeviceID: deviceID, Provider: prov, Status: status, Reason: reason, At: now,
		}
	}
	suppress := func(reason string) error {
		w.metrics.PushNotification(telemetry.NotifSuppressed)
		return a.AddPushLog(ctx, []store.PushLogEntry{entry("", "", StatusSuppressed, reason)})
	}
	opts, err := ParseOptions(st.msg.Push)
	if err != nil {
		w.log.WarnContext(ctx, "stored push options ignored", "app_id", appID, "job_id", id, "err", err)
		opts = Options{}
	}
	prefs, err := a.GetPushSettings(ctx, j.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil // the user was deleted since check
	case err != nil:
		return err
	case opts.Skip:
		return suppress("the sender asked for no notification")
	case prefs.Disabled:
		return suppress("the user turned notifications off")
	case st.uc.Muted:
		return suppress("the user muted the conversation")
	}
	content, err := w.content(ctx, a, id, j, opts)
	if err != nil {
		return err
	}
	var creds []store.PushCredential
	if w.svc != nil {
		if creds, err = a.ListPushCredentials(ctx); err != nil {
			return err
		}
	}
	if len(creds) == 0 {
		if inDND(prefs, "", now) {
			return suppress("do not disturb")
		}
		return w.record(ctx, a, id, j, content, st.app.Settings.Push, entry("", ProviderOutbox, StatusRecorded, ""))
	}
	devices, err := a.ListDevices(ctx, j.UserID)
	if err != nil {
		return err
	}
	if len(devices) == 0 {
		return suppress("no registered device")
	}
	var logs []store.PushLogEntry
	queued := 0
	for _, d := range devices {
		switch {
		case inDND(prefs, d.TimeZone, now):
			logs = append(logs, entry(d.ID, d.Provider, StatusSuppressed, "do not disturb"))
		case !hasProvider(creds, d.Provider):
			logs = append(logs, entry(d.ID, d.Provider, StatusFailed, "the app has no "+d.Provider+" credential"))
		default:
			if err := w.queue(ctx, appID, id, j, d, content, st.app.Settings.Push); err != nil {
				return err
			}
			logs = append(logs, entry(d.ID, d.Provider, StatusQueued, ""))
			queued++
		}
	}
	if queued > 0 {
		w.metrics.PushNotification(telemetry.NotifQueued)
	} else {
		w.metrics.PushNotification(telemetry.NotifSuppressed)
	}
	return a.AddPushLog(ctx, logs)
}

// content gathers what the notification of j shows: the sender's name, the
// preview, the badge.
func (w *Worker) content(ctx context.Context, a store.AppStore, id string, j OfflineJob, opts Options) (Content, error) {
	c := Content{ID: id, ConvID: j.ConvID, Seq: j.Seq, SenderID: j.SenderID, Type: j.Type, Preview: j.Preview, Options: opts}
	if j.SenderID != "" {
		u, err := a.GetUser(ctx, j.SenderID)
		switch {
		case err == nil:
			c.SenderName = u.Name
		case !errors.Is(err, store.ErrNotFound):
			return c, err
		}
	}
	badge, err := unreadCount(ctx, a, j.UserID)
	if err != nil {
		return c, err
	}
	c.Badge = badge
	return c, nil
}

// Bounds of the unread count's walk over a user's conversations.
const (
	badgePage     = 500
	badgeMaxPages = 20
)

// unreadCount returns a user's unread messages over its conversations that
// it did not mute, looking at its first badgePage*badgeMaxPages
// conversations.
func unreadCount(ctx context.Context, a store.AppStore, userID string) (int, error) {
	var n int64
	after := ""
	for range badgeMaxPages {
		ucs, err := a.ListUserConversations(ctx, userID, after, badgePage)
		if err != nil {
			return 0, err
		}
		for _, uc := range ucs {
			if !uc.Muted {
				n += uc.Unread()
			}
		}
		if len(ucs) < badgePage {
			break
		}
		after = ucs[len(ucs)-1].ConvID
	}
	return int(min(n, 1<<31-1)), nil
}

// inDND reports whether now falls in the user's do-not-disturb hours, in
// the user's time zone, else the device's (deviceTZ), else UTC.
func inDND(p store.PushSettings, deviceTZ string, now time.Time) bool {
	if p.DNDStart == p.DNDEnd {
		return false
	}
	loc := time.UTC
	for _, name := range []string{p.TimeZone, deviceTZ} {
		if name == "" {
			continue
		}
		if l, err := time.LoadLocation(name); err == nil {
			loc = l
			break
		}
	}
	t := now.In(loc)
	m := t.Hour()*60 + t.Minute()
	if p.DNDStart < p.DNDEnd {
		return p.DNDStart <= m && m < p.DNDEnd
	}
	return m >= p.DNDStart || m < p.DNDEnd // wraps past midnight
}

func hasProvider(cs []store.PushCredential, p string) bool {
	for _, c := range cs {
		if c.Provider == p {
			return true
		}
	}
	return false
}

// record writes a notification to the outbox, for an app without
// credentials.
func (w *Worker) record(ctx context.Context, a store.AppStore, id string, j OfflineJob, c Content, app store.AppPush, logEntry store.PushLogEntry) error {
	n := Render(app, c)
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	added, err := a.AddOutbox(ctx, store.OutboxEntry{
		ID: id, UserID: j.UserID, ConvID: j.ConvID, Seq: j.Seq, SenderID: j.SenderID,
		Type: j.Type, Preview: j.Preview, CreatedAt: j.CreatedAt, Badge: c.Badge, Payload: payload,
	})
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted since check
		w.log.DebugContext(ctx, "offline job dropped", "app_id", a.AppID(), "job_id", id, "reason", "user deleted")
		return nil
	case err != nil:
		return err
	}
	w.metrics.PushNotification(telemetry.NotifOutbox)
	if added {
		w.countPush(a.AppID())
	}
	w.log.DebugContext(ctx, "offline notification recorded", "app_id", a.AppID(), "job_id", id, "again", !added)
	return a.AddPushLog(ctx, []store.PushLogEntry{logEntry})
}

// queue publishes the send job of notification id to device d.
func (w *Worker) queue(ctx context.Context, appID, id string, j OfflineJob, d store.Device, c Content, app store.AppPush) error {
	c.Locale = d.Locale
	sid := SendJobID(id, d.ID, d.Token)
	c.ID = sid
	body, err := EncodeSend(SendJob{
		NotificationID: id, UserID: j.UserID, DeviceID: d.ID, Provider: d.Provider, Token: d.Token,
		Topic: d.Topic, Environment: d.Environment, ConvID: j.ConvID, Seq: j.Seq, CreatedAt: j.CreatedAt,
		N: Render(app, c),
	})
	if err != nil {
		return err
	}
	if w.pub == nil {
		return errors.New("push worker has no publisher for send jobs")
	}
	job := bus.Job{ID: sid, AppID: appID, Type: SendJobType, Body: body, Headers: telemetry.Inject(ctx, nil)}
	if err := w.pub.Publish(ctx, QueueSend, job); err != nil {
		return fmt.Errorf("publish send job: %w", err)
	}
	return nil
}

// reasonUnregistered is the push log's reason for a send job whose device
// unregistered its token meanwhile: not a failure to report.
const reasonUnregistered = "the device unregistered this token"

// HandleSend handles one send job; maxAttempts is the consumer's, so that
// the last attempt's failure is logged. It returns nil once the provider
// accepted the notification (now or before: a job handled again after a
// crash sends nothing twice once its "sent" step is logged), refused it
// for good (logged as failed), or said the token is dead (the device's
// registration is removed, unless it registered a new token since). A
// throttled, failing or unreachable provider gives an error that retries
// the job, after the provider's Retry-After when it sent one.
func (w *Worker) HandleSend(ctx context.Context, job bus.Job, maxAttempts int) error {
	if job.Type != SendJobType || job.AppID == "" {
		return fmt.Errorf("send job %s: %w: type %q, app %q", job.ID, ErrMalformed, job.Type, job.AppID)
	}
	s, err := DecodeSend(job.Body)
	if err != nil {
		return fmt.Errorf("send job %s: %w", job.ID, err)
	}
	a := w.store.App(job.AppID)
	now := w.now().UTC().Truncate(time.Millisecond)
	logStep := func(status, reason string) error {
		if err := a.AddPushLog(ctx, []store.PushLogEntry{{
			ID: logID(s.NotificationID, s.DeviceID, status), UserID: s.UserID, ConvID: s.ConvID, Seq: s.Seq,
			DeviceID: s.DeviceID, Provider: s.Provider, Status: status, Reason: reason, At: now,
		}}); err != nil {
			return err
		}
		if status != StatusSent && reason != reasonUnregistered && w.fails != nil {
			f := Failure{UserID: s.UserID, DeviceID: s.DeviceID, Provider: s.Provider, ConvID: s.ConvID, Seq: s.Seq, Status: status, Reason: reason, At: now}
			if err := w.fails.PushFailed(ctx, job.AppID, f); err != nil {
				w.log.WarnContext(ctx, "push failure not reported", "app_id", job.AppID, "err", err)
			}
		}
		return nil
	}
	d, err := a.GetDevice(ctx, s.UserID, s.DeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && (d.Token != s.Token || d.Provider != s.Provider)):
		return logStep(StatusFailed, reasonUnregistered)
	case err != nil:
		return fmt.Errorf("send job %s: %w", job.ID, err)
	}
	if sent, err := w.logged(ctx, a, s, StatusSent); err != nil || sent {
		return err
	}
	snd, err := w.sender(ctx, job.AppID, s.Provider)
	if errors.Is(err, ErrNotFound) || errors.Is(err, provider.ErrCredential) {
		w.metrics.PushSend(s.Provider, telemetry.PushFailed, 0, 0)
		return logStep(StatusFailed, err.Error())
	} else if err != nil {
		return fmt.Errorf("send job %s: %w", job.ID, err)
	}
	start := time.Now()
	err = w.send(ctx, snd, s)
	took := time.Since(start)
	var pe *provider.Error
	isProvider := errors.As(err, &pe)
	if isProvider {
		w.metrics.PushFailure(s.Provider, pe.Reason, pe.Status != 0)
	}
	switch {
	case err == nil:
		w.metrics.PushSend(s.Provider, telemetry.PushSent, took, w.now().Sub(s.CreatedAt))
		w.countPush(job.AppID)
		return logStep(StatusSent, "")
	case isProvider && pe.InvalidToken:
		w.metrics.PushSend(s.Provider, telemetry.PushTokenRemoved, took, 0)
		if derr := a.DeleteDevice(ctx, s.UserID, s.DeviceID, s.Token); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			return fmt.Errorf("send job %s: remove token: %w", job.ID, derr)
		}
		w.log.InfoContext(ctx, "push token removed", "app_id", job.AppID, "user_id", s.UserID, "device_id", s.DeviceID,
			"provider", s.Provider, "reason", pe.Reason)
		return logStep(StatusTokenRemoved, pe.Reason)
	case isProvider && !pe.Retryable:
		w.metrics.PushSend(s.Provider, telemetry.PushFailed, took, 0)
		return logStep(StatusFailed, pe.Reason)
	case ctx.Err() == nil && job.Attempt >= maxAttempts:
		w.metrics.PushSend(s.Provider, telemetry.PushFailed, took, 0)
		if lerr := logStep(StatusFailed, "gave up after "+fmt.Sprint(job.Attempt)+" attempts: "+err.Error()); lerr != nil {
			return lerr
		}
		return fmt.Errorf("send job %s: %w", job.ID, err) // to the dead letters, where it can be replayed
	default:
		w.metrics.PushSend(s.Provider, telemetry.PushRetry, took, 0)
		var after time.Duration
		if isProvider {
			after = pe.RetryAfter
		}
		return bus.RetryAfter(fmt.Errorf("send job %s: %w", job.ID, err), after)
	}
}

// send sends s's notification through snd in a client span.
func (w *Worker) send(ctx context.Context, snd provider.Sender, s SendJob) error {
	ctx, span := telemetry.StartSpan(ctx, "push "+s.Provider, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("magpie.push.provider", s.Provider), attribute.String("magpie.push.device_id", s.DeviceID)))
	defer span.End()
	err := snd.Send(ctx, provider.Target{Token: s.Token, Topic: s.Topic, Environment: s.Environment}, s.N)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "push send failed")
	}
	return err
}

// sender returns the app's sender for a provider.
func (w *Worker) sender(ctx context.Context, appID, prov string) (provider.Sender, error) {
	if w.svc == nil {
		return nil, fmt.Errorf("%s credential: %w", prov, ErrNotFound)
	}
	return w.svc.Sender(ctx, appID, prov)
}

// logged reports whether the device's step status of s's notification is
// in the push log.
func (w *Worker) logged(ctx context.Context, a store.AppStore, s SendJob, status string) (bool, error) {
	want := logID(s.NotificationID, s.DeviceID, status)
	es, err := a.ListPushLog(ctx, store.PushLogQuery{UserID: s.UserID, ConvID: s.ConvID, Seq: s.Seq, After: want[:len(want)-1], Limit: 1})
	if err != nil {
		return false, err
	}
	return len(es) == 1 && es[0].ID == want, nil
}
