//go:build linux

package node

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"
)

// TestStaleHangupSparesReusedDescriptor: a connection closed while the
// event loop still holds its hang-up event frees its descriptor number; a
// connection accepted meanwhile takes that number, and the stale event
// must not close it. (nbio v1.6.8 closed it: a client's fresh connection
// dropped before its upgrade, or before the Close frame it was owed. Our
// copy in third_party/nbio checks the socket first; see MAGPIE.md there.)
//
// The poller is held, deterministically, inside the read of connection B
// while the events of B and of the old connection wait in one batch; the
// old connection is closed and the new one added under the old number
// before the poller reaches the old connection's hang-up.
func TestStaleHangupSparesReusedDescriptor(t *testing.T) {
	var (
		armed   atomic.Bool
		held    = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	eng := nbio.NewEngine(nbio.Config{
		Name:              "stale-hangup",
		NPoller:           1,
		EpollMod:          nbio.EPOLLET,
		AsyncReadInPoller: true,
		// Reads run on the poller's goroutine, which the test can hold.
		IOExecute: func(read func(*[]byte)) {
			if armed.Load() {
				held <- struct{}{}
				<-release
			}
			b := make([]byte, 4<<10)
			read(&b)
		},
	})
	var (
		mu     sync.Mutex
		closed = map[*nbio.Conn]bool{}
		got    = map[*nbio.Conn][]byte{}
		event  = make(chan struct{}, 64)
	)
	notify := func() {
		select {
		case event <- struct{}{}:
		default:
		}
	}
	eng.OnData(func(c *nbio.Conn, data []byte) {
		mu.Lock()
		got[c] = append(got[c], data...)
		mu.Unlock()
		notify()
	})
	eng.OnClose(func(c *nbio.Conn, _ error) {
		mu.Lock()
		closed[c] = true
		mu.Unlock()
		notify()
	})
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop()
	defer func() { // a failed test lets the poller go before stopping it
		armed.Store(false)
		select {
		case release <- struct{}{}:
		default:
		}
	}()
	// waitFor waits, a bounded time, for cond: on the engine's callbacks,
	// or on the kernel's socket state (checked at each tick).
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		deadline := time.After(5 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-event:
			case <-tick.C:
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// dial returns a client socket and the server's side, accepted but
	// not yet handed to the engine.
	dial := func() (client, server net.Conn) {
		t.Helper()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return client, server
	}
	add := func(server net.Conn) *nbio.Conn {
		t.Helper()
		nc, err := eng.AddConn(server)
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	write := func(c net.Conn, s string) {
		t.Helper()
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	clientA, serverA := dial()
	clientB, serverB := dial()
	clientOld, serverOld := dial()
	a, b, old := add(serverA), add(serverB), add(serverOld)
	// Each is read once: the poller has nothing else pending.
	write(clientA, "a")
	write(clientB, "b")
	write(clientOld, "o")
	waitFor("the first reads", func() bool { return len(got[a]) == 1 && len(got[b]) == 1 && len(got[old]) == 1 })

	// Hold the poller in A's next read.
	armed.Store(true)
	write(clientA, "1")
	<-held
	// B becomes readable, then the old connection hangs up: both events
	// wait, in that order, for the poller's next EpollWait.
	write(clientB, "2")
	if err := clientOld.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor("the old socket to see the client's FIN", func() bool {
		info, err := unix.GetsockoptTCPInfo(old.Hash(), unix.IPPROTO_TCP, unix.TCP_INFO)
		return err == nil && info.State == unix.BPF_TCP_CLOSE_WAIT
	})
	release <- struct{}{}
	<-held // the next batch, at B's read, the old connection's hang-up after it

	// The old connection is closed elsewhere (by a reader, a writer or the
	// application) and a new one takes its number.
	clientNew, serverNew := dial()
	n := old.Hash()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	// Fill any free numbers below n, so that the engine's dup takes n.
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			syscall.Close(fd)
		}
	}()
	for range 1000 {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0) // the lowest free number
		if err != nil {
			t.Fatal(err)
		}
		if fd >= n {
			syscall.Close(fd)
			break
		}
		fillers = append(fillers, fd)
	}
	fresh := add(serverNew)
	if fresh.Hash() != n {
		t.Fatalf("the new connection has descriptor %d, want the old one's %d", fresh.Hash(), n)
	}
	armed.Store(false)
	release <- struct{}{}
	// Once the poller has read A again, in a later batch (the data is sent
	// after the batch was taken), it has handled the stale hang-up.
	write(clientA, "3")
	waitFor("A's next read", func() bool { return string(got[a]) == "a13" })

	// The new connection is served: its data arrives and it stays open.
	write(clientNew, "hello")
	waitFor("the new connection's data, or its close", func() bool { return string(got[fresh]) == "hello" || closed[fresh] })
	waitFor("the old connection's close", func() bool { return closed[old] })
	mu.Lock()
	defer mu.Unlock()
	if closed[fresh] {
		t.Fatal("the old connection's stale hang-up closed the new connection that reused its descriptor")
	}
	if string(got[a]) != "a13" || string(got[b]) != "b2" {
		t.Errorf("A read %q, B %q; want %q and %q", got[a], got[b], "a13", "b2")
	}
}
