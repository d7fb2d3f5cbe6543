// Package telemetry owns Magpie's metrics: an OpenTelemetry MeterProvider
// exported in the Prometheus text format on a registry of its own (never
// the global default), the instruments every component records into
// (Metrics), and the admin listener that serves them with the health
// endpoints and, optionally, pprof (Admin).
//
// One Metrics is created per process and passed to the components that
// record. A nil *Metrics is valid and records nothing, so components and
// tests that pass none keep working.
//
// Concurrency: every method of Metrics is safe for concurrent use.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Modes of a process, the mode label of magpie_build_info.
const (
	ModeEmbedded = "embedded"
	ModeGateway  = "gateway"
	ModeWorker   = "worker"
)

// Kinds of magpie_rate_limited_total.
const (
	LimitAPI   = "api"   // a server API request answered 429
	LimitLogin = "login" // a WebSocket login or upgrade refused by a rate limit
	LimitSend  = "send"  // a send held back by the app's send rate limit
	// LimitConsole is a console login refused by the password-check
	// throttle.
	LimitConsole = "console"
	// LimitOverload is a send refused because the commit queue was full
	// (or behind a send refused so), answered with a retry hint.
	LimitOverload = "overload"
	// LimitRoom is a chat room message refused by the room's rate limit;
	// LimitRoomShed one refused, or dropped from the fan-out queue, while
	// the room shed load (see package rooms).
	LimitRoom     = "room"
	LimitRoomShed = "room_shed"
)

// Outcomes of magpie_bus_jobs_total.
const (
	JobOK         = "ok"
	JobRetry      = "retry"
	JobDeadLetter = "dead_letter"
)

// Bucket boundaries, in seconds.
var (
	// latencyBuckets suit 1 ms to 30 s.
	latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// requestBuckets suit HTTP requests, 1 ms to 10 s.
	requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// lagBuckets suit the push lag, which includes the delay before a
	// notification and retries: 50 ms to 10 minutes.
	lagBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
)

// Config configures New.
type Config struct {
	// Version is the build's version, the version label of
	// magpie_build_info. Empty means "dev".
	Version string
	// Mode is ModeEmbedded, ModeGateway or ModeWorker.
	Mode string
}

// Metrics holds the process's instruments. The names below are the
// exposed (Prometheus) names; docs/operations.md lists them, and dashboards
// and alert rules depend on them.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler

	buildInfo        metric.Int64Gauge           // magpie_build_info{version,mode}
	connections      metric.Int64ObservableGauge // magpie_connections
	logins           metric.Int64Counter         // magpie_logins_total{result}
	framesIn         metric.Int64Counter         // magpie_frames_in_total
	framesOut        metric.Int64Counter         // magpie_frames_out_total
	socketWrites     metric.Int64Counter         // magpie_socket_writes_total
	accepted         metric.Int64Counter         // magpie_messages_accepted_total
	delivered        metric.Int64Counter         // magpie_messages_delivered_total
	storedOffline    metric.Int64Counter         // magpie_messages_stored_offline_total
	deliveryLatency  metric.Float64Histogram     // magpie_delivery_latency_seconds
	apiRequests      metric.Int64Counter         // magpie_api_requests_total{route,status}
	apiDuration      metric.Float64Histogram     // magpie_api_request_duration_seconds{route}
	apiOpts          sync.Map                    // apiKey → *apiOpts
	apiOptsN         atomic.Int64                // entries in apiOpts
	rateLimited      metric.Int64Counter         // magpie_rate_limited_total{kind}
	busJobs          metric.Int64Counter         // magpie_bus_jobs_total{queue,outcome}
	deadLetters      metric.Int64Counter         // magpie_bus_dead_letters_total{queue}
	notifDropped     metric.Int64Counter         // magpie_offline_notifications_dropped_total
	ready            metric.Int64Gauge           // magpie_ready{dependency}
	pushSends        metric.Int64Counter         // magpie_push_sends_total{provider,outcome}
	pushDuration     metric.Float64Histogram     // magpie_push_send_duration_seconds{provider}
	pushLag          metric.Float64Histogram     // magpie_push_lag_seconds{provider}
	pushNotifs       metric.Int64Counter         // magpie_push_notifications_total{outcome}
	pushFailures     metric.Int64Counter         // magpie_push_failures_total{provider,reason}
	countConnections atomic.Pointer[func() int]
	infra            infra
	moderation       moderation
	webhook          webhooks
	support          support
}

