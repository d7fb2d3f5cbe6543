//go:build linux

package node

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"
)

// TestShortReadEndsTheReadJob: a read that did not fill the buffer drained
// the socket, so the read job ends there; bytes that arrive later raise a
// new edge and get a job of their own. (nbio v1.6.8 cut the buffer to the
// bytes read before comparing, so every job read again, and at full load
// one read in two found nothing. Our copy in third_party/nbio keeps the
// buffer's size; see MAGPIE.md there.)
//
// The second chunk is written, and is in the server socket's queue, while
// the first job is still inside its handler: a job that read again would
// take it.
func TestShortReadEndsTheReadJob(t *testing.T) {
	type chunk struct {
		job  int
		data string
	}
	var (
		mu     sync.Mutex
		job    int
		chunks []chunk
		event  = make(chan struct{}, 16)
	)
	eng := nbio.NewEngine(nbio.Config{
		Name:              "short-read",
		NPoller:           1,
		EpollMod:          nbio.EPOLLET,
		AsyncReadInPoller: true,
		// Reads run on the poller's goroutine, one job at a time.
		IOExecute: func(read func(*[]byte)) {
			mu.Lock()
			job++
			mu.Unlock()
			b := make([]byte, 4<<10)
			read(&b)
		},
	})
	var client net.Conn
	eng.OnData(func(c *nbio.Conn, data []byte) {
		mu.Lock()
		chunks = append(chunks, chunk{job: job, data: string(data)})
		first := len(chunks) == 1
		mu.Unlock()
		if first {
			if _, err := client.Write([]byte("second")); err != nil {
				t.Error(err)
			}
			waitQueued(t, c.Hash(), len("second"))
		}
		select {
		case event <- struct{}{}:
		default:
		}
	})
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.AddConn(server); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}

	deadline := time.After(5 * time.Second)
	for {
		mu.Lock()
		var got string
		for _, c := range chunks {
			got += c.data
		}
		done := got == "firstsecond"
		snapshot := append([]chunk(nil), chunks...)
		mu.Unlock()
		if done {
			if snapshot[0].job == snapshot[len(snapshot)-1].job {
				t.Fatalf("the job that read %q went on to read %q: a short read did not end it (chunks %+v)",
					snapshot[0].data, snapshot[len(snapshot)-1].data, snapshot)
			}
			return
		}
		if len(got) > len("firstsecond") {
			t.Fatalf("read %q", got)
		}
		select {
		case <-event:
		case <-deadline:
			t.Fatalf("timed out: read %q", got)
		}
	}
}

// waitQueued waits, a bounded time, until socket fd holds at least n bytes
// to read.
func waitQueued(t *testing.T, fd, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		if err != nil {
			t.Error(err)
			return
		}
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("socket holds %d bytes, want %d", q, n)
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}
