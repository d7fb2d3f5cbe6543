//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// protoFrame is f as the server frames it.
func protoFrame(t *testing.T, f *magpiev1.Frame) []byte {
	t.Helper()
	payload, err := wire.ProtoCodec{}.MarshalAppend(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return serverFrame(opBinary, payload)
}

// fakeServer accepts connections on loopback and answers each one's
// upgrade request with respond(request, its key).
func fakeServer(t *testing.T, respond func(r *http.Request, accept string) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				r, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + acceptGUID))
				out := respond(r, base64.StdEncoding.EncodeToString(sum[:]))
				if out == nil {
					return
				}
				_, _ = nc.Write(out)
				_, _ = io.Copy(io.Discard, nc) // until the client closes
			})
		}
	})
	return "http://" + ln.Addr().String()
}

func upgraded(accept string, extra string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		accept + "\r\nSec-WebSocket-Protocol: " + wire.SubprotocolProto + "\r\nMagpie-Login: headers\r\n" + extra + "\r\n")
}

// TestLoopLoginOutcomes drives the tool's own loop through the handshakes
// a server can answer with: the login's result, a refusal by HTTP status
// or by the protocol's Close, a wrong accept key, a server that hangs up
// and a port nobody listens on. Each must end the login at once, with
// what refused it.
func TestLoopLoginOutcomes(t *testing.T) {
	result := &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{HeartbeatIntervalMs: 30000}}}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name    string
		respond func(r *http.Request, accept string) []byte
		url     string
		status  int    // the LoginError's HTTP status
		code    int    // its close code
		errText string // part of its text
	}{
		{name: "ok", respond: func(r *http.Request, accept string) []byte {
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Magpie-Device-Id") != "dev" {
				return []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			}
			// The reply in one segment with the head, and a second frame
			// after it that waits for Run.
			return append(append(upgraded(accept, ""), protoFrame(t, result)...),
				protoFrame(t, &magpiev1.Frame{Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})...)
		}},
		{name: "refused by status", respond: func(*http.Request, string) []byte {
			return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow")
		}, status: 429, errText: "slow"},
		{name: "refused by the protocol", respond: func(_ *http.Request, accept string) []byte {
			return append(upgraded(accept, ""), protoFrame(t, &magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{Code: 4001, Reason: "busy"}}})...)
		}, code: 4001},
		{name: "wrong accept key", respond: func(*http.Request, string) []byte {
			return upgraded("bm90IHRoZSBrZXk=", "")
		}, errText: "Sec-WebSocket-Accept"},
		{name: "head too long", respond: func(_ *http.Request, accept string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nX-Long: " + strings.Repeat("a", maxResponseHead+1))
		}, errText: "too long"},
		{name: "hung up", respond: func(*http.Request, string) []byte { return nil }, errText: "EOF"},
		{name: "nobody listens", url: refusedURL, errText: "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				url = fakeServer(t, tc.respond)
			}
			d := NewDialer(url, 2)
			t.Cleanup(d.Close)
			if !d.onLoop {
				t.Fatal("a plain loopback target is not dialed on the tool's loop")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Login(ctx, d, url, "ann", "tok", "dev")
			if tc.status == 0 && tc.code == 0 && tc.errText == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Heartbeat != 30*time.Second {
					t.Fatalf("heartbeat %v", c.Heartbeat)
				}
				got := make(chan *magpiev1.Frame, 1)
				rctx, rcancel := context.WithCancel(ctx)
				defer rcancel()
				go func() {
					_ = c.Run(rctx, func(f *magpiev1.Frame, _ time.Time) {
						select {
						case got <- f:
						default:
						}
					})
				}()
				select {
				case f := <-got:
					if f.GetPong() == nil {
						t.Fatalf("after the login: %v", f)
					}
				case <-ctx.Done():
					t.Fatal("the frame after the login never reached Run")
				}
				return
			}
			var le *LoginError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LoginError", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the login waited for its deadline: %v", err)
			}
			if le.HTTPStatus != tc.status || le.CloseCode != tc.code || !strings.Contains(le.Error(), tc.errText) {
				t.Fatalf("err = %v (status %d, code %d), want status %d, code %d, %q", le, le.HTTPStatus, le.CloseCode, tc.status, tc.code, tc.errText)
			}
		})
	}
}

