package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

func message(conv string, seq int64, text string) store.Message {
	return store.Message{ConvID: conv, Seq: seq, SenderID: "alice", ClientMsgID: "c" + text, Type: "text", Body: []byte(text), CreatedAt: t0}
}

// TestDeliverySigned: a stored message reaches the endpoint as a signed
// message.created that the SDK verifies, with the documented headers and
// body; conversation.created goes only to the endpoint subscribed to it,
// and app B's endpoint gets nothing of app A.
func TestDeliverySigned(t *testing.T) {
	e := newEnv(t)
	e.endpoint(t, "A", "/all")
	e.endpoint(t, "B", "/other-app")
	_, secret := e.endpoint(t, "A", "/created", webhook.EventMessageCreated)
	e.worker(t, webhook.WorkerConfig{})
	em := e.emitter(t)

	em.MessageStored("A", message("p2p:alice:bob", 1, "hello"), []string{"alice", "bob"})
	reqs := e.waitN(t, 3) // /all: conversation.created and message.created; /created: message.created
	byPath := map[string][]webhooktest.Request{}
	for _, r := range reqs {
		byPath[r.Path] = append(byPath[r.Path], r)
	}
	if len(byPath["/created"]) != 1 || len(byPath["/all"]) != 2 || len(byPath["/other-app"]) != 0 {
		t.Fatalf("requests by path = %v", byPath)
	}
	r := byPath["/created"][0]
	v, err := sdk.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(r.Header, r.Body); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	var got struct {
		ID, Type string
		AppID    string `json:"app_id"`
		Data     webhook.MessageData
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != webhook.EventMessageCreated || got.AppID != "A" || got.Data.Content != "hello" || got.Data.Seq != 1 ||
		strings.Join(got.Data.Members, ",") != "alice,bob" || r.ID == "" {
		t.Errorf("delivery = %s (id %q)", r.Body, r.ID)
	}
	if ct, ua := r.Header.Get("Content-Type"), r.Header.Get("User-Agent"); ct != "application/json" || !strings.HasPrefix(ua, "Magpie-Webhooks/") {
		t.Errorf("Content-Type %q, User-Agent %q", ct, ua)
	}
	// Tampering is caught.
	if err := v.Verify(r.Header, append(r.Body, ' ')); !errors.Is(err, sdk.ErrSignature) {
		t.Errorf("Verify(altered body) = %v, want ErrSignature", err)
	}
	// The same message reported again is the same event: same webhook-ids.
	em.MessageStored("A", message("p2p:alice:bob", 1, "hello"), []string{"alice", "bob"})
	reqs = e.waitN(t, 6)
	ids := func(rs []webhooktest.Request) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Path+"="+r.ID)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	if a, b := ids(reqs[:3]), ids(reqs[3:]); a != b {
		t.Errorf("the same message reported twice: webhook-ids %s, then %s", a, b)
	}
}

