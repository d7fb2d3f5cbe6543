package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/telemetry"
)

// TestLogHandlerAddsTraceIDs: a record logged in a recording span carries
// its trace_id and span_id, also through WithAttrs and WithGroup; one
// logged without a span, or in a span that is not recording, does not.
func TestLogHandlerAddsTraceIDs(t *testing.T) {
	_, restore := telemetry.InstallSpanRecorder(telemetry.ModeEmbedded)
	defer restore()
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("k", "v")
	lines := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		dec := json.NewDecoder(&buf)
		for dec.More() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}

	ctx, span := telemetry.StartSpan(context.Background(), "test")
	sc := span.SpanContext()
	log.InfoContext(ctx, "in a span")
	log.WithGroup("g").InfoContext(ctx, "in a group", "x", 1)
	span.End()
	log.InfoContext(context.Background(), "no span")
	remote := trace.ContextWithRemoteSpanContext(context.Background(), sc) // valid, not recording
	log.InfoContext(remote, "remote parent only")
	log.Info("no context")

	got := lines()
	if len(got) != 5 {
		t.Fatalf("got %d lines, want 5: %v", len(got), got)
	}
	if got[0]["trace_id"] != sc.TraceID().String() || got[0]["span_id"] != sc.SpanID().String() || got[0]["k"] != "v" {
		t.Errorf("in a span: %v, want trace_id %s span_id %s", got[0], sc.TraceID(), sc.SpanID())
	}
	if g, _ := got[1]["g"].(map[string]any); g["trace_id"] != sc.TraceID().String() || g["x"] != 1.0 {
		t.Errorf("in a group: %v, want the trace_id in group g", got[1])
	}
	for _, l := range got[2:] {
		if _, ok := l["trace_id"]; ok {
			t.Errorf("%v: has a trace_id, want none", l)
		}
	}
}

// TestTracingOffByDefault: with no provider installed, StartSpan returns
// its context and a span that records nothing, and Inject adds nothing.
func TestTracingOffByDefault(t *testing.T) {
	if telemetry.TracingOn() {
		t.Skip("a provider is installed")
	}
	ctx := context.Background()
	got, span := telemetry.StartSpan(ctx, "x")
	if got != ctx || span.IsRecording() {
		t.Fatalf("StartSpan with tracing off changed the context or records")
	}
	if h := telemetry.Inject(ctx, nil); h != nil {
		t.Fatalf("Inject with tracing off = %v, want nil", h)
	}
	tr, err := telemetry.StartTracing(ctx, telemetry.TracingConfig{})
	if tr != nil || err != nil {
		t.Fatalf("StartTracing without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	if _, err := telemetry.StartTracing(ctx, telemetry.TracingConfig{Endpoint: "collector:4318"}); err == nil {
		t.Fatal("StartTracing accepted an endpoint without a scheme")
	}
}
