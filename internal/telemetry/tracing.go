package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Traces. One TracerProvider is set up per process (StartTracing) and held
// in a package variable, so that every component reaches it without
// plumbing. Tracing is off unless an OTLP endpoint is configured: then
// tracer is nil and StartSpan, Inject and Extract cost a nil check.
//
// Spans: a server span per REST request (gateway/internal/httpx), a
// producer span per offline job published (push.Notifier), and a consumer
// span per offline job handled (push.Worker), whose parent is the producer
// span, carried in the job's traceparent header (W3C TraceContext).

// tracer is the process's tracer; nil means tracing is off.
var tracer atomic.Pointer[tracerState]

type tracerState struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// propagator carries span contexts across processes: W3C TraceContext.
var propagator = propagation.TraceContext{}

// noopSpan is the span StartSpan returns when tracing is off.
var noopSpan trace.Span = noop.Span{}

// ServiceName is the service.name of every span.
const ServiceName = "magpie"

// TracingConfig configures StartTracing.
type TracingConfig struct {
	// Endpoint is the OTLP/HTTP collector's URL, such as
	// http://otel-collector:4318; /v1/traces is appended when it has no
	// path. Empty turns tracing off.
	Endpoint string
	// Mode is ModeEmbedded, ModeGateway or ModeWorker: the magpie.mode
	// resource attribute.
	Mode string
	// Version is the build's version, service.version. Empty means "dev".
	Version string
}

// Tracing is the process's tracer provider. A nil *Tracing (tracing off)
// is valid.
type Tracing struct {
	st *tracerState
}

// StartTracing sets up the process's tracer provider, exporting spans in
// batches over OTLP/HTTP to cfg.Endpoint, and returns it; Shutdown flushes
// it. With no endpoint it returns nil: tracing stays off.
func StartTracing(ctx context.Context, cfg TracingConfig) (*Tracing, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otlp endpoint %q: want an http:// or https:// URL", cfg.Endpoint)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return install(sdktrace.NewBatchSpanProcessor(exp), cfg), nil
}

// install makes a provider with sp the process's tracer provider.
func install(sp sdktrace.SpanProcessor, cfg TracingConfig) *Tracing {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	res := resource.NewSchemaless(attribute.String("service.name", ServiceName),
		attribute.String("service.version", cfg.Version), attribute.String("magpie.mode", cfg.Mode))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(res))
	st := &tracerState{provider: tp, tracer: tp.Tracer("github.com/magpie-im/magpie")}
	tracer.Store(st)
	return &Tracing{st: st}
}

// Shutdown turns tracing off and flushes the spans not yet exported,
// within ctx's deadline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	tracer.CompareAndSwap(t.st, nil)
	if err := t.st.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracing: %w", err)
	}
	return nil
}

// InstallSpanRecorder is for tests: it makes a provider that exports every
// ended span at once to the returned in-memory exporter the process's
// tracer provider, and returns it with a function that restores the
// previous provider. Tests that use it must not run in parallel with each
// other.
func InstallSpanRecorder(mode string) (*tracetest.InMemoryExporter, func()) {
	prev := tracer.Load()
	exp := tracetest.NewInMemoryExporter()
	t := install(sdktrace.NewSimpleSpanProcessor(exp), TracingConfig{Mode: mode})
	return exp, func() {
		_ = t.st.provider.Shutdown(context.Background())
		tracer.Store(prev)
	}
}

// TracingOn reports whether spans are recorded; callers check it before
// preparing a span's attributes.
func TracingOn() bool { return tracer.Load() != nil }

// StartSpan starts a span as trace.Tracer.Start does. With tracing off it
// returns ctx unchanged and a span that does nothing.
func StartSpan(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	st := tracer.Load()
	if st == nil {
		return ctx, noopSpan
	}
	return st.tracer.Start(ctx, name, opts...)
}

// Inject adds the W3C traceparent (and tracestate, if any) of ctx's span
// to headers, allocating them if nil, and returns them. With tracing off,
// or no span in ctx, it returns headers unchanged.
func Inject(ctx context.Context, headers map[string]string) map[string]string {
	if tracer.Load() == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return headers
	}
	if headers == nil {
		headers = make(map[string]string, 1)
	}
	propagator.Inject(ctx, propagation.MapCarrier(headers))
	return headers
}

// Extract returns ctx with the remote span context that headers carry (a
// W3C traceparent), if any, as the parent of the spans started from it.
func Extract(ctx context.Context, headers map[string]string) context.Context {
	if tracer.Load() == nil || len(headers) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(headers))
}

// ExtractHTTP is Extract for an HTTP request's headers.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	if tracer.Load() == nil {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}