// TestRetriesThenDeadLetter: an endpoint answering 500 is retried with
// growing delays, every attempt logged with the same webhook-id, and after
// the retry window the delivery goes to the dead letters.
func TestRetriesThenDeadLetter(t *testing.T) {
	e := newEnv(t)
	w, _ := e.endpoint(t, "A", "/down")
	e.recv.Respond(func(webhooktest.Request) webhooktest.Response {
		return webhooktest.Response{Status: 500, Body: []byte(`{"error":"down"}`)}
	})
	// Retries after 1 s then 2 s (plus jitter): three attempts cover 3 s.
	e.worker(t, webhook.WorkerConfig{MinRetry: time.Second, MaxRetry: 2 * time.Second, RetryWindow: 3 * time.Second})
	e.emitter(t).MessageStored("A", message("c1", 2, "x"), nil)
	reqs := e.waitN(t, 3)
	if reqs[0].ID != reqs[1].ID || reqs[1].ID != reqs[2].ID {
		t.Errorf("webhook-ids %q %q %q, want one", reqs[0].ID, reqs[1].ID, reqs[2].ID)
	}
	if g1, g2 := reqs[1].At.Sub(reqs[0].At), reqs[2].At.Sub(reqs[1].At); g1 < time.Second || g2 < 2*time.Second {
		t.Errorf("gaps %v, %v; want at least 1s then 2s", g1, g2)
	}
	waitFor(t, "a dead letter", func() bool {
		dl, err := e.bus.DeadLetters(t.Context(), webhook.QueueDelivery, 10)
		return err == nil && len(dl) == 1
	})
	as, err := e.svc.Attempts(t.Context(), "A", store.WebhookAttemptQuery{WebhookID: w.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, a := range as {
		outcomes = append(outcomes, a.Outcome)
		if a.Status != 500 || a.Response != `{"error":"down"}` || a.EventID != reqs[0].ID {
			t.Errorf("attempt = %+v", a)
		}
	}
	if got := strings.Join(outcomes, ","); got != "dead,failed,failed" {
		t.Errorf("outcomes newest first = %s, want dead,failed,failed", got)
	}
	if len(e.recv.Requests()) != 3 {
		t.Errorf("%d requests, want 3", len(e.recv.Requests()))
	}
}

// TestReplay: a delivered event replayed from the log arrives again with
// the same webhook-id and body.
func TestReplay(t *testing.T) {
	e := newEnv(t)
	w, _ := e.endpoint(t, "A", "/r")
	e.worker(t, webhook.WorkerConfig{})
	e.emitter(t).MessageRead("A", "bob", "c1", 7, t0)
	first := e.waitN(t, 1)[0]
	if err := e.svc.Replay(t.Context(), "A", w.ID, first.ID); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	again := e.waitN(t, 2)[1]
	if again.ID != first.ID || string(again.Body) != string(first.Body) || again.Verified != nil {
		t.Errorf("replay = %s %s (%v), want %s %s", again.ID, again.Body, again.Verified, first.ID, first.Body)
	}
	if err := e.svc.Replay(t.Context(), "B", w.ID, first.ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Replay from app B = %v, want ErrNotFound", err)
	}
	if err := e.svc.Replay(t.Context(), "A", w.ID, "evt_nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Replay(unknown event) = %v, want ErrNotFound", err)
	}
}

// TestRotation: after a rotation both secrets sign, so a receiver that
// holds either one verifies; once the overlap ends only the new one does.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	w, old := e.endpoint(t, "A", "/rot")
	w, fresh, err := e.svc.RotateSecret(t.Context(), "A", w.ID, time.Hour)
	if err != nil || fresh == old || len(w.Secrets) != 2 {
		t.Fatalf("RotateSecret = %d secrets, %v", len(w.Secrets), err)
	}
	e.worker(t, webhook.WorkerConfig{})
	em := e.emitter(t)
	em.MessageStored("A", message("c1", 3, "x"), nil)
	r := e.waitN(t, 1)[0]
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two", r.Header.Get("webhook-signature"))
	}
	for _, s := range []string{old, fresh} {
		v, _ := sdk.NewVerifier(s)
		if err := v.Verify(r.Header, r.Body); err != nil {
			t.Errorf("Verify with one secret = %v", err)
		}
	}
	// A rotation without overlap drops the old secret at once.
	if _, newest, err := e.svc.RotateSecret(t.Context(), "A", w.ID, 0); err != nil {
		t.Fatal(err)
	} else {
		fresh = newest
	}
	em.MessageStored("A", message("c1", 4, "y"), nil)
	r = e.waitN(t, 2)[1]
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 1 {
		t.Errorf("after a rotation without overlap: %d signatures", len(sigs))
	}
	v, _ := sdk.NewVerifier(old)
	if err := v.Verify(r.Header, r.Body); !errors.Is(err, sdk.ErrSignature) {
		t.Errorf("Verify with the retired secret = %v, want ErrSignature", err)
	}
	v, _ = sdk.NewVerifier(fresh)
	if err := v.Verify(r.Header, r.Body); err != nil {
		t.Errorf("Verify with the newest secret = %v", err)
	}
}

