package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/bus/rabbittest"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	sdkwebhook "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

// TestClusterWebhookSurvivesKills runs a gateway and a worker as processes
// and an app with one post-event endpoint for message.created, a receiver
// on loopback. A message's event reaches the receiver at least once,
// every time with the same webhook-id and a valid signature, however the
// worker and the broker fail meanwhile:
//
//   - the worker is SIGKILLed while its request to the receiver is held
//     unanswered; a new worker delivers the event again, and the receiver
//     accepts it;
//   - with no worker running, a message is sent, its event reaches the
//     queue and RabbitMQ restarts (with MAGPIE_TEST_BROKER_RESTART=1;
//     otherwise it closes the connections); a new worker then delivers it.
func TestClusterWebhookSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := magpieBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env := clusterEnv(t)
	recv, err := webhooktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	boot := startCluster(t, bin, env, "app_key", "bootstrap")
	<-boot.done
	if boot.get("app_id") == "" || boot.get("operator_password") == "" {
		t.Fatalf("bootstrap printed %v", boot.snapshot())
	}
	gw := startCluster(t, bin, env, "node_id", "gateway", "--addr", "127.0.0.1:0",
		"--unlimited-addresses", "127.0.0.0/8", "--webhook-allow-loopback=true")
	workerArgs := []string{"worker", "--addr", "127.0.0.1:0", "--webhook-allow-loopback=true", "--webhook-retry-window", "1m"}
	worker := startCluster(t, bin, env, "worker_url", workerArgs...)

	api, err := serverapi.New(gw.get("gateway_url"), boot.get("app_key"), boot.get("app_secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	hooks := gw.get("gateway_url") + "/manage/v1/apps/" + boot.get("app_id") + "/webhooks"
	var created struct {
		Webhook struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		} `json:"webhook"`
	}
	manage(ctx, t, boot, http.MethodPost, hooks, map[string]any{"url": recv.URL() + "/magpie", "events": []string{"message.created"}}, &created)
	if err := recv.SetSecrets(created.Webhook.Secret); err != nil {
		t.Fatalf("endpoint %+v: %v", created.Webhook, err)
	}
	// The receiver holds the first request it gets and answers 200 to
	// every later one.
	hold := make(chan struct{})
	var holding atomic.Bool
	recv.Respond(func(webhooktest.Request) webhooktest.Response {
		if holding.CompareAndSwap(false, true) {
			return webhooktest.Response{Hold: hold}
		}
		return webhooktest.Response{}
	})

	send := func(content string) serverapi.Message {
		t.Helper()
		res, err := api.SendMessage(ctx, serverapi.MessageInput{FromUserID: "alice", ToUserID: "bob", Type: "text", Content: content})
		if err != nil {
			t.Fatalf("send %q: %v", content, err)
		}
		return res.Message
	}
	// received waits until the receiver got n requests for msg's event, and
	// returns them.
	received := func(msg serverapi.Message, n int) []webhooktest.Request {
		t.Helper()
		reqs, err := recv.Wait(ctx, func(rs []webhooktest.Request) bool { return len(forMessage(rs, msg)) >= n })
		if err != nil {
			t.Fatalf("seq %d: %d requests for its event, want %d: %v", msg.Seq, len(forMessage(reqs, msg)), n, err)
		}
		return forMessage(reqs, msg)
	}
	// succeeded waits until the delivery log has a succeeded attempt of
	// event id.
	succeeded := func(id string) {
		t.Helper()
		for {
			var page struct {
				Attempts []struct{ Outcome string } `json:"attempts"`
			}
			manage(ctx, t, boot, http.MethodGet, hooks+"/"+created.Webhook.ID+"/attempts?event_id="+id, nil, &page)
			for _, a := range page.Attempts {
				if a.Outcome == "succeeded" {
					return
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("event %s: attempts %+v, none succeeded", id, page.Attempts)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// 1. SIGKILL mid-request.
	first := send("first")
	received(first, 1)
	t.Log("the receiver holds the first delivery: SIGKILL the worker, start another")
	worker.kill()
	<-worker.done
	close(hold)
	worker = startCluster(t, bin, env, "worker_url", workerArgs...)
	reqs := received(first, 2)
	checkDeliveries(t, "first", first, reqs)
	succeeded(reqs[0].ID)
	t.Logf("first message: %d requests, one webhook-id %s", len(reqs), reqs[0].ID)

	// 2. A broker restart while the events job waits for a worker.
	worker.kill()
	<-worker.done
	second := send("second")
	queued(ctx, t, env)
	if os.Getenv("MAGPIE_TEST_BROKER_RESTART") == "1" {
		t.Log("events job queued, no worker: restart RabbitMQ")
		rabbittest.Ctl(t, "stop_app")
		rabbittest.Ctl(t, "start_app")
	} else {
		t.Log("events job queued, no worker: RabbitMQ closes every connection of the test's vhost")
		rabbittest.Ctl(t, "close_all_connections", "--vhost", vhostOf(envValue(env, "MAGPIE_AMQP_URL")), "test: broker outage")
	}
	startCluster(t, bin, env, "worker_url", workerArgs...)
	reqs = received(second, 1)
	checkDeliveries(t, "second", second, reqs)
	succeeded(reqs[0].ID)
	if firsts := forMessage(recv.Requests(), first); len(firsts) < 2 {
		t.Errorf("first message: %d requests in the end, want at least 2", len(firsts))
	} else {
		checkDeliveries(t, "first", first, firsts)
	}
	t.Logf("second message: %d requests, one webhook-id %s", len(reqs), reqs[0].ID)
}

// forMessage returns the requests among rs whose body is an event about
// msg.
func forMessage(rs []webhooktest.Request, msg serverapi.Message) []webhooktest.Request {
	var out []webhooktest.Request
	for _, r := range rs {
		ev, err := sdkwebhook.ParseEvent(r.Body)
		if err != nil {
			continue
		}
		if m, err := ev.Message(); err == nil && m.ConvID == msg.ConvID && m.Seq == msg.Seq {
			out = append(out, r)
		}
	}
	return out
}

// checkDeliveries checks that reqs, msg's deliveries, all carry the same
// webhook-id, a valid signature and msg's message.created event.
func checkDeliveries(t *testing.T, name string, msg serverapi.Message, reqs []webhooktest.Request) {
	t.Helper()
	for i, r := range reqs {
		if r.ID == "" || r.ID != reqs[0].ID {
			t.Errorf("%s message, request %d: webhook-id %q, want %q as on the first", name, i, r.ID, reqs[0].ID)
		}
		if r.Verified != nil {
			t.Errorf("%s message, request %d: signature: %v", name, i, r.Verified)
		}
		ev, err := sdkwebhook.ParseEvent(r.Body)
		if err != nil {
			t.Errorf("%s message, request %d: ParseEvent: %v", name, i, err)
			continue
		}
		m, err := ev.Message()
		if ev.Type != sdkwebhook.EventMessageCreated || ev.ID != r.ID || err != nil || m.Content != name || m.SenderID != "alice" {
			t.Errorf("%s message, request %d: event %s %s (%+v, %v), want message.created %s from alice with id %s",
				name, i, ev.Type, ev.ID, m, err, name, r.ID)
		}
	}
}

// queued waits until the webhook events queue holds a job: the gateway's
// emitter publishes after the commit, and a batch not yet on the queue
// when the broker goes down may be lost by design.
func queued(ctx context.Context, t *testing.T, env []string) {
	t.Helper()
	b, err := bus.OpenRabbitMQ(ctx, bus.RabbitMQConfig{URL: envValue(env, "MAGPIE_AMQP_URL"), Prefix: envValue(env, "MAGPIE_AMQP_PREFIX")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for {
		n, err := b.QueueDepth(ctx, webhook.QueueEvents)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no job on the %s queue: %v", webhook.QueueEvents, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// manage calls the management API as the bootstrap's operator, decoding
// the answer into out; a status other than 2xx fails the test.
func manage(ctx context.Context, t *testing.T, boot *clusterProc, method, url string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(boot.get("operator_email"), boot.get("operator_password"))
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, res.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
	}
}
