package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The load clients speak RFC 6455 themselves instead of through a
// WebSocket library: a client of this tool needs only unfragmented binary
// messages out, any message in, close and ping. Doing it here lets a read
// syscall's bytes be parsed in place, every complete frame before the next
// read, and a frame be encoded, framed and masked in one buffer and written
// with one syscall: the library (bufio, a byte-at-a-time header parse, a
// context timer per read and write) cost more CPU per message than the
// syscalls. See docs/benchmarks.md ("The load generator's own cost").

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// maxHeader is the longest client frame header: 2 bytes, a 64-bit length
// and the mask key.
const maxHeader = 14

// CloseError is the close frame that ended a connection.
type CloseError struct {
	Code   int // 1005 when the frame had no code
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket closed with status %d: %q", e.Code, e.Reason)
}

// closeCode is the code of the CloseError in err's chain, or -1.
func closeCode(err error) int {
	if ce := (*CloseError)(nil); errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// errProtocol is a frame this client does not accept.
var errProtocol = errors.New("websocket protocol error")

// frameHeader is a parsed server frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	hlen   int // header bytes
	plen   int // payload bytes
}

// parseHeader parses the frame header at the start of b. ok is false when b
// holds less than the whole header.
func parseHeader(b []byte, limit int) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.opcode = b[0] & 0x0f
	if b[0]&0x70 != 0 {
		return h, false, fmt.Errorf("%w: reserved bits set", errProtocol)
	}
	if b[1]&0x80 != 0 {
		return h, false, fmt.Errorf("%w: masked server frame", errProtocol)
	}
	n := uint64(b[1] & 0x7f)
	h.hlen = 2
	switch n {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		n, h.hlen = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		n, h.hlen = binary.BigEndian.Uint64(b[2:]), 10
	}
	if h.opcode >= opClose && (n > 125 || !h.fin) {
		return h, false, fmt.Errorf("%w: control frame of %d bytes, fin %v", errProtocol, n, h.fin)
	}
	if n > uint64(limit) {
		return h, false, fmt.Errorf("%w: frame of %d bytes, limit %d", errProtocol, n, limit)
	}
	h.plen = int(n)
	return h, true, nil
}

// frameStart reserves room for the largest header at the start of b
// (reused): append the payload after it, then call finishFrame.
func frameStart(b []byte) []byte {
	if cap(b) < maxHeader {
		b = make([]byte, maxHeader, 512)
	}
	return b[:maxHeader]
}

// finishFrame writes the header of a final frame of opcode op in front of
// the payload that follows frameStart's room in b, masks the payload with
// key and returns the frame, a sub-slice of b.
func finishFrame(b []byte, op byte, key uint32) []byte {
	payload := b[maxHeader:]
	n := len(payload)
	h := 6
	switch {
	case n > 0xffff:
		h = 14
	case n > 125:
		h = 8
	}
	f := b[maxHeader-h:]
	f[0] = 0x80 | op
	switch h {
	case 6:
		f[1] = 0x80 | byte(n)
	case 8:
		f[1] = 0x80 | 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f[1] = 0x80 | 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	binary.LittleEndian.PutUint32(f[h-4:], key)
	mask(payload, key)
	return f
}

// mask XORs b with the little-endian mask key, as RFC 6455 section 5.3
// does (the key's first byte on b[0]).
func mask(b []byte, key uint32) {
	k64 := uint64(key) | uint64(key)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * (i % 4)))
	}
}
