// Package bustest is the conformance suite of bus.Bus. Every implementation
// runs it (Local on a temporary SQLite file, RabbitMQ on a broker), so that
// the domain code behaves the same in embedded and cluster mode.
//
// The suite never sleeps to synchronise: it waits for conditions with a
// deadline, and uses millisecond backoffs.
package bustest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
)

// Env is one isolated bus, fresh for each test: a new database file, a new
// set of broker names.
type Env struct {
	// Open returns a new handle on the env's bus, as another process would
	// get one: the same database file reopened, a new broker connection. It
	// fails the test on error, and closes the handle when the test ends if
	// the test has not.
	Open func(t *testing.T) bus.Bus
	// Concurrent reports whether several handles may be open at once (on a
	// broker, several processes share the queues). When it is false, the
	// suite closes a handle before it opens the next.
	Concurrent bool
}

type test struct {
	name string
	run  func(t *testing.T, env Env)
}

// Run runs the conformance suite; newEnv makes a fresh Env per test.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	for _, group := range []struct {
		name  string
		tests []test
	}{
		{"Jobs", jobTests},
		{"Relay", relayTests},
		{"Broadcast", broadcastTests},
		{"Lifecycle", lifecycleTests},
	} {
		t.Run(group.name, func(t *testing.T) {
			for _, tc := range group.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t)) })
			}
		})
	}
}

// fast are consume options with millisecond backoffs.
var fast = bus.ConsumeOptions{Concurrency: 4, MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}

// waitTimeout bounds every wait of the suite; a passing test never gets
// close to it.
const waitTimeout = 20 * time.Second

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// wait blocks until ch is closed or receives, failing the test after
// waitTimeout.
func wait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

// delivery is one handler call seen by a recorder.
type delivery struct {
	job bus.Job
	at  time.Time
}

// recorder records the jobs a handler sees and lets the test wait for them.
type recorder struct {
	mu      sync.Mutex
	got     []delivery
	changed chan struct{} // closed and replaced on each delivery
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

// handler records each job and then returns what fail says for it (nil
// fail: success).
func (r *recorder) handler(fail func(bus.Job) error) bus.JobHandler {
	return func(ctx context.Context, job bus.Job) error {
		r.mu.Lock()
		r.got = append(r.got, delivery{job: job, at: time.Now()})
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
		if fail != nil {
			return fail(job)
		}
		return nil
	}
}

func (r *recorder) snapshot() ([]delivery, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), r.changed
}

// waitFor waits until cond holds for the deliveries so far and returns them.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		got, changed := r.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out after %v waiting for %s; got %d deliveries: %v", waitTimeout, what, len(got), ids(got))
		}
	}
}

// waitN waits for at least n deliveries.
func (r *recorder) waitN(t *testing.T, n int) []delivery {
	t.Helper()
	return r.waitFor(t, fmt.Sprintf("%d deliveries", n), func(d []delivery) bool { return len(d) >= n })
}

// of returns the deliveries of job id.
func of(ds []delivery, id string) []delivery {
	var out []delivery
	for _, d := range ds {
		if d.job.ID == id {
			out = append(out, d)
		}
	}
	return out
}

func ids(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.job.ID
	}
	return out
}

// consume starts a consumer that the test closes at its end.
func consume(t *testing.T, ctx context.Context, b bus.Bus, queue string, h bus.JobHandler, opts bus.ConsumeOptions) bus.Consumer {
	t.Helper()
	c, err := b.Consume(ctx, queue, h, opts)
	if err != nil {
		t.Fatalf("Consume(%q) = %v", queue, err)
	}
	t.Cleanup(func() { closeConsumer(t, c) })
	return c
}

func publish(t *testing.T, b bus.Bus, queue string, jobs ...bus.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := b.Publish(t.Context(), queue, j); err != nil {
			t.Fatalf("Publish(%q, %s) = %v", queue, j.ID, err)
		}
	}
}

func closeBus(t *testing.T, b bus.Bus) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

// job returns a job of app with a trace context and an extra header.
func job(id, app string) bus.Job {
	return bus.Job{
		ID: id, AppID: app, Type: "test.job", Body: []byte("body of " + id),
		Headers: map[string]string{
			bus.HeaderTraceparent: "00-" + fmt.Sprintf("%032x", id) + "-00f067aa0ba902b7-01",
			"tenant-note":         "from " + app,
		},
	}
}

// sameJob reports whether got carries want's published fields.
func sameJob(got, want bus.Job) bool {
	return got.ID == want.ID && got.AppID == want.AppID && got.Type == want.Type &&
		string(got.Body) == string(want.Body) && maps.Equal(got.Headers, want.Headers)
}

// closeConsumer closes c, which must end without error.
func closeConsumer(t *testing.T, c bus.Consumer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("Consumer.Close() = %v", err)
	}
}
