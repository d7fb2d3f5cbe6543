package embedded_test

import (
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
)

// TestOfflineMessageTrace is issue 12's acceptance for traces: a message
// sent through the server API to a user with no online device yields one
// trace holding the HTTP server span of POST /v1/messages, the offline
// job's publish span and the worker's consumer span, the consumer's
// parent chain leading to the HTTP span across the group commit, the
// fan-out and the bus.
func TestOfflineMessageTrace(t *testing.T) {
	exp, restore := telemetry.InstallSpanRecorder(telemetry.ModeEmbedded)
	defer restore()
	s := start(t, t.TempDir())
	defer stop(t, s)
	key, secret := s.Bootstrap.AppKey, s.Bootstrap.AppSecret
	for _, id := range []string{"alice", "bob"} {
		if code, out := sign(t, key, secret, "POST", "/v1/users", `{"id":"`+id+`"}`).send(t, s.URL); code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, code, out)
		}
	}
	send := sign(t, key, secret, "POST", "/v1/messages",
		`{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"traced"}`)
	if code, out := send.send(t, s.URL); code != http.StatusCreated {
		t.Fatalf("send: %d %v", code, out)
	}

	// The worker records the job, then ends its span: wait for both.
	app := s.Store().App(s.Bootstrap.AppID)
	var consumer *tracetest.SpanStub
	for deadline := time.Now().Add(10 * time.Second); consumer == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, err := app.ListOutbox(t.Context(), "bob", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			consumer = find(exp.GetSpans(), "process "+push.QueueOffline)
		}
	}
	if consumer == nil {
		t.Fatalf("no consumer span for the offline job; spans: %v", names(exp.GetSpans()))
	}

	// Spans are recorded when they end, and a parent may end after its
	// child (the HTTP span ends after the response is written): wait until
	// the whole chain is there.
	spans := exp.GetSpans()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, _, complete := parentChain(spans, consumer.Name); complete {
			break
		}
		spans = exp.GetSpans()
	}
	byID := make(map[trace.SpanID]tracetest.SpanStub)
	for _, sp := range spans {
		if sp.SpanContext.TraceID() == consumer.SpanContext.TraceID() {
			byID[sp.SpanContext.SpanID()] = sp
		}
	}
	// Walk up from the consumer span.
	var chain []tracetest.SpanStub
	for sp, ok := *consumer, true; ok; sp, ok = byID[sp.Parent.SpanID()] {
		chain = append(chain, sp)
		t.Logf("%-24s kind=%-8s trace=%s span=%s parent=%s", sp.Name, sp.SpanKind, sp.SpanContext.TraceID(),
			sp.SpanContext.SpanID(), sp.Parent.SpanID())
	}
	want := []struct {
		name string
		kind trace.SpanKind
	}{
		{"process " + push.QueueOffline, trace.SpanKindConsumer},
		{"publish " + push.QueueOffline, trace.SpanKindProducer},
		{"HTTP POST /v1/messages", trace.SpanKindServer},
	}
	if len(chain) != len(want) {
		t.Fatalf("consumer's parent chain = %v, want %d spans", names(chain), len(want))
	}
	for i, w := range want {
		if chain[i].Name != w.name || chain[i].SpanKind != w.kind {
			t.Errorf("chain[%d] = %q (%v), want %q (%v)", i, chain[i].Name, chain[i].SpanKind, w.name, w.kind)
		}
	}
	root := chain[len(chain)-1]
	if root.Parent.IsValid() {
		t.Errorf("HTTP span has a parent %v, want a root", root.Parent)
	}
	attrs := attribute.NewSet(root.Attributes...)
	for k, v := range map[attribute.Key]attribute.Value{
		"http.request.method":       attribute.StringValue("POST"),
		"http.route":                attribute.StringValue("/v1/messages"),
		"http.response.status_code": attribute.IntValue(http.StatusCreated),
	} {
		if got, ok := attrs.Value(k); !ok || got != v {
			t.Errorf("HTTP span %s = %v, want %v", k, got.String(), v.String())
		}
	}
	if !chain[1].Parent.IsRemote() {
		t.Errorf("publish span's parent is not remote: the sender's span context crossed the group commit as a remote parent")
	}
	var mode string
	for _, kv := range root.Resource.Attributes() {
		if kv.Key == "magpie.mode" {
			mode = kv.Value.AsString()
		}
	}
	if mode != telemetry.ModeEmbedded {
		t.Errorf("resource magpie.mode = %q, want %q", mode, telemetry.ModeEmbedded)
	}
}

func find(spans tracetest.SpanStubs, name string) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}

func names(spans []tracetest.SpanStub) []string {
	out := make([]string, len(spans))
	for i, sp := range spans {
		out[i] = sp.Name
	}
	return out
}
