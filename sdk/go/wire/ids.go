package wire

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewClientMsgID returns a client message id made at now: 16 bytes in hex,
// the time in milliseconds since 1970 (6 bytes, big-endian) and 10 random
// bytes, the layout of a version 7 UUID without its version bits. The ids
// grow with time, so the server files a sender's new ids side by side at
// the end of its range in the dedup index instead of at random places all
// over it: at a million messages stored, random ids made storing a message
// 40-50% more expensive, and more as the history grows
// (docs/benchmarks.md, "Client message ids that grow with time"). The Go
// SDK and the server (for the ids it makes itself) use it.
func NewClientMsgID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(max(now.UnixMilli(), 0))<<16)
	_, _ = rand.Read(b[6:]) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b[:])
}
