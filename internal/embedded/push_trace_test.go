package embedded_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/pushtest"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// TestPushTrace: a message sent over a WebSocket to a user with no online
// device but a registered phone yields one trace from the send to the
// request to FCM: ws send → publish offline → process offline → process
// push → push fcm; the group commit's and the fan-out's batch spans link
// to the send, and the login has a span of its own.
func TestPushTrace(t *testing.T) {
	exp, restore := telemetry.InstallSpanRecorder(telemetry.ModeEmbedded)
	defer restore()
	fcm := pushtest.NewFCM(t)
	s, err := embedded.Start(t.Context(), embedded.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PasswordCost: 4,
		Push: push.Endpoints{FCMEndpoint: fcm.URL(), RootCAs: fcm.RootCAs()}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, s)
	ctx := t.Context()
	api, err := serverapi.New(s.URL, s.Bootstrap.AppKey, s.Bootstrap.AppSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Push.SetFCM(ctx, s.Bootstrap.AppID, fcm.ServiceAccountJSON()); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutDevice(ctx, "bob", "pixel", serverapi.DeviceInput{Platform: "android", Provider: "fcm", Token: "bobs-token"}); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, s.URL, api, "alice")
	if _, err := alice.Send(ctx, "bob", "text", "traced push"); err != nil {
		t.Fatal(err)
	}
	if _, err := fcm.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// A parent span ends after its children: the consumer spans end when
	// their handlers return, after the request to FCM. Wait until the whole
	// chain, up to a span with no parent, has been recorded.
	var (
		spans tracetest.SpanStubs
		chain []string
		root  tracetest.SpanStub
	)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for complete := false; !complete; {
		if wctx.Err() != nil {
			t.Fatalf("push span's parent chain = %q, incomplete after 10s; spans: %v", chain, names(spans))
		}
		spans = exp.GetSpans()
		chain, root, complete = parentChain(spans, "push fcm")
		if !complete {
			time.Sleep(10 * time.Millisecond)
		}
	}
	want := []string{"push fcm", "process " + push.QueueSend, "process " + push.QueueOffline, "publish " + push.QueueOffline, "ws send"}
	if len(chain) != len(want) {
		t.Fatalf("push span's parent chain = %q, want %q", chain, want)
	}
	for i := range want {
		if chain[i] != want[i] {
			t.Fatalf("push span's parent chain = %q, want %q", chain, want)
		}
	}
	for _, name := range []string{"messaging commit", "messaging fan-out"} {
		b := find(spans, name)
		if b == nil {
			t.Fatalf("no %q span; spans: %v", name, names(spans))
		}
		linked := false
		for _, l := range b.Links {
			linked = linked || l.SpanContext.SpanID() == root.SpanContext.SpanID()
		}
		if !linked {
			t.Errorf("%s span links %v, want a link to the ws send span", name, b.Links)
		}
	}
	if find(spans, "ws login") == nil {
		t.Errorf("no ws login span; spans: %v", names(spans))
	}
}

// parentChain walks up from the span named leaf; complete is false until
// the leaf and every ancestor up to a root span are in spans.
func parentChain(spans tracetest.SpanStubs, leaf string) (chain []string, root tracetest.SpanStub, complete bool) {
	first := find(spans, leaf)
	if first == nil {
		return nil, root, false
	}
	byID := make(map[trace.SpanID]tracetest.SpanStub)
	for _, sp := range spans {
		if sp.SpanContext.TraceID() == first.SpanContext.TraceID() {
			byID[sp.SpanContext.SpanID()] = sp
		}
	}
	for sp := *first; ; {
		chain = append(chain, sp.Name)
		root = sp
		if !sp.Parent.IsValid() {
			return chain, root, true
		}
		next, ok := byID[sp.Parent.SpanID()]
		if !ok {
			return chain, root, false
		}
		sp = next
	}
}