// New returns the instruments of a process, exported on a registry of
// their own (see Handler) with the Go runtime's and the process's series,
// and sets magpie_build_info.
func New(cfg Config) (*Metrics, error) {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	reg := prometheus.NewRegistry()
	// The Go runtime's and the process's own series (go_*, process_*).
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := &Metrics{provider: mp, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	if err := m.instruments(mp.Meter("github.com/magpie-im/magpie")); err != nil {
		_ = mp.Shutdown(context.Background()) // the instrument error is the one to report
		return nil, err
	}
	m.buildInfo.Record(context.Background(), 1, metric.WithAttributes(
		attribute.String("version", cfg.Version), attribute.String("mode", cfg.Mode)))
	m.zero()
	return m, nil
}

// zero exposes the counters at 0 from the start, so that a rate computed
// over the first increment sees it and an alert on a series that has not
// moved yet finds it.
func (m *Metrics) zero() {
	ctx := context.Background()
	for _, c := range []metric.Int64Counter{m.framesIn, m.framesOut, m.socketWrites, m.accepted, m.delivered, m.storedOffline, m.notifDropped} {
		c.Add(ctx, 0)
	}
	for _, opt := range limitKinds {
		m.rateLimited.Add(ctx, 0, opt)
	}
	for _, kind := range []string{SyncConversations, SyncMessages} {
		k := metric.WithAttributes(attribute.String("kind", kind))
		m.infra.syncs.Add(ctx, 0, k)
		m.infra.syncItems.Add(ctx, 0, k)
	}
}

// Queue exposes the job counters of queue at 0; a job consumer calls it
// when it starts.
func (m *Metrics) Queue(queue string) {
	if m == nil {
		return
	}
	ctx, q := context.Background(), attribute.String("queue", queue)
	for _, outcome := range []string{JobOK, JobRetry, JobDeadLetter} {
		m.busJobs.Add(ctx, 0, metric.WithAttributes(q, attribute.String("outcome", outcome)))
	}
	m.deadLetters.Add(ctx, 0, metric.WithAttributes(q))
}

// instruments creates the instruments. Counter names get _total and unit
// "s" gets _seconds from the exporter's translation.
func (m *Metrics) instruments(meter metric.Meter) error {
	var errs [23]error
	m.buildInfo, errs[0] = meter.Int64Gauge("magpie_build_info", metric.WithDescription("Build of this process: 1, labelled with its version and mode."))
	m.logins, errs[1] = meter.Int64Counter("magpie_logins", metric.WithDescription("WebSocket logins by result: ok, or the refusal's close code name."))
	m.framesIn, errs[2] = meter.Int64Counter("magpie_frames_in", metric.WithDescription("Frames read from client WebSockets."))
	m.framesOut, errs[3] = meter.Int64Counter("magpie_frames_out", metric.WithDescription("Frames written to client WebSockets."))
	m.accepted, errs[4] = meter.Int64Counter("magpie_messages_accepted", metric.WithDescription("Messages stored (duplicates excluded)."))
	m.delivered, errs[5] = meter.Int64Counter("magpie_messages_delivered", metric.WithDescription("DELIVERED receipts produced: a device's ack that moved its user's cursor over others' messages."))
	m.storedOffline, errs[6] = meter.Int64Counter("magpie_messages_stored_offline", metric.WithDescription("STORED outcomes: a recipient had no device that took the message."))
	m.deliveryLatency, errs[7] = meter.Float64Histogram("magpie_delivery_latency", metric.WithUnit("s"),
		metric.WithDescription("From a pushed message's acceptance to the first device ack covering it."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	m.apiRequests, errs[8] = meter.Int64Counter("magpie_api_requests", metric.WithDescription("HTTP requests by route pattern and status code."))
	m.apiDuration, errs[9] = meter.Float64Histogram("magpie_api_request_duration", metric.WithUnit("s"),
		metric.WithDescription("HTTP request durations by route pattern."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	m.rateLimited, errs[10] = meter.Int64Counter("magpie_rate_limited", metric.WithDescription("Requests refused or held back by a rate limit, by kind: api, login, send."))
	m.busJobs, errs[11] = meter.Int64Counter("magpie_bus_jobs", metric.WithDescription("Bus jobs handled, by queue and outcome: ok, retry, dead_letter."))
	m.deadLetters, errs[12] = meter.Int64Counter("magpie_bus_dead_letters", metric.WithDescription("Bus jobs that exhausted their attempts, by queue."))
	m.notifDropped, errs[13] = meter.Int64Counter("magpie_offline_notifications_dropped", metric.WithDescription("Offline notifications dropped because the messaging core's queue was full."))
	m.ready, errs[14] = meter.Int64Gauge("magpie_ready", metric.WithDescription("1 if the dependency answered the last /readyz of the admin listener, else 0."))
	m.pushSends, errs[17] = meter.Int64Counter("magpie_push_sends", metric.WithDescription("Requests to push providers, by provider (apns, fcm) and outcome: sent, retry, failed, token_removed."))
	m.pushDuration, errs[18] = meter.Float64Histogram("magpie_push_send_duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one request to a push provider, by provider."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	m.pushLag, errs[19] = meter.Float64Histogram("magpie_push_lag", metric.WithUnit("s"),
		metric.WithDescription("From a message's acceptance to its notification's acceptance by the provider, by provider."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	m.pushNotifs, errs[20] = meter.Int64Counter("magpie_push_notifications", metric.WithDescription("Offline notifications handled by the push workers, by outcome: queued (to devices), outbox (no credentials), suppressed, dropped."))
	m.pushFailures, errs[21] = meter.Int64Counter("magpie_push_failures", metric.WithDescription("Push provider refusals and errors, by provider and reason (the provider's, such as BadDeviceToken or UNREGISTERED; network, or other)."))
	m.socketWrites, errs[22] = meter.Int64Counter("magpie_socket_writes", metric.WithDescription("Socket writes of frames to client WebSockets: magpie_frames_out_total over this is how many frames share a write."))
	m.connections, errs[15] = meter.Int64ObservableGauge("magpie_connections", metric.WithDescription("Logged-in WebSocket sessions on this node."))
	if errs[15] == nil {
		_, errs[16] = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			if f := m.countConnections.Load(); f != nil {
				o.ObserveInt64(m.connections, int64((*f)()))
			}
			return nil
		}, m.connections)
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("create instrument: %w", err)
		}
	}
	return errors.Join(m.infra.instruments(meter), m.moderation.instruments(meter), m.webhook.instruments(meter), m.support.instruments(meter))
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Shutdown releases the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	if err := m.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down metrics: %w", err)
	}
	return nil
}

// CountConnections sets the function magpie_connections reads at each
// scrape (the connection node's count of logged-in sessions).
func (m *Metrics) CountConnections(f func() int) {
	if m != nil {
		m.countConnections.Store(&f)
	}
}

// Login counts a WebSocket login: result is "ok" or the refusal's close
// code name.
func (m *Metrics) Login(result string) {
	if m != nil {
		m.logins.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", result)))
	}
}

// FramesIn counts frames read from clients.
func (m *Metrics) FramesIn(n int) {
	if m != nil {
		m.framesIn.Add(context.Background(), int64(n))
	}
}

// FramesOut counts frames written to clients, and the socket writes that
// carried them.
func (m *Metrics) FramesOut(frames, writes int) {
	if m != nil {
		m.framesOut.Add(context.Background(), int64(frames))
		m.socketWrites.Add(context.Background(), int64(writes))
	}
}

// MessagesAccepted counts newly stored messages.
func (m *Metrics) MessagesAccepted(n int) {
	if m != nil && n > 0 {
		m.accepted.Add(context.Background(), int64(n))
	}
}

// MessageDelivered counts a DELIVERED receipt.
func (m *Metrics) MessageDelivered() {
	if m != nil {
		m.delivered.Add(context.Background(), 1)
	}
}

// MessageStoredOffline counts a STORED outcome.
func (m *Metrics) MessageStoredOffline() {
	if m != nil {
		m.storedOffline.Add(context.Background(), 1)
	}
}

// DeliveryLatency records the time from a message's acceptance to the
// first device ack that covered it.
func (m *Metrics) DeliveryLatency(d time.Duration) {
	if m != nil {
		m.deliveryLatency.Record(context.Background(), max(d, 0).Seconds())
	}
}

// APIRequest records an HTTP request: route is the router's pattern (never
// the raw path), status the response's code.
func (m *Metrics) APIRequest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	o := m.apiOptions(route, status)
	m.apiRequests.Add(context.Background(), 1, o.add)
	m.apiDuration.Record(context.Background(), d.Seconds(), o.record)
}

// apiOpts are the attribute options of one route and status.
type apiOpts struct {
	add    metric.AddOption
	record metric.RecordOption
}

type apiKey struct {
	route  string
	status int
}

// maxAPIOptions bounds the cache of apiOptions: routes are patterns and
// statuses few, so it never fills unless a caller passes raw paths.
const maxAPIOptions = 4096

// apiOptions returns the attribute options of route and status, built once
// each: building the attribute sets was most of a request's metric cost,
// which every WebSocket login pays too.
func (m *Metrics) apiOptions(route string, status int) *apiOpts {
	k := apiKey{route, status}
	if o, ok := m.apiOpts.Load(k); ok {
		return o.(*apiOpts)
	}
	r := attribute.String("route", route)
	o := &apiOpts{
		add:    metric.WithAttributes(r, attribute.String("status", strconv.Itoa(status))),
		record: metric.WithAttributes(r),
	}
	if m.apiOptsN.Load() < maxAPIOptions {
		if _, loaded := m.apiOpts.LoadOrStore(k, o); !loaded {
			m.apiOptsN.Add(1)
		}
	}
	return o
}

// RateLimited counts a request a rate limit refused or held back; kind is
// LimitAPI, LimitLogin or LimitSend.
func (m *Metrics) RateLimited(kind string) {
	if m == nil {
		return
	}
	opt, ok := limitKinds[kind]
	if !ok {
		opt = metric.WithAttributes(attribute.String("kind", kind))
	}
	m.rateLimited.Add(context.Background(), 1, opt)
}

// limitKinds holds the attribute option of each kind of limit, built once:
// an overload refuses sends by the thousand a second, and building the
// attribute set was most of a count's cost.
var limitKinds = func() map[string]metric.AddOption {
	m := map[string]metric.AddOption{}
	for _, kind := range []string{LimitAPI, LimitLogin, LimitSend, LimitConsole, LimitOverload, LimitRoom, LimitRoomShed} {
		m[kind] = metric.WithAttributes(attribute.String("kind", kind))
	}
	return m
}()

// BusJob counts a handled job of queue; outcome is JobOK, JobRetry or
// JobDeadLetter (which also counts a dead letter).
func (m *Metrics) BusJob(queue, outcome string) {
	if m == nil {
		return
	}
	q := attribute.String("queue", queue)
	m.busJobs.Add(context.Background(), 1, metric.WithAttributes(q, attribute.String("outcome", outcome)))
	if outcome == JobDeadLetter {
		m.deadLetters.Add(context.Background(), 1, metric.WithAttributes(q))
	}
}

// OfflineNotificationDropped counts a notification the messaging core
// dropped because its queue was full.
func (m *Metrics) OfflineNotificationDropped() {
	if m != nil {
		m.notifDropped.Add(context.Background(), 1)
	}
}

// Outcomes of magpie_push_sends_total.
const (
	PushSent         = "sent"
	PushRetry        = "retry"
	PushFailed       = "failed"
	PushTokenRemoved = "token_removed"
)

// Outcomes of magpie_push_notifications_total.
const (
	NotifQueued     = "queued"
	NotifOutbox     = "outbox"
	NotifSuppressed = "suppressed"
	NotifDropped    = "dropped"
)

// PushProviders exposes the push counters of each provider at 0; a push
// worker calls it when it starts.
func (m *Metrics) PushProviders(providers ...string) {
	if m == nil {
		return
	}
	ctx := context.Background()
	for _, p := range providers {
		for _, outcome := range []string{PushSent, PushRetry, PushFailed, PushTokenRemoved} {
			m.pushSends.Add(ctx, 0, metric.WithAttributes(attribute.String("provider", p), attribute.String("outcome", outcome)))
		}
	}
	for _, outcome := range []string{NotifQueued, NotifOutbox, NotifSuppressed, NotifDropped} {
		m.pushNotifs.Add(ctx, 0, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

// PushSend records one request to a push provider: its outcome (PushSent,
// PushRetry, PushFailed, PushTokenRemoved), its duration and, when sent,
// the lag from the message's acceptance.
func (m *Metrics) PushSend(provider, outcome string, d, lag time.Duration) {
	if m == nil {
		return
	}
	ctx, p := context.Background(), attribute.String("provider", provider)
	m.pushSends.Add(ctx, 1, metric.WithAttributes(p, attribute.String("outcome", outcome)))
	m.pushDuration.Record(ctx, d.Seconds(), metric.WithAttributes(p))
	if outcome == PushSent {
		m.pushLag.Record(ctx, max(lag, 0).Seconds(), metric.WithAttributes(p))
	}
}

// PushFailure counts a provider's refusal or error of one request, by its
// reason: the provider's reason when it looks like one (letters, digits and
// underscores, at most 40), "network" for a request without an answer,
// else "other", so that the label stays bounded.
func (m *Metrics) PushFailure(provider, reason string, answered bool) {
	if m == nil {
		return
	}
	switch {
	case !answered:
		reason = "network"
	case !pushReason(reason):
		reason = "other"
	}
	m.pushFailures.Add(context.Background(), 1, metric.WithAttributes(attribute.String("provider", provider), attribute.String("reason", reason)))
}

// pushReason reports whether s looks like a provider's reason code.
func pushReason(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// PushNotification counts an offline notification a push worker handled:
// NotifQueued, NotifOutbox, NotifSuppressed or NotifDropped.
func (m *Metrics) PushNotification(outcome string) {
	if m != nil {
		m.pushNotifs.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

// Ready records whether a dependency answered a readiness check.
func (m *Metrics) Ready(dependency string, ok bool) {
	if m == nil {
		return
	}
	v := int64(0)
	if ok {
		v = 1
	}
	m.ready.Record(context.Background(), v, metric.WithAttributes(attribute.String("dependency", dependency)))
}
