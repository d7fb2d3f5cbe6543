package bus

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/magpie-im/magpie/internal/groupcommit"
	"github.com/magpie-im/magpie/internal/telemetry"
)

var _ Bus = (*Local)(nil)

// LocalConfig configures a Local. The zero value is usable.
type LocalConfig struct {
	// MaxQueueLen caps the pending jobs of one queue (ready, waiting for a
	// retry, or running); beyond it Publish fails with ErrFull. A Local
	// holds its pending jobs in memory as well as on disk, so this bounds
	// its memory. The bound is checked before the commit, so concurrent
	// publishers may overshoot it by a batch. Zero means 100000.
	MaxQueueLen int
	// MaxBatch caps the job changes (publishes, acks, retries) committed in
	// one transaction. Zero means 256.
	MaxBatch int
	// StreamBuffer is the number of relays or broadcast events buffered per
	// consumer. When a consumer's buffer is full, Relay and Broadcast wait
	// for room, as long as their context allows. Zero means 1024.
	StreamBuffer int
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Metrics receives the bus's metrics: publishes
	// (magpie_bus_publishes_total) and the lag of each attempt
	// (magpie_bus_job_lag_seconds). Nil records nothing.
	Metrics *telemetry.Metrics
}

func (c LocalConfig) withDefaults() LocalConfig {
	if c.MaxQueueLen <= 0 {
		c.MaxQueueLen = 100000
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// commitQueue bounds the job changes waiting for a commit; beyond it Publish
// fails with ErrFull.
const commitQueue = 1 << 16

// Local is the embedded mode's Bus: one process, no broker. Jobs are
// written to an SQLite database of their own through a group committer (one
// transaction for everything that arrived while the previous one ran) and
// are also held in memory, where consumers take them from; the database is
// read only when the bus opens, to load the pending jobs of the previous
// run. A retry is a due time on the job's row, a dead letter a status.
// Publishes, retries and dead letters wait for their commit;
// acknowledgements (deletes) are committed in the background, and Close
// waits for them. Relays and broadcast events are in-memory fan-out within
// the process.
//
// A Local is safe for concurrent use. Only one Local may have a database
// file open at a time.
type Local struct {
	cfg     LocalConfig
	log     *slog.Logger
	db      *sql.DB
	stmts   [opFlush]*sql.Stmt // by opKind
	commits *groupcommit.Batcher[op, struct{}]
	seq     atomic.Int64 // last row key handed out

	stopCommits context.CancelFunc
	commitsDone chan struct{} // closed when the committer returned

	mu        sync.Mutex // guards the following, and every jobQueue and stream
	closed    bool
	queues    map[string]*jobQueue
	nodes     map[string]*stream // relay queues by node id
	subs      map[*stream]struct{}
	consumers map[*handle]struct{} // running consumers, stopped by Close
}

// OpenLocal opens the embedded bus on the SQLite database file at path,
// creating it if needed, and loads the jobs left pending by a previous run.
// The directory holding path must exist. Give the bus a file of its own, not
// the message store's.
func OpenLocal(ctx context.Context, path string, cfg LocalConfig) (*Local, error) {
	cfg = cfg.withDefaults()
	db, err := openLocalDB(ctx, path)
	if err != nil {
		return nil, err
	}
	l := &Local{
		cfg: cfg, log: cfg.Logger, db: db,
		queues: map[string]*jobQueue{}, nodes: map[string]*stream{},
		subs: map[*stream]struct{}{}, consumers: map[*handle]struct{}{},
		commitsDone: make(chan struct{}),
	}
	if err := l.prepare(ctx); err != nil {
		_ = l.closeDB()
		return nil, err
	}
	pending, maxSeq, err := l.load(ctx)
	if err != nil {
		_ = l.closeDB()
		return nil, err
	}
	l.seq.Store(maxSeq)
	now := time.Now()
	for _, e := range pending {
		l.queue(e.queue).add(e, now)
	}
	l.commits = groupcommit.New(cfg.MaxBatch, commitQueue, l.commit)
	l.commits.After = l.committed
	runCtx, stop := context.WithCancel(context.Background())
	l.stopCommits = stop
	go func() {
		defer close(l.commitsDone)
		l.commits.Run(runCtx)
	}()
	return l, nil
}

// queue returns the named queue, creating it. l.mu must be held.
func (l *Local) queue(name string) *jobQueue {
	q := l.queues[name]
	if q == nil {
		q = newJobQueue()
		l.queues[name] = q
	}
	return q
}

func (l *Local) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// committed runs on the committer after each commit: published jobs become
// visible to consumers only once they are durable.
func (l *Local) committed(ops []op, _ []struct{}) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range ops {
		if o.kind == opInsert {
			l.queue(o.e.queue).add(o.e, now)
		}
	}
}

// submit commits one change and waits for it, whoever cancels ctx: a change
// a handler's verdict depends on is not abandoned halfway.
func (l *Local) submit(ctx context.Context, o op) error {
	_, err := l.commits.SubmitAll(ctx, []op{o})
	switch {
	case errors.Is(err, groupcommit.ErrOverloaded):
		return ErrFull
	case errors.Is(err, groupcommit.ErrStopped):
		return ErrClosed
	}
	return err
}

// Publish implements Bus.
func (l *Local) Publish(ctx context.Context, queue string, job Job) error {
	job, err := prepareJob(queue, job)
	if err != nil {
		return err
	}
	job.Body, job.Headers = bytes.Clone(job.Body), maps.Clone(job.Headers)
	l.mu.Lock()
	switch q := l.queues[queue]; {
	case l.closed:
		err = ErrClosed
	case q != nil && q.size() >= l.cfg.MaxQueueLen:
		err = ErrFull
	}
	l.mu.Unlock()
	if err == nil {
		now := time.Now()
		e := &entry{seq: l.seq.Add(1), queue: queue, job: job, due: now, published: now}
		err = l.submit(ctx, op{kind: opInsert, e: e})
	}
	l.cfg.Metrics.BusPublish(queue, err == nil)
	if err != nil {
		return fmt.Errorf("publish job to %s: %w", queue, err)
	}
	return nil
}

// Consume implements Bus. It starts opts.Concurrency workers that take jobs
// from the queue's memory.
func (l *Local) Consume(ctx context.Context, queue string, h JobHandler, opts ConsumeOptions) (Consumer, error) {
	if err := checkName("queue", queue); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	hd, cctx := newHandle(ctx)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		hd.abort()
		return nil, ErrClosed
	}
	q := l.queue(queue)
	l.consumers[hd] = struct{}{}
	l.mu.Unlock()

	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for e := l.take(cctx, hd.stop, q); e != nil; e = l.take(cctx, hd.stop, q) {
				l.run(cctx, queue, q, e, h, opts)
			}
		})
	}
	go func() {
		wg.Wait()
		l.forget(hd)
		hd.finish(nil)
	}()
	return hd, nil
}

