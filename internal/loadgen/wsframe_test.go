package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// serverFrame is a final, unmasked frame as the server writes it.
func serverFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// TestFinishFrameMasks: the client's frames carry their length and key,
// and unmasking with the key gives the payload back.
func TestFinishFrameMasks(t *testing.T) {
	for _, n := range []int{0, 1, 7, 125, 126, 1000, 0xffff, 0x10000} {
		payload := bytes.Repeat([]byte("magpie!"), n/7+1)[:n]
		b := append(frameStart(nil), payload...)
		f := finishFrame(b, opBinary, 0x9abcdef1)
		if f[0] != 0x82 || f[1]&0x80 == 0 {
			t.Fatalf("n=%d: header % x", n, f[:2])
		}
		h := 6
		switch got := int(f[1] & 0x7f); {
		case n > 0xffff:
			h = 14
			if got != 127 || binary.BigEndian.Uint64(f[2:]) != uint64(n) {
				t.Fatalf("n=%d: length header % x", n, f[:10])
			}
		case n > 125:
			h = 8
			if got != 126 || int(binary.BigEndian.Uint16(f[2:])) != n {
				t.Fatalf("n=%d: length header % x", n, f[:4])
			}
		case got != n:
			t.Fatalf("n=%d: length %d", n, got)
		}
		key := f[h-4 : h]
		body := append([]byte(nil), f[h:]...)
		for i := range body {
			body[i] ^= key[i%4]
		}
		if !bytes.Equal(body, payload) {
			t.Fatalf("n=%d: unmasked payload differs", n)
		}
	}
}

// TestParseSplitsAnywhere: frames read in pieces of any size come out
// whole and in order, pings are answered by the parser, a fragmented
// message is assembled and a close frame ends parsing with its code.
func TestParseSplitsAnywhere(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70000)
	var stream []byte
	stream = append(stream, serverFrame(opBinary, []byte("one"))...)
	stream = append(stream, serverFrame(opBinary, nil)...)
	stream = append(stream, serverFrame(opBinary, big[:300])...)
	stream = append(stream, []byte{opBinary, 2, 'a', 'b'}...) // not final
	stream = append(stream, serverFrame(opContinuation, []byte("cd"))...)
	stream = append(stream, serverFrame(opBinary, big)...)
	stream = append(stream, serverFrame(opClose, []byte{0x0f, 0xa1, 'b', 'y', 'e'})...)
	want := [][]byte{[]byte("one"), {}, big[:300], []byte("abcd"), big}
	for _, step := range []int{1, 2, 3, 7, 125, 4096, len(stream)} {
		c := &Conn{nc: discardConn{}}
		var got [][]byte
		msg := func(data []byte, _ time.Time) bool {
			got = append(got, append([]byte{}, data...))
			return true
		}
		var err error
		for off := 0; off < len(stream) && err == nil; off += step {
			_, err = c.parse(stream[off:min(off+step, len(stream))], time.Now(), msg)
		}
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye" {
			t.Fatalf("step %d: parse ended with %v, want close 4001 bye", step, err)
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: %d messages, want %d", step, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("step %d: message %d is %d bytes, want %d", step, i, len(got[i]), len(want[i]))
			}
		}
	}
}

// TestParseRefuses frames a server must not send.
func TestParseRefuses(t *testing.T) {
	for name, frame := range map[string][]byte{
		"masked":          {0x82, 0x81, 1, 2, 3, 4, 5},
		"reserved bits":   {0xc2, 0},
		"long ping":       append([]byte{0x89, 126, 0, 126}, make([]byte, 126)...),
		"over the limit":  {0x82, 127, 0, 0, 0, 0, 1, 0, 0, 0},
		"bare continue":   {0x80, 0},
		"unknown opcode":  {0x83, 0},
		"fragmented ping": {0x09, 0},
	} {
		c := &Conn{nc: discardConn{}}
		if _, err := c.parse(frame, time.Now(), func([]byte, time.Time) bool { return true }); !errors.Is(err, errProtocol) {
			t.Errorf("%s: parse = %v, want a protocol error", name, err)
		}
	}
}

// FuzzParse: no input makes the parser panic or hand out more bytes than
// it was given.
func FuzzParse(f *testing.F) {
	f.Add(serverFrame(opBinary, []byte("hello")), 3)
	f.Add(append([]byte{opBinary, 1, 'a'}, serverFrame(opContinuation, []byte("b"))...), 1)
	f.Add(serverFrame(opPing, []byte("p")), 2)
	f.Fuzz(func(t *testing.T, data []byte, step int) {
		step = max(1, step%64+1)
		c := &Conn{nc: discardConn{}}
		total := 0
		for off := 0; off < len(data); off += step {
			if _, err := c.parse(data[off:min(off+step, len(data))], time.Now(), func(m []byte, _ time.Time) bool {
				total += len(m)
				return true
			}); err != nil {
				return
			}
		}
		if total > len(data) {
			t.Fatalf("%d bytes of messages from %d bytes", total, len(data))
		}
	})
}

// discardConn is a socket that takes every write (the parser's pongs and
// close replies) and has nothing to read.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
