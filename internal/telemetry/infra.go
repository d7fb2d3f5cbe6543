package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// infra holds the instruments of the engines under the domain: the store,
// the bus, and the client protocol's sync requests.
type infra struct {
	storeOps    metric.Float64Histogram     // magpie_store_operation_duration_seconds{op}
	storeErrors metric.Int64Counter         // magpie_store_errors_total{op}
	publishes   metric.Int64Counter         // magpie_bus_publishes_total{queue,result}
	jobLag      metric.Float64Histogram     // magpie_bus_job_lag_seconds{queue}
	queueDepth  metric.Int64ObservableGauge // magpie_bus_queue_depth{queue}
	searchQueue metric.Int64ObservableGauge // magpie_search_queue
	syncs       metric.Int64Counter         // magpie_sync_requests_total{kind}
	syncItems   metric.Int64Counter         // magpie_sync_items_total{kind}
	depthFunc   atomic.Pointer[func(context.Context) map[string]int64]
	searchFunc  atomic.Pointer[func(context.Context) (int64, error)]
	opOptions   sync.Map // op name → *opOptions, built once per op
}

// opOptions are the measurement options of one store operation, built once:
// StoreOp runs on every store call.
type opOptions struct {
	record []metric.RecordOption
	add    []metric.AddOption
}

func (x *infra) options(op string) *opOptions {
	if o, ok := x.opOptions.Load(op); ok {
		return o.(*opOptions)
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String("op", op)))
	o, _ := x.opOptions.LoadOrStore(op, &opOptions{record: []metric.RecordOption{set}, add: []metric.AddOption{set}})
	return o.(*opOptions)
}

// storeBuckets suit store operations, 0.1 ms to 10 s.
var storeBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

// Kinds of magpie_sync_requests_total.
const (
	SyncConversations = "conversations"
	SyncMessages      = "messages"
)

func (x *infra) instruments(meter metric.Meter) error {
	var errs [10]error
	x.storeOps, errs[0] = meter.Float64Histogram("magpie_store_operation_duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of store operations (one group commit counts once), by operation."),
		metric.WithExplicitBucketBoundaries(storeBuckets...))
	x.storeErrors, errs[1] = meter.Int64Counter("magpie_store_errors", metric.WithDescription("Store operations that failed (not found and conflicts excluded), by operation."))
	x.publishes, errs[2] = meter.Int64Counter("magpie_bus_publishes", metric.WithDescription("Jobs published to the bus, by queue and result: ok (confirmed durable) or error."))
	x.jobLag, errs[3] = meter.Float64Histogram("magpie_bus_job_lag", metric.WithUnit("s"),
		metric.WithDescription("From a job's publication to the start of each of its attempts, by queue: consumer lag."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	x.queueDepth, errs[4] = meter.Int64ObservableGauge("magpie_bus_queue_depth", metric.WithDescription("Jobs waiting in a bus queue, retries included, by queue (read by the workers)."))
	x.syncs, errs[5] = meter.Int64Counter("magpie_sync_requests", metric.WithDescription("Client sync requests, by kind: conversations (a page of the conversation list) or messages (a page of history)."))
	x.syncItems, errs[6] = meter.Int64Counter("magpie_sync_items", metric.WithDescription("Conversations or messages returned by sync requests, by kind."))
	if errs[4] == nil {
		_, errs[7] = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			if f := x.depthFunc.Load(); f != nil {
				for q, n := range (*f)(ctx) {
					o.ObserveInt64(x.queueDepth, n, metric.WithAttributes(attribute.String("queue", q)))
				}
			}
			return nil
		}, x.queueDepth)
	}
	x.searchQueue, errs[8] = meter.Int64ObservableGauge("magpie_search_queue",
		metric.WithDescription("Messages waiting for the search index (embedded mode): they wait while the store's absorber is busy, and are indexed once the load eases."))
	if errs[8] == nil {
		_, errs[9] = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			if f := x.searchFunc.Load(); f != nil {
				if n, err := (*f)(ctx); err == nil {
					o.ObserveInt64(x.searchQueue, n)
				}
			}
			return nil
		}, x.searchQueue)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("create instrument: %w", err)
	}
	return nil
}

// StoreOp records one store operation: its duration, and whether it failed
// (failed says so: not found and conflicts are answers, not failures).
func (m *Metrics) StoreOp(op string, d time.Duration, failed bool) {
	if m == nil {
		return
	}
	o := m.infra.options(op)
	m.infra.storeOps.Record(context.Background(), d.Seconds(), o.record...)
	if failed {
		m.infra.storeErrors.Add(context.Background(), 1, o.add...)
	}
}

// BusPublish counts a job published to queue: ok when the bus confirmed
// it durable.
func (m *Metrics) BusPublish(queue string, ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "error"
	}
	m.infra.publishes.Add(context.Background(), 1, metric.WithAttributes(attribute.String("queue", queue), attribute.String("result", result)))
}

// BusJobLag records the time from a job's publication to the start of an
// attempt.
func (m *Metrics) BusJobLag(queue string, d time.Duration) {
	if m != nil {
		m.infra.jobLag.Record(context.Background(), max(d, 0).Seconds(), metric.WithAttributes(attribute.String("queue", queue)))
	}
}

// CountQueueDepth sets the function magpie_bus_queue_depth reads at each
// scrape: the jobs waiting per queue. A worker sets it; the last call wins.
func (m *Metrics) CountQueueDepth(f func(context.Context) map[string]int64) {
	if m != nil {
		m.infra.depthFunc.Store(&f)
	}
}

// CountSearchQueue sets the function magpie_search_queue reads at each
// scrape: the messages waiting for the search index. A scrape at which it
// fails reports nothing.
func (m *Metrics) CountSearchQueue(f func(context.Context) (int64, error)) {
	if m != nil {
		m.infra.searchFunc.Store(&f)
	}
}

// SyncRequest counts a sync request of kind (SyncConversations,
// SyncMessages) that returned items conversations or messages.
func (m *Metrics) SyncRequest(kind string, items int) {
	if m == nil {
		return
	}
	k := metric.WithAttributes(attribute.String("kind", kind))
	m.infra.syncs.Add(context.Background(), 1, k)
	m.infra.syncItems.Add(context.Background(), int64(items), k)
}