// TestLoopLoginByFrame: a server that does not take the login from the
// headers gets the Login frame once the upgrade is through.
func TestLoopLoginByFrame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	login := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + acceptGUID))
		_, _ = nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\nSec-WebSocket-Protocol: " + wire.SubprotocolProto + "\r\n\r\n"))
		var hdr [6]byte // a masked frame under 126 bytes
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		payload := make([]byte, hdr[1]&0x7f)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		for i := range payload {
			payload[i] ^= hdr[2+i%4]
		}
		login <- payload
		_, _ = nc.Write(protoFrame(t, &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{}}}))
		_, _ = io.Copy(io.Discard, nc)
	}()
	url := "http://" + ln.Addr().String()
	d := NewDialer(url, 0)
	defer d.Close()
	d.FrameLogin = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Login(ctx, d, url, "ann", "tok", "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := wire.Decode(wire.ProtoCodec{}, <-login, 1<<20)
	if err != nil || f.GetLogin().GetToken() != "tok" || f.GetLogin().GetDeviceId() != "dev" {
		t.Fatalf("login frame %v, %v", f, err)
	}
}

// loopPair is one end of a socket pair on a loop, with a Conn that keeps
// what it reads; the other end is returned as a plain descriptor.
func loopPair(t *testing.T, l *loop) (*Conn, *loopSock, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	c := newConn(nil, "u")
	s, err := l.add(fds[0], c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, s, fds[1]
}

// readAllFrom reads n bytes from a non-blocking descriptor, waiting for
// them with poll(2).
func readAllFrom(t *testing.T, fd, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes in 10 s", len(got), n)
		}
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1000); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		}
		k, err := unix.Read(fd, buf)
		if k > 0 {
			got = append(got, buf[:k]...)
			continue
		}
		if k == 0 && err == nil {
			t.Fatalf("EOF after %d of %d bytes", len(got), n)
		}
		if !errors.Is(err, unix.EAGAIN) {
			t.Fatal(err)
		}
	}
	return got
}

// TestLoopWritesWhatTheKernelDidNotTake: writes past the socket's buffer
// are kept and written by the loop, in order, once the peer reads; past
// loopOutLimit the socket is closed rather than grow.
func TestLoopWritesWhatTheKernelDidNotTake(t *testing.T) {
	l, err := newLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.stop()
	c, s, peer := loopPair(t, l)
	var want bytes.Buffer
	for i := range 64 {
		chunk := bytes.Repeat([]byte{byte(i)}, 32<<10)
		want.Write(chunk)
		if n, err := s.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	s.mu.Lock()
	waiting := len(s.out)
	s.mu.Unlock()
	if waiting == 0 {
		t.Fatal("2 MiB fit in the socket's buffer: the test writes nothing through the loop")
	}
	if got := readAllFrom(t, peer, want.Len()); !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes arrived out of order or changed")
	}

	// Nobody reads: the socket closes once loopOutLimit waits.
	chunk := make([]byte, 256<<10)
	var werr error
	for range 2 * loopOutLimit / len(chunk) {
		if _, werr = s.Write(chunk); werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatal("8 MiB nobody read were kept")
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the socket did not close")
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("a write after the close succeeded")
	}
}

// TestLoopCloses: a socket closed from another goroutine, one the peer
// closed, and those left when the loop stops each end their Conn once,
// with the reason; a closed socket's descriptor number, reused at once by
// a new socket, does not carry the old one's events.
func TestLoopCloses(t *testing.T) {
	l, err := newLoop()
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()
	wait := func(c *Conn) error {
		select {
		case <-c.done:
			return c.endErr
		case <-time.After(5 * time.Second):
			return errors.New("the Conn did not end")
		}
	}

	c1, s1, _ := loopPair(t, l)
	_ = s1.CloseWithError(errors.New("mine"))
	if err := wait(c1); err == nil || err.Error() != "mine" {
		t.Fatalf("closed with %v", err)
	}

	c2, _, peer2 := loopPair(t, l)
	unix.Close(peer2)
	if err := wait(c2); !errors.Is(err, io.EOF) {
		t.Fatalf("peer's close: %v", err)
	}

	// Many sockets opened and closed at once, each read by its own Conn:
	// every Conn gets exactly its own bytes.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			c, s, peer := loopPair(t, l)
			got := make(chan []byte, 1)
			c.rmu.Lock()
			c.onMsg = func(data []byte, _ time.Time) bool {
				got <- append([]byte(nil), data...)
				return true
			}
			c.rmu.Unlock()
			msg := serverFrame(opBinary, []byte{byte(i)})
			if _, err := unix.Write(peer, msg); err != nil {
				t.Error(err)
				return
			}
			select {
			case b := <-got:
				if len(b) != 1 || b[0] != byte(i) {
					t.Errorf("socket %d read %v", i, b)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("socket %d read nothing", i)
			}
			_ = s.Close()
			if err := wait(c); !errors.Is(err, net.ErrClosed) {
				t.Errorf("socket %d closed with %v", i, err)
			}
		})
	}
	wg.Wait()

	c3, _, _ := loopPair(t, l)
	l.stop()
	stopped = true
	if err := wait(c3); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("stop: %v", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := l.add(fds[0], newConn(nil, "late"), nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("add after stop: %v", err)
	}
}
