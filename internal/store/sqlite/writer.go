package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errClosed is what a shared write gets once the Store is closing.
var errClosed = errors.New("sqlite store closed")

// sharedWriter runs the hot write transactions (appends, acks, read
// cursors, the writes beside the traffic) that arrive while the previous
// commit runs as one SQLite transaction, each in its own savepoint: one
// commit, one fsync, and the pages they share written once. The messaging
// layer's two committers (appends, acks) each batch already; this joins
// their batches, which otherwise took turns on the single write
// connection, each paying its own commit. Appends and acks write to logs
// (the message log, the ack log) and leave the conversations and cursors
// they move to the fold (fold.go), which runs before the others.
type sharedWriter struct {
	mu      sync.Mutex
	queue   []*sharedTx
	closed  bool
	wake    chan struct{} // one pending wake-up
	stopped chan struct{} // closed when the loop has returned
	// tid is the loop's own thread while its priority is raised, else 0.
	tid atomic.Int64
}

// sharedTx is one transaction waiting for the shared writer.
type sharedTx struct {
	fn   func(tx *sql.Tx) error
	then func()
	// after runs once the transaction committed, under writeMu.
	after func()
	err   error
	done  chan struct{}
	// unfolded: an append or a delivery ack, which may run while the
	// message log holds rows not yet folded (fold.go); every other
	// transaction runs after a fold.
	unfolded bool
}

// startWriter starts the writer's loop; with nice != 0 it asks for a
// thread of its own at that nice value (raiseThread).
func (s *Store) startWriter(nice int) {
	s.shared = sharedWriter{wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go s.writeLoop(nice)
}

// stopWriter lets the queued transactions run, then stops the loop.
func (s *Store) stopWriter() {
	w := &s.shared
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.stopped
}

func (s *Store) writeLoop(nice int) {
	w := &s.shared
	defer close(w.stopped)
	if nice != 0 {
		tid, err := raiseThread(nice)
		if err != nil {
			s.log.Info("sqlite: the writer runs at the process's priority (a lower nice value needs root, CAP_SYS_NICE or RLIMIT_NICE)",
				"nice", nice, "err", err)
		} else {
			s.log.Info("sqlite: the writer runs on a thread of its own", "nice", nice)
		}
		w.tid.Store(int64(tid))
	}
	for range w.wake {
		for {
			w.mu.Lock()
			batch, closed := w.queue, w.closed
			w.queue = nil
			w.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			s.commitShared(batch)
			if s.loggedRows.Load()-s.abs.absorbed.Load() >= absorbAt {
				s.wakeAbsorber()
			}
		}
	}
}

// inSharedTx runs fn in a write transaction that it may share with other
// inSharedTx calls (each in its own savepoint: an error undoes only its
// own), and returns once that transaction committed (fn's error, or the
// commit's). then runs right after fn succeeded, in the transaction's
// order and under writeMu, to update the caches of what fn changed; if the
// commit then fails, every cache is dropped. fn must not depend on a
// cancellable context: a statement interrupted by a cancellation rolls back
// the whole shared transaction (the others then fail too, and nothing of
// theirs is kept).
func (s *Store) inSharedTx(fn func(tx *sql.Tx) error, then func()) error {
	return s.inSharedTxAfter(fn, then, nil)
}

// inSharedTxAfter is inSharedTx with a function that runs, under writeMu,
// once the transaction committed.
func (s *Store) inSharedTxAfter(fn func(tx *sql.Tx) error, then, after func()) error {
	return s.runShared(&sharedTx{fn: fn, then: then, after: after, done: make(chan struct{})})
}

// inUnfoldedTx is inSharedTxAfter for an append or a delivery ack: no
// fold runs before it (fold.go). fn must fold before it reads what the
// fold writes.
func (s *Store) inUnfoldedTx(fn func(tx *sql.Tx) error, then, after func()) error {
	return s.runShared(&sharedTx{fn: fn, then: then, after: after, done: make(chan struct{}), unfolded: true})
}

// runShared queues r for the shared writer and waits for its commit.
func (s *Store) runShared(r *sharedTx) error {
	w := &s.shared
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-r.done
	return r.err
}

// inSideTx runs fn, a write transaction that neither reads nor changes
// the messages file (messages, their search index) or the cached state
// (heads, cursors: changesCached), in the shared writer's next
// transaction, like inSharedTx: one commit with the appends beside it, and
// no wait for the absorber. inTx absorbs the log first, under writeMu: a
// push log or usage row written that way during a burst held every append
// up for as long as absorbing thousands of messages took. fn gets ctx
// without its cancellation (see inSharedTx) and runs on the writer's
// goroutine.
func (s *Store) inSideTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	return s.inSharedTx(func(tx *sql.Tx) error { return fn(ctx, tx) }, nil)
}

// commitShared runs a batch of shared transactions in one SQLite
// transaction.
func (s *Store) commitShared(batch []*sharedTx) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
	ctx := context.Background() // the transaction outlives no caller's wait, but serves many
	tx, err := s.beginWrite(ctx, false)
	if err != nil {
		fail(err)
		return
	}
	full := false // a transaction in the batch folds anyway: fold all now
	for _, r := range batch {
		full = full || !r.unfolded
	}
	if full {
		err = s.foldIn(ctx, tx)
	}
	var pruned bool
	if err == nil {
		pruned, err = s.pruneIn(ctx, tx, full)
	}
	if err != nil {
		tx.Rollback()
		s.lost()
		fail(err)
		return
	}
	s.observed = false
	defer func() { s.observed = false }() // observe outside a shared commit reads it again
	savepoints := len(batch) > 1
	for _, r := range batch {
		if savepoints {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT shared`); err != nil {
				tx.Rollback()
				s.lost()
				fail(fmt.Errorf("open savepoint: %w", translate(err)))
				return
			}
		}
		if !r.unfolded {
			r.err = s.foldIn(ctx, tx)
		}
		if r.err == nil {
			r.err = r.fn(tx)
		}
		if r.err != nil {
			if !savepoints {
				tx.Rollback()
				if pruned {
					s.lost() // the tail's prune is undone with it
				}
				return
			}
			// Undo only this one; if the transaction itself is gone (an
			// interrupt or an I/O error rolled it back), everything is.
			_, err := tx.ExecContext(ctx, `ROLLBACK TO shared`)
			if err == nil {
				_, err = tx.ExecContext(ctx, `RELEASE shared`)
			}
			if err != nil {
				tx.Rollback()
				s.lost()
				fail(fmt.Errorf("shared transaction lost after %w", r.err))
				return
			}
			continue
		}
		if savepoints {
			if _, err := tx.ExecContext(ctx, `RELEASE shared`); err != nil {
				tx.Rollback()
				s.lost()
				r.err = nil
				fail(fmt.Errorf("release savepoint: %w", translate(err)))
				return
			}
		}
		if r.then != nil {
			r.then()
		}
	}
	if err := tx.Commit(); err != nil {
		s.lost()
		fail(translate(err))
		return
	}
	s.commits.Add(1)
	s.foldStepped()
	if pruned {
		s.prunedCommitted()
	}
	for _, r := range batch {
		if r.err == nil && r.after != nil {
			r.after()
		}
	}
}

// lost drops every cache of committed state, the message log's tail
// included, after a shared transaction was rolled back whole; call it under
// writeMu.
func (s *Store) lost() {
	s.forget()
	s.invalidateTail()
	s.prunedAt = -1 // a prune in it did not happen
}
