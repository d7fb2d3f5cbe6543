package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus/rabbittest"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/pushtest"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/tenant"
)

// TestClusterPushSurvivesKills runs a gateway and a worker as processes,
// the worker pointed at a mock FCM, and an app whose user bob has an
// Android device registered and no connection. A message to bob is pushed
// once, however the worker and the broker fail meanwhile:
//
//   - the worker is SIGKILLed while its request to FCM is in flight; a new
//     worker sends the notification again, and FCM accepts it once;
//   - with no worker running, a message is sent and RabbitMQ restarts
//     (with MAGPIE_TEST_BROKER_RESTART=1; otherwise it closes the
//     connections); a new worker then sends it, once.
func TestClusterPushSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	bin := magpieBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env := clusterEnv(t)
	fcm := pushtest.NewFCM(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, fcm.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	boot := startCluster(t, bin, env, "app_key", "bootstrap")
	<-boot.done
	gw := startCluster(t, bin, env, "node_id", "gateway", "--addr", "127.0.0.1:0", "--unlimited-addresses", "127.0.0.0/8")
	workerArgs := []string{"worker", "--addr", "127.0.0.1:0", "--push-fcm-url", fcm.URL(), "--push-ca-file", caFile}
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
	// The app's FCM credential and bob's phone, written as the gateway
	// would: through the push service on the same store and master key.
	st, err := mongo.Open(ctx, envValue(env, "MAGPIE_MONGO_URL"), envValue(env, "MAGPIE_MONGO_DB"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.GetAppByKey(ctx, boot.get("app_key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyring.Load(envValue(env, "MAGPIE_MASTER_KEY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := push.NewService(st, tenant.New(st, keys, tenant.Config{}), push.ServiceConfig{})
	if _, err := svc.SetFCM(ctx, app.ID, fcm.ServiceAccountJSON()); err != nil {
		t.Fatal(err)
	}
	const token = "bobs-android-token"
	if _, err := svc.RegisterDevice(ctx, app.ID, "bob", "pixel", push.Registration{Platform: "android", Provider: "fcm", Token: token}); err != nil {
		t.Fatal(err)
	}

	alice, err := client.New(client.Config{URL: gw.get("gateway_url"), DeviceID: "laptop",
		TokenProvider: func(context.Context) (string, error) {
			tok, err := api.MintToken("alice", time.Hour)
			return tok.Token, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = alice.Run(ctx) }()
	defer alice.Close()
	sent := func(content string) store.Message {
		t.Helper()
		ack, err := alice.Send(ctx, "bob", "text", content)
		if err != nil {
			t.Fatalf("send %q: %v", content, err)
		}
		return store.Message{ConvID: ack.ConvID, Seq: ack.Seq}
	}
	// pushed waits until the push log says msg was sent to bob's phone.
	pushed := func(msg store.Message) {
		t.Helper()
		for {
			es, err := st.App(app.ID).ListPushLog(ctx, store.PushLogQuery{ConvID: msg.ConvID, Seq: msg.Seq, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Status == push.StatusSent {
					return
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("seq %d: push log %+v, no sent entry", msg.Seq, es)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	accepted := func(content string) int {
		n := 0
		for _, r := range fcm.Requests() {
			if note, _ := r.Message["notification"].(map[string]any); note["body"] == content {
				n++
			}
		}
		return n
	}

	// 1. SIGKILL mid-request.
	hold := make(chan struct{})
	fcm.Respond(token, pushtest.Response{Hold: hold})
	first := sent("first")
	if _, err := fcm.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Log("FCM holds the first request: SIGKILL the worker, start another")
	worker.kill()
	<-worker.done
	close(hold)
	worker = startCluster(t, bin, env, "worker_url", workerArgs...)
	pushed(first)
	if n := accepted("first"); n != 2 {
		t.Errorf("FCM got %d requests for the first message, want 2: the one cut by the kill, and one accepted", n)
	}

	// 2. A broker restart while the job waits for a worker.
	worker.kill()
	<-worker.done
	second := sent("second")
	if os.Getenv("MAGPIE_TEST_BROKER_RESTART") == "1" {
		t.Log("job queued, no worker: restart RabbitMQ")
		rabbittest.Ctl(t, "stop_app")
		rabbittest.Ctl(t, "start_app")
	} else {
		t.Log("job queued, no worker: RabbitMQ closes every connection of the test's vhost")
		rabbittest.Ctl(t, "close_all_connections", "--vhost", vhostOf(envValue(env, "MAGPIE_AMQP_URL")), "test: broker outage")
	}
	startCluster(t, bin, env, "worker_url", workerArgs...)
	pushed(second)
	if n := accepted("second"); n != 1 {
		t.Errorf("FCM got %d requests for the second message, want exactly 1", n)
	}
	if n := accepted("first"); n != 2 {
		t.Errorf("FCM got %d requests for the first message in the end, want still 2", n)
	}
	for _, r := range fcm.Requests() {
		if !r.BearerOK || r.Token != token || !strings.HasSuffix(r.Path, "/messages:send") {
			t.Errorf("FCM request %s to %q, bearer ok %v: want bob's phone with the app's access token", r.Path, r.Token, r.BearerOK)
		}
	}
}
