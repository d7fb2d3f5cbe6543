//go:build linux

package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// rawSession is a client socket of a login by headers, read by hand.
type rawSession struct {
	t  *testing.T
	nc *net.TCPConn
	r  *bufio.Reader
}

// rawSession writes the upgrade request upgrade on a new connection.
func (e *env) rawSession(upgrade string) *rawSession {
	e.t.Helper()
	c, r := e.rawConn()
	if _, err := c.Write([]byte(upgrade)); err != nil {
		e.t.Fatal(err)
	}
	return &rawSession{t: e.t, nc: c, r: r}
}

// response reads the 101 response.
func (s *rawSession) response() *http.Response {
	s.t.Helper()
	res, err := http.ReadResponse(s.r, nil)
	if err != nil {
		s.t.Fatalf("the server's first bytes are not an HTTP response: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		s.t.Fatalf("status %d, want 101", res.StatusCode)
	}
	return res
}

// frame reads one unmasked WebSocket frame from the server.
func (s *rawSession) frame() (opcode byte, payload []byte) {
	s.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		s.t.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(s.r, b[:]); err != nil {
			s.t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(s.r, b[:]); err != nil {
			s.t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		s.t.Fatalf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(s.r, payload); err != nil {
		s.t.Fatal(err)
	}
	return h[0] & 0x0f, payload
}

// maskedFrame returns a client frame (masked, final) of opcode.
func maskedFrame(opcode byte, payload []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		panic("maskedFrame: payload over 64 KiB")
	}
	b = append(b, mask[:]...)
	for i, p := range payload {
		b = append(b, p^mask[i%4])
	}
	return b
}

// TestHeaderLoginOneSegment: the 101 of a login by headers and its
// LoginResult reach the client in one TCP segment (one write on the
// server; docs/benchmarks.md, "A login's socket writes").
func TestHeaderLoginOneSegment(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	s := e.rawSession(e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "seg"))
	if res := s.response(); res.Header.Get("Magpie-Login") != "headers" {
		t.Fatalf("101 without Magpie-Login: %v", res.Header)
	}
	op, payload := s.frame()
	var f magpiev1.Frame
	if err := (wire.ProtoCodec{}).Unmarshal(payload, &f); op != 2 || err != nil || f.GetLoginResult() == nil {
		t.Fatalf("first frame: opcode %d, %v, %v; want a binary LoginResult", op, &f, err)
	}
	rc, err := s.nc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	if cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	if info.Data_segs_in != 1 {
		t.Fatalf("the 101 and the LoginResult came in %d segments, want 1", info.Data_segs_in)
	}
}

// TestHeaderLoginPingBeforeThe101: a Ping that reaches the server while a
// login by headers is still running (its 101 held back for the
// LoginResult) is answered after the 101. Through net/http, the socket is
// read while the login runs on another goroutine: the held response goes
// out ahead of the Pong, the first frame written. Through the front, the
// login runs on the socket's reader, which reads the Ping once the login
// is done.
func TestHeaderLoginPingBeforeThe101(t *testing.T) {
	for _, plain := range []bool{true, false} {
		t.Run(map[bool]string{true: "net/http", false: "front"}[plain], func(t *testing.T) {
			g := newUserGate()
			e := newEnvConfig(t, envConfig{userGate: g, plainHTTP: plain})
			e.mustCreateUser(e.a, "alice")
			g.armed.Store(true)
			s := e.rawSession(e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "ping"))
			select {
			case <-g.entered: // upgraded, the login held
			case <-time.After(5 * time.Second):
				t.Fatal("the login by headers did not read the user")
			}
			if _, err := s.nc.Write(maskedFrame(0x9, []byte("early"))); err != nil {
				t.Fatal(err)
			}
			isPong := func(op byte, payload []byte) bool { return op == 0xA && bytes.Equal(payload, []byte("early")) }
			isLoginResult := func(op byte, payload []byte) bool {
				var f magpiev1.Frame
				return op == 2 && (wire.ProtoCodec{}).Unmarshal(payload, &f) == nil && f.GetLoginResult() != nil
			}
			if plain {
				s.response()
				if op, payload := s.frame(); !isPong(op, payload) {
					t.Fatalf("first frame: opcode %d %q, want the Pong", op, payload)
				}
				close(g.open)
				if op, payload := s.frame(); !isLoginResult(op, payload) {
					t.Fatalf("second frame: opcode %d %q, want the LoginResult", op, payload)
				}
				return
			}
			close(g.open)
			s.response()
			// The LoginResult waits in the connection's queue for a
			// flusher, the Pong is written by the reader: either may
			// come first, both after the 101.
			var pong, result int
			for range 2 {
				op, payload := s.frame()
				switch {
				case isPong(op, payload):
					pong++
				case isLoginResult(op, payload):
					result++
				default:
					t.Fatalf("frame: opcode %d %q, want the Pong or the LoginResult", op, payload)
				}
			}
			if pong != 1 || result != 1 {
				t.Fatalf("%d Pongs and %d LoginResults, want one of each", pong, result)
			}
		})
	}
}
