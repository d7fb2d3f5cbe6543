package push_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
	"github.com/magpie-im/magpie/tenant"
)

// Device tokens of bob's two devices.
var (
	iosToken = strings.Repeat("ab", 32)
	fcmToken = "fcm-token-of-bobs-android"
)

// pushEnv is env with the mock providers, app A's credentials for both,
// and bob's two devices registered: an iPhone through APNs, an Android
// phone through FCM.
type pushEnv struct {
	*env
	apns *pushtest.APNs
	fcm  *pushtest.FCM
	svc  *push.Service
	jobs *capture // the send jobs Handle published
	now  time.Time
}

// capture is a Publisher that keeps the jobs.
type capture struct {
	mu   sync.Mutex
	jobs []bus.Job
}

func (c *capture) Publish(_ context.Context, queue string, job bus.Job) error {
	if queue != push.QueueSend {
		return errors.New("unexpected queue " + queue)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jobs = append(c.jobs, job)
	return nil
}

// take returns the jobs published since the last take.
func (c *capture) take() []bus.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	js := c.jobs
	c.jobs = nil
	return js
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	e := &pushEnv{env: newEnv(t), apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t), jobs: &capture{},
		now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	keys, err := keyring.New(make([]byte, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.New(e.store, keys, tenant.Config{})
	clock := func() time.Time { return e.now }
	e.svc = push.NewService(e.store, tenants, push.ServiceConfig{Now: clock, Endpoints: push.Endpoints{
		APNsHost: e.apns.URL(), FCMEndpoint: e.fcm.URL(), RootCAs: e.apns.RootCAs(),
	}})
	e.work = push.NewWorker(e.store, push.WorkerConfig{Service: e.svc, Publisher: e.jobs, Now: clock})
	ctx := t.Context()
	c := e.apns.Credential()
	if _, err := e.svc.SetAPNs(ctx, "A", push.APNsCredential{Key: c.Key, KeyID: c.KeyID, TeamID: c.TeamID, Topic: c.Topic}); err != nil {
		t.Fatalf("SetAPNs: %v", err)
	}
	if _, err := e.svc.SetFCM(ctx, "A", e.fcm.ServiceAccountJSON()); err != nil {
		t.Fatalf("SetFCM: %v", err)
	}
	e.register(t, "bob", "iphone", push.Registration{Platform: "ios", Provider: "apns", Token: iosToken, Locale: "fr-FR"})
	e.register(t, "bob", "pixel", push.Registration{Platform: "android", Provider: "fcm", Token: fcmToken})
	return e
}

func (e *pushEnv) register(t *testing.T, user, device string, r push.Registration) {
	t.Helper()
	if _, err := e.svc.RegisterDevice(t.Context(), "A", user, device, r); err != nil {
		t.Fatalf("RegisterDevice(%s, %s): %v", user, device, err)
	}
}

// handle runs the worker on the offline job of msg for bob and returns
// the send jobs it published.
func (e *pushEnv) handle(t *testing.T, msg store.Message) []bus.Job {
	t.Helper()
	body, err := push.EncodeOffline(push.OfflineJob{UserID: "bob", ConvID: msg.ConvID, Seq: msg.Seq, SenderID: msg.SenderID,
		Type: msg.Type, Preview: push.Preview(msg.Type, msg.Body), CreatedAt: msg.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	job := bus.Job{ID: "j", AppID: "A", Type: push.JobType, Body: body, Attempt: 1}
	if err := e.work.Handle(t.Context(), job); err != nil {
		t.Fatalf("Handle(seq %d) = %v", msg.Seq, err)
	}
	return e.jobs.take()
}

// sendAll runs HandleSend on jobs, expecting nil.
func (e *pushEnv) sendAll(t *testing.T, jobs []bus.Job) {
	t.Helper()
	for _, j := range jobs {
		j.Attempt = 1
		if err := e.work.HandleSend(t.Context(), j, 5); err != nil {
			t.Fatalf("HandleSend(%s) = %v", j.ID, err)
		}
	}
}

// log returns bob's push log entries of msg, as "device:status" strings.
func (e *pushEnv) log(t *testing.T, msg store.Message) []string {
	t.Helper()
	es, err := e.store.App("A").ListPushLog(t.Context(), store.PushLogQuery{ConvID: msg.ConvID, Seq: msg.Seq, Limit: 100})
	if err != nil {
		t.Fatalf("ListPushLog: %v", err)
	}
	var out []string
	for _, x := range es {
		s := x.DeviceID + ":" + x.Status
		if x.Reason != "" {
			s += "(" + x.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		if seen[w]--; seen[w] < 0 {
			return false
		}
	}
	return true
}

// TestPushReachesEveryDevice: an offline message reaches each of bob's
// devices once, through its provider, with his unread count as badge and
// alice's name over the text; handling the job and its send jobs again
// sends nothing more.
func TestPushReachesEveryDevice(t *testing.T) {
	e := newPushEnv(t)
	e.send(t, "m0", "first")
	msg := e.send(t, "m1", "dinner?")
	jobs := e.handle(t, msg)
	if len(jobs) != 2 {
		t.Fatalf("Handle published %d send jobs, want 2 (one per device)", len(jobs))
	}
	e.sendAll(t, jobs)

	a := e.apns.Requests()
	if len(a) != 1 {
		t.Fatalf("APNs got %d requests, want 1", len(a))
	}
	aps := a[0].Aps()
	alert, _ := aps["alert"].(map[string]any)
	if a[0].Token != iosToken || !a[0].JWTOK || a[0].Header.Get("apns-topic") != pushtest.APNsTopic ||
		a[0].Header.Get("apns-push-type") != "alert" || aps["badge"] != float64(2) ||
		alert["title"] != "alice" || alert["body"] != "dinner?" || aps["thread-id"] != msg.ConvID {
		t.Errorf("APNs request = %s %v %s, want alice's alert with badge 2 to bob's iPhone", a[0].Path, a[0].Header, a[0].Raw)
	}
	f := e.fcm.Requests()
	if len(f) != 1 {
		t.Fatalf("FCM got %d requests, want 1", len(f))
	}
	note, _ := f[0].Message["notification"].(map[string]any)
	data, _ := f[0].Message["data"].(map[string]any)
	if f[0].Token != fcmToken || !f[0].BearerOK || note["title"] != "alice" || note["body"] != "dinner?" ||
		data["badge"] != "2" || data["conv_id"] != msg.ConvID || data["seq"] != "2" {
		t.Errorf("FCM request = %s, want alice's notification with badge 2 to bob's Pixel", f[0].Raw)
	}
	if got := e.log(t, msg); !sameSet(got, "iphone:queued", "pixel:queued", "iphone:sent", "pixel:sent") {
		t.Errorf("push log = %q, want both devices queued and sent", got)
	}

	// The same job again (the delivery watch reported it too), and its
	// send jobs again (redelivered after a crash): nothing more is sent.
	e.sendAll(t, e.handle(t, msg))
	e.sendAll(t, jobs)
	if na, nf := len(e.apns.Requests()), len(e.fcm.Requests()); na != 1 || nf != 1 {
		t.Errorf("after handling again: APNs %d, FCM %d requests, want 1 and 1", na, nf)
	}
}

// TestPushSuppressed: a muted conversation, push turned off, the sender's
// skip option and do-not-disturb hours each send nothing and say why in
// the push log.
func TestPushSuppressed(t *testing.T) {
	e := newPushEnv(t)
	ctx := t.Context()
	a := e.store.App("A")

	muted := e.send(t, "m1", "muted")
	if err := e.svc.MuteConversation(ctx, "A", "bob", muted.ConvID, true); err != nil {
		t.Fatal(err)
	}
	if jobs := e.handle(t, muted); len(jobs) != 0 {
		t.Errorf("muted conversation: %d send jobs, want none", len(jobs))
	}
	if got := e.log(t, muted); !sameSet(got, ":suppressed(the user muted the conversation)") {
		t.Errorf("muted conversation: push log = %q", got)
	}
	if err := e.svc.MuteConversation(ctx, "A", "bob", muted.ConvID, false); err != nil {
		t.Fatal(err)
	}

	// Do-not-disturb 11:00-13:00 in Paris (UTC+1): noon UTC is 13:00
	// there, outside; 10:30 UTC is 11:30 there, inside.
	if _, err := e.svc.SetSettings(ctx, "A", "bob", store.PushSettings{DNDStart: 11 * 60, DNDEnd: 13 * 60, TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	outside := e.send(t, "m2", "at one")
	if jobs := e.handle(t, outside); len(jobs) != 2 {
		t.Errorf("outside do-not-disturb: %d send jobs, want 2", len(jobs))
	}
	e.now = time.Date(2026, 11, 30, 10, 30, 0, 0, time.UTC)
	inside := e.send(t, "m3", "at half past eleven")
	if jobs := e.handle(t, inside); len(jobs) != 0 {
		t.Errorf("inside do-not-disturb: %d send jobs, want none", len(jobs))
	}
	if got := e.log(t, inside); !sameSet(got, "iphone:suppressed(do not disturb)", "pixel:suppressed(do not disturb)") {
		t.Errorf("inside do-not-disturb: push log = %q", got)
	}

	if _, err := e.svc.SetSettings(ctx, "A", "bob", store.PushSettings{Disabled: true}); err != nil {
		t.Fatal(err)
	}
	off := e.send(t, "m4", "off")
	if jobs := e.handle(t, off); len(jobs) != 0 {
		t.Errorf("push turned off: %d send jobs, want none", len(jobs))
	}
	if _, err := e.svc.SetSettings(ctx, "A", "bob", store.PushSettings{}); err != nil {
		t.Fatal(err)
	}

	res, err := a.AppendMessages(ctx, []store.Draft{{
		ConvID: "c1", Members: []string{"alice", "bob"}, SenderID: "alice", ClientMsgID: "m5",
		Type: "text", Body: []byte("quiet"), Push: push.Options{Skip: true}.Encode(), CreatedAt: t0,
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AppendMessages: %v %v", err, res)
	}
	if jobs := e.handle(t, res[0].Message); len(jobs) != 0 {
		t.Errorf("skip option: %d send jobs, want none", len(jobs))
	}
	if n := len(e.apns.Requests()) + len(e.fcm.Requests()); n != 0 {
		t.Errorf("providers got %d requests, want none (no send job was run)", n)
	}
}

// TestPushOptionsAndTemplates: the app's French template for bob's iPhone
// (locale fr-FR), and the sender's options (title, silent, collapse id,
// data) over it.
func TestPushOptionsAndTemplates(t *testing.T) {
	e := newPushEnv(t)
	ctx := t.Context()
	app, err := e.store.GetApp(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	app.Settings.Push.Templates = []store.PushTemplate{{Type: "text", Locale: "fr", Title: "{sender} dit", Body: "« {preview} »"}}
	if err := e.store.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	e.sendAll(t, e.handle(t, e.send(t, "m1", "bonjour")))
	reqs, err := e.apns.WaitRequests(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	alert, _ := reqs[0].Aps()["alert"].(map[string]any)
	if alert["title"] != "alice dit" || alert["body"] != "« bonjour »" {
		t.Errorf("iPhone alert = %v, want the French template", alert)
	}
	fr, err := e.fcm.WaitRequests(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if note, _ := fr[0].Message["notification"].(map[string]any); note["title"] != "alice" {
		t.Errorf("Pixel notification = %v, want the default (no locale, no template)", note)
	}

	res, err := e.store.App("A").AppendMessages(ctx, []store.Draft{{
		ConvID: "c1", Members: []string{"alice", "bob"}, SenderID: "alice", ClientMsgID: "m2", Type: "text", Body: []byte("x"),
		Push: push.Options{Silent: true, CollapseID: "sync", Data: map[string]string{"k": "v"}}.Encode(), CreatedAt: t0,
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AppendMessages: %v %v", err, res)
	}
	e.sendAll(t, e.handle(t, res[0].Message))
	reqs, err = e.apns.WaitRequests(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := reqs[1]
	if r.Header.Get("apns-push-type") != "background" || r.Header.Get("apns-collapse-id") != "sync" ||
		r.Aps()["alert"] != nil || r.Aps()["content-available"] != float64(1) || r.Payload["k"] != "v" {
		t.Errorf("silent APNs request = %v %s, want a background push with collapse id and data", r.Header, r.Raw)
	}
}

// TestDeadTokenRemoved: APNs answers 410 Unregistered for the iPhone: its
// registration is removed, the log says why, and the next message is not
// sent to it.
func TestDeadTokenRemoved(t *testing.T) {
	e := newPushEnv(t)
	ctx := t.Context()
	e.apns.Respond(iosToken, pushtest.Response{Status: 410, Reason: "Unregistered"})
	first := e.send(t, "m1", "one")
	e.sendAll(t, e.handle(t, first))
	if got := e.log(t, first); !sameSet(got, "iphone:queued", "pixel:queued", "iphone:token_removed(Unregistered)", "pixel:sent") {
		t.Errorf("push log = %q", got)
	}
	ds, err := e.svc.Devices(ctx, "A", "bob")
	if err != nil || len(ds) != 1 || ds[0].ID != "pixel" {
		t.Fatalf("devices of bob = %+v, %v, want only the Pixel", ds, err)
	}
	jobs := e.handle(t, e.send(t, "m2", "two"))
	if len(jobs) != 1 {
		t.Fatalf("next message: %d send jobs, want 1 (the Pixel)", len(jobs))
	}
	e.sendAll(t, jobs)
	if n := len(e.apns.Requests()); n != 1 {
		t.Errorf("APNs got %d requests, want 1: the dead token is not tried again", n)
	}
}

// TestStaleTokenKept: a send job for a token the device replaced since
// sends nothing and does not remove the new registration.
func TestStaleTokenKept(t *testing.T) {
	e := newPushEnv(t)
	jobs := e.handle(t, e.send(t, "m1", "one"))
	newToken := strings.Repeat("cd", 32)
	e.register(t, "bob", "iphone", push.Registration{Platform: "ios", Provider: "apns", Token: newToken})
	e.sendAll(t, jobs)
	if n := len(e.apns.Requests()); n != 0 {
		t.Errorf("APNs got %d requests, want none: the job's token was replaced", n)
	}
	d, err := e.store.App("A").GetDevice(t.Context(), "bob", "iphone")
	if err != nil || d.Token != newToken {
		t.Errorf("iPhone registration = %+v, %v, want the new token kept", d, err)
	}
}

// TestRetryAfterHonoured: FCM answers 429 with Retry-After: 2, then
// accepts: the bus runs the send job again no sooner than 2 s later, and
// the notification is sent once.
func TestRetryAfterHonoured(t *testing.T) {
	e := newPushEnv(t)
	ctx := t.Context()
	if err := e.svc.DeleteCredential(ctx, "A", push.ProviderAPNs); err != nil {
		t.Fatal(err)
	}
	e.fcm.Respond(fcmToken, pushtest.Response{Status: 429, RetryAfter: "2"})
	w := push.NewWorker(e.store, push.WorkerConfig{Service: e.svc})
	c, err := w.StartWith(ctx, e.bus, bus.ConsumeOptions{MinBackoff: time.Millisecond},
		bus.ConsumeOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := e.send(t, "m1", "hello")
	e.offline(t, "A", "bob", msg)
	reqs, err := e.fcm.WaitRequests(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 2*time.Second {
		t.Errorf("second FCM request came %v after the 429, want at least Retry-After 2s", gap)
	}
	waitFor(t, "sent logged", func() bool {
		return sameSet(e.log(t, msg), "iphone:failed(the app has no apns credential)", "pixel:queued", "pixel:sent")
	})
	if n := len(e.fcm.Requests()); n != 2 {
		t.Errorf("FCM got %d requests, want 2 (the 429, then the one accepted)", n)
	}
}

// TestCredentialsRefused: malformed credentials are refused at upload with
// a clear error and nothing is stored.
func TestCredentialsRefused(t *testing.T) {
	e := newPushEnv(t)
	ctx := t.Context()
	good := e.apns.Credential()
	for name, c := range map[string]push.APNsCredential{
		"not PEM":    {Key: []byte("hello"), KeyID: good.KeyID, TeamID: good.TeamID, Topic: good.Topic},
		"bad key id": {Key: good.Key, KeyID: "short", TeamID: good.TeamID, Topic: good.Topic},
		"no topic":   {Key: good.Key, KeyID: good.KeyID, TeamID: good.TeamID},
	} {
		if _, err := e.svc.SetAPNs(ctx, "B", c); !errors.Is(err, provider.ErrCredential) {
			t.Errorf("SetAPNs(%s) = %v, want ErrCredential", name, err)
		}
	}
	for name, sa := range map[string]string{"not JSON": "{", "no key": `{"type":"service_account","project_id":"p"}`} {
		if _, err := e.svc.SetFCM(ctx, "B", []byte(sa)); !errors.Is(err, provider.ErrCredential) {
			t.Errorf("SetFCM(%s) = %v, want ErrCredential", name, err)
		}
	}
	if cs, err := e.svc.Credentials(ctx, "B"); err != nil || len(cs) != 0 {
		t.Errorf("credentials of B = %+v, %v, want none", cs, err)
	}
	for _, p := range []string{push.ProviderAPNs, push.ProviderFCM} {
		if err := e.svc.CheckCredential(ctx, "A", p); err != nil {
			t.Errorf("CheckCredential(A, %s) = %v, want nil", p, err)
		}
	}
}

// TestCrossAppSendJob: a send job of app B naming app A's device sends
// nothing: B's handle does not see A's devices.
func TestCrossAppSendJob(t *testing.T) {
	e := newPushEnv(t)
	jobs := e.handle(t, e.send(t, "m1", "one"))
	for _, j := range jobs {
		j.AppID = "B"
		j.Attempt = 1
		if err := e.work.HandleSend(t.Context(), j, 5); err != nil {
			t.Fatalf("HandleSend(as B) = %v", err)
		}
	}
	if n := len(e.apns.Requests()) + len(e.fcm.Requests()); n != 0 {
		t.Errorf("providers got %d requests from app B's jobs, want none", n)
	}
}
