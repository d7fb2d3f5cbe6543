package client

import (
	"slices"
	"sort"
	"sync"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// maxPending bounds the messages a conversation keeps ahead of its cursor:
// messages at seq >= next+maxPending are dropped and fetched again later.
const maxPending = 1024

// receiver turns the messages the client receives, pushed, fetched or sent,
// into Message events: exactly once, in seq order within each conversation.
// It tracks, per conversation, the next seq to hand to the event queue and
// the highest seq known to exist; seqs in between are a gap that the filler
// fetches with SyncMessages.
type receiver struct {
	events *eventQueue

	mu    sync.Mutex // guards convs; taken before eventQueue.mu
	convs map[string]*convState
}

// convState is the receiver's state of one conversation.
type convState struct {
	// next is the lowest seq not yet queued: every seq below it was queued
	// or does not exist.
	next int64
	// high is the highest seq known to exist; next <= high is a gap.
	high int64
	// pending holds messages received ahead of next, by seq.
	pending map[int64]Message
	// Highest seqs reported by receipts, to derive receipts from the
	// conversation state after a reconnect.
	peerDelivered, peerRead, read int64
	// members are the conversation's members, once known (known): from its
	// state, or from a send to it. Messages carry no members, so a
	// conversation's messages wait until the filler fetched its state.
	members []string
	known   bool
}

func newReceiver(events *eventQueue) *receiver {
	return &receiver{events: events, convs: make(map[string]*convState)}
}

// conv returns the state of a conversation, creating it. r.mu must be held.
func (r *receiver) conv(id string) *convState {
	cs := r.convs[id]
	if cs == nil {
		cs = &convState{next: 1, pending: make(map[int64]Message)}
		r.convs[id] = cs
	}
	return cs
}

// load resumes conversations after the given cursors.
func (r *receiver) load(cursors map[string]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, seq := range cursors {
		cs := r.conv(id)
		cs.next = max(cs.next, seq+1)
		cs.high = max(cs.high, seq)
	}
}

// add takes received messages and reports whether a conversation now has
// a gap to fill.
func (r *receiver) add(msgs []Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	gap := false
	for _, m := range msgs {
		cs := r.conv(m.ConvID)
		r.insert(cs, m, true)
		gap = r.advance(cs) || !cs.known || gap
	}
	return gap
}

// queue hands m to the event queue with its conversation's members, and
// reports false if the members are not known yet or the queue is full.
// r.mu must be held.
func (r *receiver) queue(cs *convState, m Message) bool {
	if !cs.known {
		return false // the filler fetches the conversation's state first
	}
	m.Members = cs.members
	return r.events.pushMessage(m)
}

// learn records a conversation's members, unless its state told them
// already; nil members mark a conversation the server does not list (the
// user is not in it), whose messages then carry none.
func (r *receiver) learn(convID string, members []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.conv(convID); !cs.known {
		cs.members, cs.known = slices.Clone(members), true
	}
}

// unknown returns the conversations with messages waiting for their
// members, sorted.
func (r *receiver) unknown() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, cs := range r.convs {
		if !cs.known && (len(cs.pending) > 0 || cs.next <= cs.high) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// membersOf returns a conversation's members if known.
func (r *receiver) membersOf(convID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.convs[convID]; cs != nil {
		return cs.members
	}
	return nil
}

// insert records one message; if bounded, it drops a message too far
// ahead of the cursor, to be fetched again later. r.mu must be held.
func (r *receiver) insert(cs *convState, m Message, bounded bool) {
	cs.high = max(cs.high, m.Seq)
	switch {
	case m.Seq < cs.next:
		switch {
		case m.Recalled:
			// A recall of a message already queued; a duplicate otherwise.
			r.events.push(Recall{ConvID: m.ConvID, Seq: m.Seq})
		case !m.EditedAt.IsZero():
			// An edit of a message already queued (or a replay of one).
			r.events.push(Edit{Message: m})
		}
	case !bounded || m.Seq < cs.next+maxPending:
		if old, ok := cs.pending[m.Seq]; !ok || !old.Recalled {
			cs.pending[m.Seq] = m
		}
	}
}

// advance queues the pending messages that follow the cursor and reports
// whether a gap remains. r.mu must be held.
func (r *receiver) advance(cs *convState) bool {
	for {
		m, ok := cs.pending[cs.next]
		if !ok {
			break
		}
		if !r.queue(cs, m) {
			return false // the queue signals room, or the state comes; the filler resumes then
		}
		delete(cs.pending, cs.next)
		cs.next++
	}
	return cs.next <= cs.high
}

// advanceAll queues what follows every cursor, after the event queue had
// no room.
func (r *receiver) advanceAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cs := range r.convs {
		r.advance(cs)
	}
}

// noteSeq records that seq exists in a conversation and reports whether
// it opens a gap.
func (r *receiver) noteSeq(convID string, seq int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conv(convID)
	cs.high = max(cs.high, seq)
	return cs.next <= cs.high
}

// gaps returns the conversations with a gap, sorted.
func (r *receiver) gaps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, cs := range r.convs {
		if cs.next <= cs.high {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// fillRange returns the range of a conversation's first gap, from its
// cursor to the message before the next pending one, and false if there is
// no gap or the event queue has no room.
func (r *receiver) fillRange(convID string) (from, to int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conv(convID)
	if !r.advance(cs) || !r.events.hasRoom() {
		return 0, 0, false
	}
	to = cs.high
	for seq := range cs.pending {
		to = min(to, seq-1)
	}
	return cs.next, to, true
}

// resolve takes a page of messages fetched for the range [from, to] and
// reports whether the cursor moved. If the page holds the whole range
// (!more), a seq of the range the page lacks does not exist: a failed send,
// which the cursor skips.
func (r *receiver) resolve(convID string, from, to int64, msgs []Message, more bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conv(convID)
	before := cs.next
	last := to
	if more {
		last = from - 1
		if n := len(msgs); n > 0 {
			last = msgs[n-1].Seq
		}
	}
	for _, m := range msgs {
		r.insert(cs, m, false) // a page is small; skipping below relies on holding it whole
	}
	for cs.next <= last {
		if m, ok := cs.pending[cs.next]; ok {
			if !r.queue(cs, m) {
				break
			}
			delete(cs.pending, cs.next)
		}
		cs.next++
	}
	r.advance(cs)
	return cs.next > before
}

// receipt queues a pushed receipt and remembers its progress.
func (r *receiver) receipt(rc Receipt, me string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conv(rc.ConvID)
	switch {
	case rc.Kind == ReceiptRead && rc.UserID == me:
		cs.read = max(cs.read, rc.Seq)
	case rc.Kind == ReceiptRead:
		cs.peerRead = max(cs.peerRead, rc.Seq)
	case rc.Kind == ReceiptDelivered:
		cs.peerDelivered = max(cs.peerDelivered, rc.Seq)
	}
	r.events.push(rc)
}

// state takes a conversation's state, fetched after login: it notes the
// conversation's last seq and queues receipts for progress this client
// has not heard of. It reports whether the conversation has a gap.
func (r *receiver) state(st *magpiev1.ConversationState, me string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := st.GetConvId()
	cs := r.conv(id)
	cs.members, cs.known = slices.Clone(st.GetMembers()), true
	cs.high = max(cs.high, st.GetMaxSeq())
	if seq := st.GetReadSeq(); seq > cs.read {
		cs.read = seq
		r.events.push(Receipt{Kind: ReceiptRead, ConvID: id, Seq: seq, UserID: me})
	}
	if peer := peerOf(st.GetMembers(), me); peer != "" {
		if seq := st.GetPeerDeliveredSeq(); seq > cs.peerDelivered {
			cs.peerDelivered = seq
			r.events.push(Receipt{Kind: ReceiptDelivered, ConvID: id, Seq: seq, UserID: peer})
		}
		if seq := st.GetPeerReadSeq(); seq > cs.peerRead {
			cs.peerRead = seq
			r.events.push(Receipt{Kind: ReceiptRead, ConvID: id, Seq: seq, UserID: peer})
		}
	}
	return cs.next <= cs.high
}

// peerOf returns the one member other than me, or "" if there is not
// exactly one.
func peerOf(members []string, me string) string {
	var peer string
	for _, m := range members {
		if m == me {
			continue
		}
		if peer != "" {
			return ""
		}
		peer = m
	}
	return peer
}

// toMessage converts a wire message for the user me; the receiver adds
// the conversation's members.
func toMessage(m *magpiev1.Message, me string) Message {
	return Message{
		ConvID: m.GetConvId(), Seq: m.GetSeq(), SenderID: m.GetSenderId(), ClientMsgID: m.GetClientMsgId(),
		Type: m.GetType(), Content: m.GetContent(), CreatedAt: time.UnixMilli(m.GetCreatedAtMs()),
		Recalled: m.GetRecalled(), Own: m.GetSenderId() == me,
		Mentions: slices.Clone(m.GetMentions()), MentionAll: m.GetMentionAll(), EditedAt: editedAt(m.GetEditedAtMs()),
	}
}

// editedAt is a message's edit time: zero if never edited.
func editedAt(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// toMessages converts wire messages for the user me.
func toMessages(ms []*magpiev1.Message, me string) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = toMessage(m, me)
	}
	return out
}

// toReceipt converts a wire receipt.
func toReceipt(r *magpiev1.Receipt) Receipt {
	kind := ReceiptKind(0)
	switch r.GetKind() {
	case magpiev1.Receipt_KIND_DELIVERED:
		kind = ReceiptDelivered
	case magpiev1.Receipt_KIND_STORED:
		kind = ReceiptStored
	case magpiev1.Receipt_KIND_READ:
		kind = ReceiptRead
	}
	var at time.Time
	if ms := r.GetAtMs(); ms != 0 {
		at = time.UnixMilli(ms)
	}
	return Receipt{Kind: kind, ConvID: r.GetConvId(), Seq: r.GetSeq(), UserID: r.GetUserId(), At: at}
}
