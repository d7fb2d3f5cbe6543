package cluster_test

import (
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/cluster"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/pushtest"
	"github.com/magpie-im/magpie/tenant"
)

// TestPushOnlineButSilent: bob is connected but his phone does not
// acknowledge what it is sent. With the app's push delay at 1 s, a message
// bob does not acknowledge is pushed to his iPhone through the worker and
// the mock APNs; a message he acknowledges at once is not; a message he
// leaves unacknowledged again is.
func TestPushOnlineButSilent(t *testing.T) {
	e := newEnv(t, nil)
	apns := pushtest.NewAPNs(t)
	e.deps.Push = push.Endpoints{APNsHost: apns.URL(), RootCAs: apns.RootCAs()}
	ctx := t.Context()
	if _, err := e.tenants.UpdateApp(ctx, e.boot.AppID, tenant.AppUpdate{Settings: &store.Settings{Push: store.AppPush{DelaySeconds: 1}}}); err != nil {
		t.Fatal(err)
	}
	st, err := mongo.Open(ctx, e.deps.MongoURL, e.deps.MongoDB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := push.NewService(st, e.tenants, push.ServiceConfig{})
	c := apns.Credential()
	if _, err := svc.SetAPNs(ctx, e.boot.AppID, push.APNsCredential{Key: c.Key, KeyID: c.KeyID, TeamID: c.TeamID, Topic: c.Topic}); err != nil {
		t.Fatal(err)
	}
	g := e.gateway(t)
	w, err := cluster.StartWorker(ctx, cluster.WorkerConfig{Deps: e.deps, Addr: "127.0.0.1:0", Logger: testLogger(),
		Jobs: bus.ConsumeOptions{MinBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(t.Context())
	e.user(t, g, "alice")
	e.user(t, g, "bob")
	token := strings.Repeat("0f", 32)
	if _, err := svc.RegisterDevice(ctx, e.boot.AppID, "bob", "iphone", push.Registration{Platform: "ios", Provider: "apns", Token: token}); err != nil {
		t.Fatal(err)
	}
	alice, bob := e.connect(t, g, "alice", "laptop"), e.connect(t, g, "bob", "iphone")

	bodies := func(n int) []string {
		t.Helper()
		reqs, err := apns.WaitRequests(ctx, n)
		if err != nil {
			t.Fatalf("APNs: %v", err)
		}
		var out []string
		for _, r := range reqs {
			alert, _ := r.Aps()["alert"].(map[string]any)
			body, _ := alert["body"].(string)
			out = append(out, body)
		}
		return out
	}
	alice.send("bob", "silent one")
	bob.delivered("silent one") // bob's phone holds it and says nothing
	if got := bodies(1); got[0] != "silent one" {
		t.Fatalf("APNs got %q, want the unacknowledged message", got)
	}
	ack := alice.send("bob", "acked at once")
	bob.delivered("acked at once")
	bob.ack(ack.GetConvId(), ack.GetSeq())
	alice.send("bob", "silent two")
	bob.delivered("silent two")
	got := bodies(2)
	if got[1] != "silent two" {
		t.Fatalf("APNs got %q, want the two unacknowledged messages only", got)
	}
	es, err := st.App(e.boot.AppID).ListPushLog(ctx, store.PushLogQuery{ConvID: ack.GetConvId(), Seq: ack.GetSeq(), Limit: 10})
	if err != nil || len(es) != 0 {
		t.Errorf("push log of the acknowledged message = %+v, %v, want nothing", es, err)
	}
}