func (l *Local) forget(hd *handle) {
	l.mu.Lock()
	delete(l.consumers, hd)
	l.mu.Unlock()
}

// take waits for the next job of q and marks it running. It returns nil once
// ctx ends or stop is closed.
func (l *Local) take(ctx context.Context, stop <-chan struct{}, q *jobQueue) *entry {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		l.mu.Lock()
		if ctx.Err() != nil || isClosed(stop) {
			// Checked again under the lock: a worker that passed the check
			// above just before its consumer stopped must not take the job
			// another worker gave back on stopping (see run), which would
			// run its handler again and count another abandonment.
			l.mu.Unlock()
			return nil
		}
		now := time.Now()
		e, wake := q.next(now)
		if e != nil {
			q.running++
			l.mu.Unlock()
			return e
		}
		changed := q.changed
		l.mu.Unlock()

		var due <-chan time.Time
		if !wake.IsZero() {
			if timer == nil {
				timer = time.NewTimer(wake.Sub(now))
			} else {
				timer.Reset(wake.Sub(now))
			}
			due = timer.C
		}
		select {
		case <-changed:
		case <-due:
		case <-stop:
		case <-ctx.Done():
		}
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// run hands e to h and carries out the verdict.
func (l *Local) run(ctx context.Context, queue string, q *jobQueue, e *entry, h JobHandler, opts ConsumeOptions) {
	var (
		v   verdict
		err error
	)
	if ctx.Err() != nil {
		// The consumer stopped between taking the job and running it: it
		// goes back untried, not counted as abandoned.
		l.mu.Lock()
		q.running--
		q.addFront(e)
		l.mu.Unlock()
		return
	}
	if e.abandoned >= opts.MaxAttempts {
		v, err = dead, errors.New(abandonedText(e.abandoned))
	} else {
		job := e.job
		job.Body, job.Headers = bytes.Clone(job.Body), maps.Clone(job.Headers)
		if !e.published.IsZero() {
			l.cfg.Metrics.BusJobLag(queue, time.Since(e.published))
		}
		err = callJob(ctx, l.log, queue, h, job, opts.HandlerTimeout)
		v = judge(ctx, job, err, opts)
	}
	now := time.Now()
	o := op{e: e}
	switch v {
	case ack:
		l.ackLater(ctx, queue, e)
		l.mu.Lock()
		q.running--
		l.mu.Unlock()
		return
	case retry:
		o.kind = opRetry
		e.due = now.Add(opts.retryDelay(e.job.Attempt, err))
		e.job.Attempt++
		e.job.LastError, e.abandoned = errorText(err), 0
	case dead:
		o.kind = opDead
		e.job.LastError = errorText(err)
	case abandon:
		e.abandoned++
		l.mu.Lock()
		q.running--
		q.addFront(e)
		l.mu.Unlock()
		return
	}
	cerr := l.submit(context.WithoutCancel(ctx), o)
	l.mu.Lock()
	defer l.mu.Unlock()
	q.running--
	switch {
	case cerr != nil && !errors.Is(cerr, ErrClosed):
		// The row is as it was: run the job again after a backoff.
		l.log.ErrorContext(ctx, "bus job commit failed", "queue", queue, "job_id", e.job.ID, "err", cerr)
		e.due = now.Add(opts.backoff(1))
		q.add(e, now)
	case cerr == nil && v == retry:
		q.add(e, now)
	}
}

// QueueDepth implements Bus: the queue's jobs held in memory, ready or
// waiting for a retry.
func (l *Local) QueueDepth(_ context.Context, queue string) (int64, error) {
	if err := checkName("queue", queue); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	q := l.queues[queue]
	if q == nil {
		return 0, nil
	}
	return int64(q.waiting()), nil
}

// ackLater deletes e's row without waiting for the commit: a worker that
// waited would spend a disk sync per job, while a lost acknowledgement only
// means the job runs again after a restart, which handlers absorb. Close
// waits for the pending deletes.
func (l *Local) ackLater(ctx context.Context, queue string, e *entry) {
	delay := time.Millisecond
	for {
		_, err := l.commits.Enqueue([]op{{kind: opDelete, e: e}})
		switch {
		case err == nil || errors.Is(err, groupcommit.ErrStopped):
			return // stopped: the bus is closing, and the job comes back when it reopens
		case !errors.Is(err, groupcommit.ErrOverloaded):
			l.log.ErrorContext(ctx, "bus job ack failed", "queue", queue, "job_id", e.job.ID, "err", err)
			return
		}
		time.Sleep(delay) // the commit queue is full: back off until it drains
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// Close implements Bus.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	hds := slices.Collect(maps.Keys(l.consumers))
	l.mu.Unlock()
	stopAll(hds)
	// Commit the acknowledgements still queued: everything submitted before
	// a flush is committed before it.
	_ = l.submit(context.Background(), op{kind: opFlush})
	l.stopCommits()
	<-l.commitsDone
	return l.closeDB()
}

func (l *Local) closeDB() error {
	for _, st := range l.stmts {
		if st != nil {
			st.Close()
		}
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close bus database: %w", err)
	}
	return nil
}
