package sqlite

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/magpie-im/magpie/internal/store"
)

// clientFilter says, without a query, that an app's (sender, client
// message id) key is certainly not in messages, so that the resend lookup
// before each append (storedBefore) asks messages only for the keys that
// may be there: nearly none, since a resend is rare. At 14,000 msgs/s that
// lookup, which nearly always found nothing, was 9% of the server's CPU
// (docs/benchmarks.md, "The resend lookup, filtered").
//
// It is a Bloom filter, blocked (a key's bits lie in one 64-byte block: one
// cache miss per part looked at), in parts of doubling capacity, so that it
// grows with messages without being rebuilt. It holds every key messages
// held when the Store opened (a scan in the background; until it is done
// every key may be there) and every key this Store appends, added in the
// append's transaction, before the key can reach the log or messages. A key
// it does not hold can reach messages only from another Store on the files
// (another process): the writer sees that one's commits (observe) and turns
// the filter off for good; the lookups then ask messages for every key, as
// before it. So does a filter that outgrows filterMaxBytes.
type clientFilter struct {
	seed maphash.Seed

	mu    sync.RWMutex
	state filterState
	parts []filterPart // the last one takes the adds
	size  int          // bytes in all parts
	limit int          // size at which it turns off: filterMaxBytes

	// skipped counts the keys a lookup did not ask messages for (tests).
	skipped atomic.Int64
	// loaded is closed when the scan at Open ends, done or not (tests).
	loaded chan struct{}
	log    *slog.Logger // where it says that it turned off
}

type filterState int

const (
	filterLoading filterState = iota // every key may be in messages
	filterReady
	filterOff // for good: every key may be in messages
)

const (
	// filterBitsPerKey and filterHashes give a part a false-positive rate
	// of about 0.1%: a false positive costs a lookup of that key only.
	filterBitsPerKey = 16
	filterHashes     = 8
	// filterFirstKeys is the first part's capacity, in keys (128 KiB).
	filterFirstKeys = 1 << 16
	// filterMaxBytes bounds the filter: about 32 million keys at two
	// bytes each, with the last part's doubling.
	filterMaxBytes = 128 << 20
)

// filterScanRows is the keys read per query of the scan at Open (a
// variable for tests).
var filterScanRows = 8192

// filterPart is one Bloom filter of 512-bit blocks.
type filterPart struct {
	blocks   [][8]uint64
	n, limit int // keys added, capacity
}

func newFilterPart(keys int) filterPart {
	nb := (keys*filterBitsPerKey + 511) / 512
	return filterPart{blocks: make([][8]uint64, nb), limit: keys}
}

// block returns the block of hash h in p.
func (p *filterPart) block(h uint64) *[8]uint64 {
	i, _ := bits.Mul64(h, uint64(len(p.blocks))) // h's high bits pick the block
	return &p.blocks[i]
}

func (p *filterPart) add(h uint64) {
	b := p.block(h)
	x, y := uint32(h), uint32(h>>32)|1
	for i := range uint32(filterHashes) {
		bit := (x + i*y) & 511
		b[bit>>6] |= 1 << (bit & 63)
	}
	p.n++
}

