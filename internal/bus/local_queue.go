package bus

import (
	"container/heap"
	"time"

	"github.com/magpie-im/magpie/internal/deque"
)

// entry is a pending job held in memory by a Local, mirrored by a row of
// bus_jobs.
type entry struct {
	seq   int64 // the row's key
	queue string
	job   Job
	due   time.Time // when the job may run next
	// published is when the job was first published (the lag of each
	// attempt counts from it); zero for a row stored without it.
	published time.Time
	// abandoned counts the deliveries of the current attempt whose consumer
	// stopped mid-handler. It is kept in memory only: a process crash is not
	// counted.
	abandoned int
}

// jobQueue is the in-memory state of one work queue. Local.mu guards it.
type jobQueue struct {
	ready   deque.Deque[*entry] // due jobs, in publication order (returned ones first)
	delayed delayHeap           // jobs waiting for their due time, earliest first
	running int                 // jobs handed to handlers
	// changed is closed, and replaced, whenever a job is added: waiting
	// workers wake and look again.
	changed chan struct{}
}

func newJobQueue() *jobQueue { return &jobQueue{changed: make(chan struct{})} }

// size is the number of pending jobs, running ones included.
func (q *jobQueue) size() int { return q.ready.Len() + len(q.delayed) + q.running }

// waiting is the number of jobs ready or waiting for a retry.
func (q *jobQueue) waiting() int { return q.ready.Len() + len(q.delayed) }

// add queues e, ready if it is due at now, else delayed.
func (q *jobQueue) add(e *entry, now time.Time) {
	if e.due.After(now) {
		heap.Push(&q.delayed, e)
	} else {
		q.ready.PushBack(e)
	}
	q.notify()
}

// addFront queues e ahead of the ready jobs: an abandoned job goes back
// where it was.
func (q *jobQueue) addFront(e *entry) {
	q.ready.PushFront(e)
	q.notify()
}

func (q *jobQueue) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// next returns the next ready job, first moving the delayed jobs due at now
// to the ready ones. With none ready it returns the due time of the earliest
// delayed job, or the zero time if there is none.
func (q *jobQueue) next(now time.Time) (*entry, time.Time) {
	for len(q.delayed) > 0 && !q.delayed[0].due.After(now) {
		q.ready.PushBack(heap.Pop(&q.delayed).(*entry))
	}
	if q.ready.Len() > 0 {
		return q.ready.PopFront(), time.Time{}
	}
	if len(q.delayed) > 0 {
		return nil, q.delayed[0].due
	}
	return nil, time.Time{}
}

// delayHeap orders entries by due time, then publication order.
type delayHeap []*entry

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(*entry)) }
func (h *delayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
