package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// chatLoad is the conversation load of the kill tests: pairs of users
// sending each other perSender messages each through the Go SDK, every
// device collecting what it receives, and a final check that each device
// holds its conversation's messages exactly once and in order.
type chatLoad struct {
	t         *testing.T
	ctx       context.Context
	perSender int
	devices   []*chatDevice
	sent      atomic.Int64 // messages acknowledged to their senders
	runs      sync.WaitGroup
	complete  sync.WaitGroup
	senders   sync.WaitGroup
}

// chatDevice is one connected device of a chatLoad.
type chatDevice struct {
	name string
	c    *client.Client
	seqs []int64
	seen map[string]bool // sender/content
	dups int
}

// device adds a device of user; cfg's URL, DeviceID and TokenProvider are
// set by the caller.
func (l *chatLoad) device(user string, cfg client.Config) *chatDevice {
	c, err := client.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	d := &chatDevice{name: user + "/" + cfg.DeviceID, c: c, seen: map[string]bool{}}
	l.devices = append(l.devices, d)
	return d
}

// start runs every device and collects its messages until it has its
// conversation's 2 × perSender; stop closes them.
func (l *chatLoad) start() {
	want := 2 * l.perSender
	for _, d := range l.devices {
		l.runs.Go(func() { _ = d.c.Run(l.ctx) })
		l.complete.Go(func() {
			for len(d.seqs) < want {
				ev, err := d.c.Next(l.ctx)
				if err != nil {
					l.t.Errorf("%s: %v after %d messages", d.name, err, len(d.seqs))
					return
				}
				m, ok := ev.(client.Message)
				if !ok {
					continue
				}
				k := m.SenderID + "/" + m.Content
				if d.seen[k] {
					d.dups++
				}
				d.seen[k] = true
				d.seqs = append(d.seqs, m.Seq)
			}
		})
	}
}

func (l *chatLoad) stop() {
	for _, d := range l.devices {
		d.c.Close()
	}
	l.runs.Wait()
}

// send sends perSender messages from a device to a user, pipelined, and
// counts each one acknowledged.
func (l *chatLoad) send(from *chatDevice, to string) {
	l.senders.Go(func() {
		outs := make([]*client.Outgoing, 0, l.perSender)
		for j := range l.perSender {
			o, err := from.c.SendAsync(to, "text", fmt.Sprintf("%s #%d", from.name, j))
			if err != nil {
				l.t.Errorf("%s: send %d: %v", from.name, j, err)
				return
			}
			outs = append(outs, o)
		}
		for j, o := range outs {
			if _, err := o.Wait(l.ctx); err != nil {
				l.t.Errorf("%s: message %d failed: %v", from.name, j, err)
				return
			}
			l.sent.Add(1)
		}
	})
}

// waitSent waits until n messages are acknowledged.
func (l *chatLoad) waitSent(n int64) {
	for l.sent.Load() < n {
		select {
		case <-l.ctx.Done():
			l.t.Fatalf("only %d messages acknowledged", l.sent.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// check waits for every send and every device's messages, then checks that
// each device holds its conversation's messages exactly once, in seq order
// 1..2×perSender.
func (l *chatLoad) check() {
	l.senders.Wait()
	l.complete.Wait()
	if l.t.Failed() {
		return
	}
	want := 2 * l.perSender
	for _, d := range l.devices {
		for i, s := range d.seqs {
			if s != int64(i+1) {
				l.t.Fatalf("%s: message %d has seq %d: want 1..%d exactly once, in order", d.name, i, s, want)
			}
		}
		if d.dups > 0 || len(d.seen) != want {
			l.t.Fatalf("%s: %d distinct messages, %d duplicates; want %d and none", d.name, len(d.seen), d.dups, want)
		}
	}
	l.t.Logf("%d messages acknowledged; %d devices each hold their conversation's %d messages exactly once and in order",
		l.sent.Load(), len(l.devices), want)
}