func (p *filterPart) has(h uint64) bool {
	b := p.block(h)
	x, y := uint32(h), uint32(h>>32)|1
	for i := range uint32(filterHashes) {
		bit := (x + i*y) & 511
		if b[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

func newClientFilter(log *slog.Logger) *clientFilter {
	return &clientFilter{seed: maphash.MakeSeed(), limit: filterMaxBytes, loaded: make(chan struct{}), log: log}
}

// hash hashes a key; the block and bit positions come from different bits
// of it (filterPart.block uses the high bits through a multiply).
func (f *clientFilter) hash(app, sender, client string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(sender)
	h.WriteByte(0)
	h.WriteString(client)
	return h.Sum64()
}

// addDrafts adds the keys of app's drafts that have a client message id.
func (f *clientFilter) addDrafts(app string, drafts []store.Draft) {
	hs := make([]uint64, 0, len(drafts))
	for _, d := range drafts {
		if d.ClientMsgID != "" {
			hs = append(hs, f.hash(app, d.SenderID, d.ClientMsgID))
		}
	}
	f.addHashes(hs)
}

func (f *clientFilter) addHashes(hs []uint64) {
	if len(hs) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == filterOff {
		return
	}
	for _, h := range hs {
		last := len(f.parts) - 1
		if last < 0 || f.parts[last].n >= f.parts[last].limit {
			keys := filterFirstKeys
			if last >= 0 {
				keys = 2 * f.parts[last].limit
			}
			p := newFilterPart(keys)
			if f.size+len(p.blocks)*64 > f.limit {
				f.offLocked("the filter reached its size limit", "bytes", f.size)
				return
			}
			f.parts = append(f.parts, p)
			f.size += len(p.blocks) * 64
			last++
		}
		f.parts[last].add(h)
	}
}

// mayHold reports whether app's key may be in messages: always, unless
// the filter is ready.
func (f *clientFilter) mayHold(app, sender, client string) bool {
	return f.mayHoldHash(f.hash(app, sender, client))
}

// mayHoldHash is mayHold for a key's hash.
func (f *clientFilter) mayHoldHash(h uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.state != filterReady {
		return true
	}
	for i := range f.parts {
		if f.parts[i].has(h) {
			return true
		}
	}
	f.skipped.Add(1)
	return false
}

// off turns the filter off for good and frees it.
func (f *clientFilter) off(why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offLocked(why)
}

func (f *clientFilter) offLocked(why string, attrs ...any) {
	if f.state == filterOff {
		return
	}
	f.state, f.parts, f.size = filterOff, nil, 0
	f.log.Info("sqlite: resend lookups ask the messages table for every key from now on", append([]any{"reason", why}, attrs...)...)
}

// ready makes a loading filter ready; it reports whether it was loading.
func (f *clientFilter) ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != filterLoading {
		return false
	}
	f.state = filterReady
	return true
}

func (f *clientFilter) isOff() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state == filterOff
}

// filterScanSQL reads the dedup index (messages_client_key, covering) in
// key order from after the last key read.
const filterScanSQL = `SELECT app_id, sender_id, client_msg_id FROM messages INDEXED BY messages_client_key
	WHERE (app_id, client_msg_id, sender_id) > (?1, ?3, ?2) AND client_msg_id <> ''
	ORDER BY app_id, client_msg_id, sender_id LIMIT ?4`

// loadClientFilter adds the keys messages holds to s.clients, in queries
// of filterScanRows keys (no snapshot held for long), and makes it ready.
// A key that enters messages meanwhile was added by its append, or came
// from another Store, which turns the filter off (observe). It stops when
// ctx ends (Close).
func (s *Store) loadClientFilter(ctx context.Context) {
	f := s.clients
	defer close(f.loaded)
	var app, sender, client string
	hs := make([]uint64, 0, filterScanRows)
	for {
		if f.isOff() {
			return
		}
		rows, err := s.read.QueryContext(ctx, filterScanSQL, app, sender, client, filterScanRows)
		if ctx.Err() != nil {
			if err == nil {
				rows.Close()
			}
			return // closing: the filter stays loading
		}
		if err != nil {
			f.off(fmt.Sprintf("the scan of their keys failed: %v", err))
			return
		}
		hs = hs[:0]
		for rows.Next() {
			if err := rows.Scan(&app, &sender, &client); err != nil {
				rows.Close()
				f.off(fmt.Sprintf("the scan of their keys failed: %v", err))
				return
			}
			hs = append(hs, f.hash(app, sender, client))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			f.off(fmt.Sprintf("the scan of their keys failed: %v", err))
			return
		}
		f.addHashes(hs)
		if len(hs) < filterScanRows {
			f.ready()
			return
		}
	}
}