// TestAutoDisable: an endpoint failing for longer than DisableAfter and
// DisableFailures times is disabled with a reason, its deliveries stop,
// and the app's other endpoint gets webhook.endpoint.disabled.
func TestAutoDisable(t *testing.T) {
	e := newEnv(t)
	bad, _ := e.endpoint(t, "A", "/bad", webhook.EventMessageCreated)
	_, secret := e.endpoint(t, "A", "/ops", webhook.EventEndpointDisabled)
	if err := e.recv.SetSecrets(secret); err != nil {
		t.Fatal(err)
	}
	e.recv.Respond(func(r webhooktest.Request) webhooktest.Response {
		if r.Path == "/bad" {
			return webhooktest.Response{Status: http.StatusServiceUnavailable}
		}
		return webhooktest.Response{}
	})
	var tick atomic.Int64
	start := time.Now()
	clock := func() time.Time { return start.Add(time.Duration(tick.Add(1)) * time.Second) }
	e.worker(t, webhook.WorkerConfig{Now: clock, MinRetry: time.Second, MaxRetry: time.Second, RetryWindow: time.Minute,
		DisableAfter: 2 * time.Second, DisableFailures: 2})
	e.emitter(t).MessageStored("A", message("c1", 5, "x"), nil)
	// Failures at 1 s, 2 s and 3 s on the worker's clock: the third is 2 s
	// after the first, so it disables the endpoint.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var ops *webhooktest.Request
	reqs, err := e.recv.Wait(ctx, func(rs []webhooktest.Request) bool {
		for i, r := range rs {
			if r.Path == "/ops" {
				ops = &rs[i]
			}
		}
		return ops != nil
	})
	if err != nil {
		t.Fatalf("no webhook.endpoint.disabled at /ops: %v (%d requests)", err, len(reqs))
	}
	if n := len(reqs) - 1; n != 3 {
		t.Errorf("%d attempts at /bad before it was disabled, want 3", n)
	}
	var ev struct {
		Type string
		Data webhook.EndpointDisabledData
	}
	if err := json.Unmarshal(ops.Body, &ev); err != nil || ev.Type != webhook.EventEndpointDisabled || ev.Data.WebhookID != bad.ID || ev.Data.Failures < 2 {
		t.Errorf("event = %s, %v", ops.Body, err)
	}
	got, err := e.svc.Get(t.Context(), "A", bad.ID)
	if err != nil || got.Enabled || got.DisabledReason == "" {
		t.Fatalf("endpoint after sustained failure = %+v, %v", got, err)
	}
	// Enabling it again clears its failures.
	on := true
	got, err = e.svc.Update(t.Context(), "A", bad.ID, webhook.Input{Enabled: &on})
	if err != nil || !got.Enabled || got.DisabledReason != "" || got.Failures != 0 {
		t.Errorf("re-enabled = %+v, %v", got, err)
	}
}

// TestSlowAndLargeAnswers: a slow endpoint is cut off at the timeout and
// retried; a long answer is logged only in part and still counts as
// delivered.
func TestSlowAndLargeAnswers(t *testing.T) {
	e := newEnv(t)
	w, _ := e.endpoint(t, "A", "/slow")
	var calls atomic.Int32
	e.recv.Respond(func(webhooktest.Request) webhooktest.Response {
		if calls.Add(1) == 1 {
			return webhooktest.Response{Delay: time.Minute}
		}
		return webhooktest.Response{Body: []byte(strings.Repeat("z", 100_000))}
	})
	e.worker(t, webhook.WorkerConfig{Timeout: 200 * time.Millisecond, MinRetry: time.Second})
	e.emitter(t).MessageStored("A", message("c1", 6, "x"), nil)
	e.waitN(t, 2)
	waitFor(t, "two attempts logged", func() bool {
		as, err := e.svc.Attempts(t.Context(), "A", store.WebhookAttemptQuery{WebhookID: w.ID, Limit: 10})
		return err == nil && len(as) == 2
	})
	as, _ := e.svc.Attempts(t.Context(), "A", store.WebhookAttemptQuery{WebhookID: w.ID, Limit: 10})
	if as[1].Outcome != store.AttemptFailed || as[1].Status != 0 || !strings.Contains(as[1].Error, "timed out") {
		t.Errorf("slow attempt = %+v", as[1])
	}
	if as[0].Outcome != store.AttemptSucceeded || len(as[0].Response) != 1024 {
		t.Errorf("large answer attempt = outcome %s, %d bytes logged", as[0].Outcome, len(as[0].Response))
	}
}
