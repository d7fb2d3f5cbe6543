package push_test

import (
	"context"
	"errors"
	"testing"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
)

// publisher records publishes, failing with err if set.
type publisher struct {
	queues []string
	jobs   []bus.Job
	err    error
}

func (p *publisher) Publish(_ context.Context, queue string, job bus.Job) error {
	if p.err != nil {
		return p.err
	}
	p.queues = append(p.queues, queue)
	p.jobs = append(p.jobs, job)
	return nil
}

func TestNotifierPublishes(t *testing.T) {
	p := &publisher{}
	n := push.NewNotifier(p)
	msg := store.Message{ConvID: "c1", Seq: 4, SenderID: "alice", ClientMsgID: "m4", Type: "text",
		Body: []byte("see you at eight"), CreatedAt: t0}
	for range 2 { // the fan-out and the delivery watch report it
		if err := n.Offline(t.Context(), "A", "bob", msg); err != nil {
			t.Fatalf("Offline = %v", err)
		}
	}
	if len(p.jobs) != 2 {
		t.Fatalf("published %d jobs, want 2", len(p.jobs))
	}
	wantID := push.OfflineJobID("A", "bob", "c1", 4)
	for i, job := range p.jobs {
		if p.queues[i] != push.QueueOffline || job.ID != wantID || job.AppID != "A" || job.Type != push.JobType {
			t.Errorf("job %d = %q %+v, want id %s, app A, type %s on %s", i, p.queues[i], job, wantID, push.JobType, push.QueueOffline)
		}
		got, err := push.DecodeOffline(job.Body)
		want := push.OfflineJob{UserID: "bob", ConvID: "c1", Seq: 4, SenderID: "alice", Type: "text",
			Preview: "see you at eight", CreatedAt: t0}
		if err != nil || got != want {
			t.Errorf("job %d body = %+v, %v, want %+v", i, got, err, want)
		}
	}
}

func TestNotifierSkipsRecalled(t *testing.T) {
	p := &publisher{}
	msg := store.Message{ConvID: "c1", Seq: 4, Type: "text", CreatedAt: t0, RecalledAt: t0}
	if err := push.NewNotifier(p).Offline(t.Context(), "A", "bob", msg); err != nil || len(p.jobs) != 0 {
		t.Errorf("Offline(recalled) = %v with %d jobs, want nil and none", err, len(p.jobs))
	}
}

func TestNotifierErrors(t *testing.T) {
	down := errors.New("bus down")
	msg := store.Message{ConvID: "c1", Seq: 4, Type: "text", CreatedAt: t0}
	if err := push.NewNotifier(&publisher{err: down}).Offline(t.Context(), "A", "bob", msg); !errors.Is(err, down) {
		t.Errorf("Offline with a failing bus = %v, want %v", err, down)
	}
	p := &publisher{}
	msg.ConvID = ""
	if err := push.NewNotifier(p).Offline(t.Context(), "A", "bob", msg); !errors.Is(err, push.ErrMalformed) || len(p.jobs) != 0 {
		t.Errorf("Offline(no conversation) = %v with %d jobs, want ErrMalformed and none", err, len(p.jobs))
	}
}
