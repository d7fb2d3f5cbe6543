package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// maxInsertBatch caps the drafts of one ordered insert. MongoDB stops an
// ordered insert at the first error; FerretDB does so only within its
// batches of 100 documents, and the append relies on the stop.
const maxInsertBatch = 100

// AppendMessages stores the drafts without a transaction; see
// store.MessageStore.
//
// A seq is taken by inserting the message: the _id of a message is (app,
// conversation, seq), so of two writers that insert the same seq one gets a
// duplicate key, and no seq is reserved before its message is stored. The
// steps:
//
//  1. Read the conversations' heads (max_seq) in one query. A head may lag
//     the stored messages (see step 4); the inserts find out.
//  2. Insert the drafts with the next seqs in one ordered insert, which
//     stops at the first failure, so the drafts stored are a prefix and
//     each conversation's seqs stay gap-free and in input order. A
//     duplicate key is either the dedup index (the draft repeats a stored
//     client message id: the result is the original) or the _id (another
//     writer took the seq); one query tells, which also finds the other
//     duplicates of the batch and the seqs taken from there on. A draft
//     whose seq was taken is retried after them, up to WithAppendRetries
//     times, after which it and the later drafts of its conversation fail
//     with Err. The drafts after the failure go in the next round.
//  3. Drafts that repeat an earlier draft of the batch are never inserted:
//     they share its result.
//  4. Advance each conversation with $max (max_seq, updated_at), creating
//     it with its members on first use, then create missing member entries
//     and move the senders' read cursors and the mentioned members' marks
//     (a mention of all is mention_all_seq of the conversation, with
//     max_seq; see mentionSeq). A crash before this step leaves
//     max_seq behind the stored messages: readers then see a MaxSeq below
//     the newest seq, as they would while the append was in flight, and the
//     next append to the conversation repairs it, as does a retry of the
//     same drafts (a duplicate advances its original's conversation).
func (a *appStore) AppendMessages(ctx context.Context, drafts []store.Draft) ([]store.Appended, error) {
	if len(drafts) == 0 {
		return nil, nil
	}
	b := newAppendBatch(a, drafts)
	if err := b.run(ctx); err != nil {
		return nil, fmt.Errorf("append messages: %w", err)
	}
	return b.out, nil
}

// appendBatch is the state of one AppendMessages call.
type appendBatch struct {
	a      *appStore
	drafts []store.Draft
	out    []store.Appended
	done   []bool // the draft's result is final
	twin   []int  // index of an earlier draft with the same sender and client id, or -1
	convs  map[string]*convState
	order  []*convState // in first-use order
}

// convState is what a batch knows about one conversation.
type convState struct {
	id      string
	doc     conversationDoc // as read in step 1
	exists  bool            // doc was read
	head    int64           // highest seq known to be taken
	retries int             // seqs lost to other writers
	err     error           // set when a draft failed: the later drafts fail too

	// Messages stored by this batch (first zero: none).
	first, last     int64
	firstAt, lastAt time.Time
	members         []string         // the first stored draft's, for a new conversation
	reads           map[string]int64 // sender -> seq its read cursor moves to
	mentions        map[string]int64 // mentioned user -> seq its mention mark moves to
	mentionAll      int64            // newest seq stored here that mentioned all

	// repair is set when the batch stored nothing here but found a
	// duplicate's original here: max_seq is advanced to it, and the
	// document created (create) if the duplicate was sent to it.
	repair bool
	create bool
}

func newAppendBatch(a *appStore, drafts []store.Draft) *appendBatch {
	b := &appendBatch{
		a: a, drafts: drafts,
		out:   make([]store.Appended, len(drafts)),
		done:  make([]bool, len(drafts)),
		twin:  make([]int, len(drafts)),
		convs: make(map[string]*convState, 1),
	}
	type clientKey struct{ sender, id string }
	first := make(map[clientKey]int)
	for i, d := range drafts {
		b.conv(d.ConvID)
		b.twin[i] = -1
		if d.ClientMsgID == "" {
			continue
		}
		k := clientKey{d.SenderID, d.ClientMsgID}
		if j, ok := first[k]; ok {
			b.twin[i] = j
		} else {
			first[k] = i
		}
	}
	return b
}

// conv returns the batch's state of a conversation, adding it on first use.
func (b *appendBatch) conv(id string) *convState {
	c, ok := b.convs[id]
	if !ok {
		c = &convState{id: id}
		b.convs[id] = c
		b.order = append(b.order, c)
	}
	return c
}

func (b *appendBatch) run(ctx context.Context) error {
	if err := b.readHeads(ctx); err != nil {
		return err
	}
	if err := b.insert(ctx); err != nil {
		return err
	}
	for i, j := range b.twin {
		if j < 0 {
			continue
		}
		if b.out[j].Err != nil {
			b.out[i] = store.Appended{Err: b.out[j].Err}
		} else {
			b.out[i] = store.Appended{Message: b.out[j].Message, Duplicate: true}
		}
	}
	return b.advance(ctx)
}

// readHeads reads the batch's conversations.
func (b *appendBatch) readHeads(ctx context.Context) error {
	keys := make([]appKey, len(b.order))
	for i, c := range b.order {
		keys[i] = b.a.key(c.id)
	}
	docs, err := findAll[conversationDoc](ctx, b.a.s.l.conversations, bson.D{{Key: "_id", Value: in(keys)}})
	if err != nil {
		return fmt.Errorf("read conversations: %w", err)
	}
	for _, d := range docs {
		if c, ok := b.convs[d.ID.ID]; ok {
			c.doc, c.exists, c.head = d, true, d.MaxSeq
		}
	}
	return nil
}

// insert runs rounds of ordered inserts until every draft has a result.
func (b *appendBatch) insert(ctx context.Context) error {
	for {
		var docs []any
		var idx []int // input index of each document
		next := make(map[*convState]int64, len(b.order))
		for i, d := range b.drafts {
			if b.done[i] || b.twin[i] >= 0 {
				continue
			}
			c := b.convs[d.ConvID]
			if c.err != nil {
				b.fail(i, c.err)
				continue
			}
			if len(docs) == maxInsertBatch {
				continue // next round; the drafts after it wait too
			}
			if _, ok := next[c]; !ok {
				next[c] = c.head
			}
			next[c]++
			docs = append(docs, newMessageInsert(b.a.messageKey(d.ConvID, next[c]), d))
			idx = append(idx, i)
		}
		if len(docs) == 0 {
			return nil
		}
		if hook := b.a.s.cfg.beforeInsert; hook != nil {
			keys := make([]messageKey, len(docs))
			for j, d := range docs {
				keys[j] = d.(messageInsert).Doc.ID
			}
			hook(ctx, keys)
		}
		_, err := b.a.s.c.messages.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
		stored := len(docs)
		var failed *mongo.WriteError
		if err != nil {
			wes, err := writeErrors(err)
			if err != nil {
				return errorf(err, "insert messages")
			}
			failed = &wes[0].WriteError
			for _, we := range wes[1:] { // an ordered insert reports one; be safe
				if we.Index < failed.Index {
					failed = &we.WriteError
				}
			}
			stored = failed.Index
		}
		for j := range stored {
			b.stored(idx[j], docs[j].(messageInsert).Doc.ID.Seq)
		}
		if failed != nil {
			if err := b.conflict(ctx, idx[stored], docs[stored].(messageInsert).Doc.ID.Seq, *failed); err != nil {
				return err
			}
		}
	}
}

// stored records that draft i was stored at seq.
func (b *appendBatch) stored(i int, seq int64) {
	d := b.drafts[i]
	c := b.convs[d.ConvID]
	b.out[i] = store.Appended{Message: store.Message{
		ConvID: d.ConvID, Seq: seq, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID,
		Type: d.Type, Body: d.Body, Push: d.Push, Mentions: d.Mentions, MentionAll: d.MentionAll,
		CreatedAt: d.CreatedAt,
	}}
	b.done[i] = true
	c.head = seq
	if c.first == 0 {
		c.first, c.firstAt = seq, d.CreatedAt
		c.members = draftMembers(d)
	}
	for _, u := range d.Mentions {
		if c.mentions == nil {
			c.mentions = make(map[string]int64, len(d.Mentions))
		}
		c.mentions[u] = seq
	}
	if d.MentionAll {
		c.mentionAll = seq
	}
	c.last, c.lastAt = seq, d.CreatedAt
	if d.SenderID != "" {
		if c.reads == nil {
			c.reads = make(map[string]int64, 1)
		}
		c.reads[d.SenderID] = seq
	}
}

// draftMembers is the member list a draft gives its conversation when it
// creates it: none for a group's, whose members are its entries
// (CreateGroup creates the conversation; an append never makes a member).
func draftMembers(d store.Draft) []string {
	if isGroupConv(d.ConvID) {
		return []string{}
	}
	return store.MemberSet(d.Members, d.SenderID)
}

func (b *appendBatch) fail(i int, err error) {
	b.out[i] = store.Appended{Err: err}
	b.done[i] = true
}

// conflict handles the failure of draft i's insert at seq. A duplicate key
// is the dedup index or the _id: one query tells, which returns the
// originals of every pending draft that repeats a stored message (resolved
// here, in case the batch is a retry of many) and the messages of draft i's
// conversation from seq on, which another writer stored.
func (b *appendBatch) conflict(ctx context.Context, i int, seq int64, we mongo.WriteError) error {
	c := b.convs[b.drafts[i].ConvID]
	if !isDuplicate(we) {
		c.err = fmt.Errorf("insert message in %s: %w", c.id, translate(we))
		b.fail(i, c.err)
		return nil
	}
	or := bson.A{bson.D{{Key: "_id.conv", Value: c.id}, {Key: "_id.seq", Value: bson.D{{Key: "$gte", Value: seq}}}}}
	for j, d := range b.drafts {
		if !b.done[j] && b.twin[j] < 0 && d.ClientMsgID != "" {
			or = append(or, bson.D{{Key: "ds", Value: d.SenderID}, {Key: "dk", Value: d.ClientMsgID}})
		}
	}
	found, err := findAll[messageDoc](ctx, b.a.s.l.messages, b.a.scope(bson.E{Key: "$or", Value: or}))
	if err != nil {
		return fmt.Errorf("look up conflicts in %s: %w", c.id, err)
	}
	b.duplicates(found)
	if b.done[i] {
		return nil
	}
	// Another writer took seq, and perhaps more.
	c.retries++
	if c.retries > b.a.s.cfg.appendRetries {
		c.err = fmt.Errorf("insert message in %s: other writers took its seq %d times", c.id, c.retries)
		b.fail(i, c.err)
		return nil
	}
	c.head = max(c.head, seq)
	for _, m := range found {
		if m.ID.Conv == c.id {
			c.head = max(c.head, m.ID.Seq)
		}
	}
	return nil
}

// duplicates resolves the pending drafts that repeat one of the stored
// messages found.
func (b *appendBatch) duplicates(found []messageDoc) {
	for _, o := range found {
		if o.ClientMsgID == "" {
			continue
		}
		for i, d := range b.drafts {
			if b.done[i] || b.twin[i] >= 0 || d.SenderID != o.SenderID || d.ClientMsgID != o.ClientMsgID {
				continue
			}
			b.out[i] = store.Appended{Message: o.record(), Duplicate: true}
			b.done[i] = true
			// Repair the original's conversation, should its append have
			// stopped before step 4.
			c := b.conv(o.ID.Conv)
			if c.first == 0 {
				c.repair = true
				c.create = c.create || o.ID.Conv == d.ConvID
				if c.last < o.ID.Seq {
					c.last, c.lastAt = o.ID.Seq, o.CreatedAt
				}
				if c.members == nil && o.ID.Conv == d.ConvID {
					c.firstAt, c.members = o.CreatedAt, draftMembers(d)
				}
			}
		}
	}
}

// advance is step 4: conversations, member entries and read cursors.
func (b *appendBatch) advance(ctx context.Context) error {
	var touched []*convState
	for _, c := range b.order {
		if c.first > 0 || c.repair {
			touched = append(touched, c)
		}
	}
	if len(touched) == 0 {
		return nil
	}
	created, err := b.saveConversations(ctx, touched)
	if err != nil {
		return err
	}
	var inits, rejoins []*convState
	var unknown []appKey // created meanwhile by another writer
	for _, c := range touched {
		switch {
		case c.first == 0: // a repair: nothing stored here
			if created[c] {
				inits = append(inits, c)
			}
		case created[c]:
			inits = append(inits, c)
		case !c.exists:
			unknown = append(unknown, b.a.key(c.id))
		case c.doc.Init:
			c.members = c.doc.Members
			inits = append(inits, c)
		case c.doc.Rejoin > 0:
			rejoins = append(rejoins, c)
		}
	}
	if len(unknown) > 0 {
		docs, err := findAll[conversationDoc](ctx, b.a.s.l.conversations, bson.D{{Key: "_id", Value: in(unknown)}})
		if err != nil {
			return fmt.Errorf("read conversations: %w", err)
		}
		for _, d := range docs {
			if c := b.convs[d.ID.ID]; d.Init {
				c.members = d.Members
				inits = append(inits, c)
			}
		}
	}
	var entries []mongo.WriteModel
	for _, c := range inits {
		for _, u := range c.members {
			entries = append(entries, newEntry(b.a.entryKey(u, c.id), 1))
		}
	}
	var complete []*convState // rejoined conversations whose members all have entries
	for _, c := range rejoins {
		models, all, err := b.rejoin(ctx, c)
		if err != nil {
			return err
		}
		entries = append(entries, models...)
		if all {
			complete = append(complete, c)
		}
	}
	if err := b.writeEntries(ctx, entries); err != nil {
		return err
	}
	if err := b.markRead(ctx, touched); err != nil {
		return err
	}
	return b.clearFlags(ctx, inits, complete)
}

// saveConversations advances (or creates) the touched conversations in one
// unordered bulk write and reports which ones it created.
func (b *appendBatch) saveConversations(ctx context.Context, touched []*convState) (map[*convState]bool, error) {
	models := make([]mongo.WriteModel, len(touched))
	for i, c := range touched {
		advance := bson.D{
			{Key: "max_seq", Value: c.last},
			{Key: "updated_at", Value: c.lastAt},
		}
		if c.mentionAll > 0 {
			advance = append(advance, bson.E{Key: "mention_all_seq", Value: c.mentionAll})
		}
		update := bson.D{{Key: "$max", Value: advance}}
		create := c.first > 0 || c.create
		if create {
			update = append(update, bson.E{Key: "$setOnInsert", Value: bson.D{
				{Key: "members", Value: c.members},
				{Key: "created_at", Value: c.firstAt},
				{Key: "init", Value: true},
			}})
		}
		models[i] = mongo.NewUpdateOneModel().SetFilter(byID(b.a.key(c.id))).SetUpdate(update).SetUpsert(create)
	}
	created := make(map[*convState]bool)
	// Two upserts of a new conversation may race: the loser gets a
	// duplicate key, and its retry finds the document.
	for attempt := 0; len(models) > 0; attempt++ {
		res, err := b.a.s.c.conversations.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if res != nil {
			for i := range res.UpsertedIDs {
				created[touched[i]] = true
			}
		}
		if err == nil {
			return created, nil
		}
		wes, err := writeErrors(err)
		if err != nil {
			return nil, errorf(err, "save conversations")
		}
		if attempt > 0 {
			return nil, errorf(wes[0].WriteError, "save conversation %s", touched[wes[0].Index].id)
		}
		var retry []mongo.WriteModel
		var retried []*convState
		for _, we := range wes {
			if !isDuplicate(we.WriteError) {
				return nil, errorf(we.WriteError, "save conversation %s", touched[we.Index].id)
			}
			retry = append(retry, models[we.Index])
			retried = append(retried, touched[we.Index])
		}
		models, touched = retry, retried
	}
	return created, nil
}

// newEntry returns an upsert that creates a member's entry, starting at
// first, unless it exists.
func newEntry(k entryKey, first int64) mongo.WriteModel {
	return mongo.NewUpdateOneModel().SetFilter(byID(k)).SetUpsert(true).
		SetUpdate(bson.D{{Key: "$setOnInsert", Value: bson.D{
			{Key: "read_seq", Value: first - 1},
			{Key: "delivered_seq", Value: first - 1},
			{Key: "first_seq", Value: first},
		}}})
}

// rejoin returns the entries to create in a conversation that lost a
// member's entry: those of its members who exist as users (created again
// after their deletion) and have none, starting at the batch's first seq.
// It reports whether every member then has an entry.
func (b *appendBatch) rejoin(ctx context.Context, c *convState) ([]mongo.WriteModel, bool, error) {
	users := make([]appKey, len(c.doc.Members))
	keys := make([]entryKey, len(c.doc.Members))
	for i, u := range c.doc.Members {
		users[i], keys[i] = b.a.key(u), b.a.entryKey(u, c.id)
	}
	have, err := findAll[entryDoc](ctx, b.a.s.l.entries, bson.D{{Key: "_id", Value: in(keys)}})
	if err != nil {
		return nil, false, fmt.Errorf("read entries of %s: %w", c.id, err)
	}
	exist, err := findAll[userDoc](ctx, b.a.s.l.users, bson.D{{Key: "_id", Value: in(users)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, false, fmt.Errorf("read members of %s: %w", c.id, err)
	}
	var models []mongo.WriteModel
	all := true
	for _, u := range c.doc.Members {
		switch {
		case slices.ContainsFunc(have, func(e entryDoc) bool { return e.ID.User == u }):
		case slices.ContainsFunc(exist, func(d userDoc) bool { return d.ID.ID == u }):
			models = append(models, newEntry(b.a.entryKey(u, c.id), c.first))
		default:
			all = false
		}
	}
	return models, all, nil
}

// writeEntries creates member entries; one that exists (a concurrent
// creation) is left as it is.
func (b *appendBatch) writeEntries(ctx context.Context, models []mongo.WriteModel) error {
	if len(models) == 0 {
		return nil
	}
	_, err := b.a.s.c.entries.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil {
		return nil
	}
	wes, err := writeErrors(err)
	if err != nil {
		return errorf(err, "create conversation entries")
	}
	for _, we := range wes {
		if !isDuplicate(we.WriteError) {
			return errorf(we.WriteError, "create conversation entries")
		}
	}
	return nil
}

// markRead moves the senders' read cursors to their newest message and
// the mentioned users' mention marks to the newest message that mentioned
// them; a user who is not a member has no entry and nothing moves.
func (b *appendBatch) markRead(ctx context.Context, touched []*convState) error {
	var models []mongo.WriteModel
	for _, c := range touched {
		for u, seq := range c.reads {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(byID(b.a.entryKey(u, c.id))).
				SetUpdate(bson.D{{Key: "$max", Value: bson.D{{Key: "read_seq", Value: seq}}}}))
		}
		for u, seq := range c.mentions {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(byID(b.a.entryKey(u, c.id))).
				SetUpdate(bson.D{{Key: "$max", Value: bson.D{{Key: "mention_seq", Value: seq}}}}))
		}
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := b.a.s.c.entries.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return errorf(err, "advance read cursors")
	}
	return nil
}

// clearFlags clears the init flag of conversations whose entries now exist,
// and the rejoin flag of those whose members all have entries, unless a
// deletion raised it meanwhile.
func (b *appendBatch) clearFlags(ctx context.Context, inits, complete []*convState) error {
	var models []mongo.WriteModel
	for _, c := range inits {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(byID(b.a.key(c.id))).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "init", Value: ""}}}}))
	}
	for _, c := range complete {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: b.a.key(c.id)}, {Key: "rejoin", Value: c.doc.Rejoin}}).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "rejoin", Value: ""}}}}))
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := b.a.s.c.conversations.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return errorf(err, "clear conversation flags")
	}
	return nil
}

// GetMessage returns one message, or store.ErrNotFound.
func (a *appStore) GetMessage(ctx context.Context, convID string, seq int64) (store.Message, error) {
	d, err := findOne[messageDoc](ctx, a.s.c.messages, byID(a.messageKey(convID, seq)))
	if err != nil {
		return store.Message{}, fmt.Errorf("get message %s/%d: %w", convID, seq, err)
	}
	return d.record(), nil
}

// GetMessageByClientID returns the message senderID stored with
// clientMsgID, through the dedup index, or store.ErrNotFound.
func (a *appStore) GetMessageByClientID(ctx context.Context, senderID, clientMsgID string) (store.Message, error) {
	if clientMsgID == "" {
		return store.Message{}, fmt.Errorf("get message by client id: %w", store.ErrNotFound)
	}
	d, err := findOne[messageDoc](ctx, a.s.l.messages, a.scope(bson.E{Key: "ds", Value: senderID}, bson.E{Key: "dk", Value: clientMsgID}))
	if err != nil {
		return store.Message{}, fmt.Errorf("get message %s of %s: %w", clientMsgID, senderID, err)
	}
	return d.record(), nil
}

// ListMessages returns up to r.Limit messages of a conversation with seq in
// [r.From, r.To] (To zero: no upper bound), ascending or, with r.Desc,
// descending.
func (a *appStore) ListMessages(ctx context.Context, convID string, r store.Range) ([]store.Message, error) {
	if r.Limit <= 0 {
		return nil, fmt.Errorf("list messages of %s: limit %d is not positive", convID, r.Limit)
	}
	seqs := bson.D{{Key: "$gte", Value: r.From}}
	if r.To != 0 {
		seqs = append(seqs, bson.E{Key: "$lte", Value: r.To})
	}
	order := 1
	if r.Desc {
		order = -1
	}
	ds, err := findAll[messageDoc](ctx, a.s.c.messages,
		a.scope(bson.E{Key: "_id.conv", Value: convID}, bson.E{Key: "_id.seq", Value: seqs}),
		options.Find().SetSort(bson.D{{Key: "_id.seq", Value: order}}).SetLimit(int64(r.Limit)))
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", convID, err)
	}
	return records(ds, messageDoc.record), nil
}

// RecallMessage marks a message recalled at the given time and erases its
// body and push options; a message recalled before keeps its first recall time.
func (a *appStore) RecallMessage(ctx context.Context, convID string, seq int64, at time.Time) (store.Message, error) {
	k := a.messageKey(convID, seq)
	_, err := a.s.c.messages.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: k}, {Key: "recalled_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "recalled_at", Value: at}}},
			{Key: "$unset", Value: bson.D{{Key: "body", Value: ""}, {Key: "push", Value: ""}, {Key: "st", Value: ""}}},
		})
	if err != nil {
		return store.Message{}, errorf(err, "recall message %s/%d", convID, seq)
	}
	d, err := findOne[messageDoc](ctx, a.s.l.messages, byID(k))
	if err != nil {
		return store.Message{}, fmt.Errorf("recall message %s/%d: %w", convID, seq, err)
	}
	return d.record(), nil
}

// GetConversation returns a conversation, or store.ErrNotFound.
func (a *appStore) GetConversation(ctx context.Context, convID string) (store.Conversation, error) {
	d, err := findOne[conversationDoc](ctx, a.s.c.conversations, byID(a.key(convID)))
	if err != nil {
		return store.Conversation{}, fmt.Errorf("get conversation %s: %w", convID, err)
	}
	return d.record(), nil
}

// GetUserConversation returns one user's view of a conversation.
func (a *appStore) GetUserConversation(ctx context.Context, userID, convID string) (store.UserConversation, error) {
	e, err := findOne[entryDoc](ctx, a.s.c.entries, byID(a.entryKey(userID, convID)))
	if err != nil {
		return store.UserConversation{}, fmt.Errorf("get conversation %s of %s: %w", convID, userID, err)
	}
	c, err := findOne[conversationDoc](ctx, a.s.c.conversations, byID(a.key(convID)))
	if err != nil {
		return store.UserConversation{}, fmt.Errorf("get conversation %s of %s: %w", convID, userID, err)
	}
	return userConversation(e, c), nil
}

// ListUserConversations returns up to limit of a user's conversations with
// id > after, by id.
func (a *appStore) ListUserConversations(ctx context.Context, userID, after string, limit int) ([]store.UserConversation, error) {
	if limit <= 0 {
		return nil, nil
	}
	es, err := findAll[entryDoc](ctx, a.s.c.entries,
		a.scope(bson.E{Key: "_id.user", Value: userID}, bson.E{Key: "_id.conv", Value: bson.D{{Key: "$gt", Value: after}}}),
		page("_id.conv", limit))
	if err != nil {
		return nil, fmt.Errorf("list conversations of %s: %w", userID, err)
	}
	if len(es) == 0 {
		return nil, nil
	}
	keys := make([]appKey, len(es))
	for i, e := range es {
		keys[i] = a.key(e.ID.Conv)
	}
	cs, err := findAll[conversationDoc](ctx, a.s.c.conversations, bson.D{{Key: "_id", Value: in(keys)}})
	if err != nil {
		return nil, fmt.Errorf("list conversations of %s: %w", userID, err)
	}
	byConv := make(map[string]conversationDoc, len(cs))
	for _, c := range cs {
		byConv[c.ID.ID] = c
	}
	out := make([]store.UserConversation, 0, len(es))
	for _, e := range es {
		if c, ok := byConv[e.ID.Conv]; ok {
			out = append(out, userConversation(e, c))
		}
	}
	return out, nil
}

// SetConversationPrefs changes the user's own settings of a conversation:
// see store.ConvPrefs. The clear is clamped to the conversation's max seq
// as read before the update.
func (a *appStore) SetConversationPrefs(ctx context.Context, userID, convID string, p store.ConvPrefs) (store.UserConversation, error) {
	set, unset, maxes := bson.D{}, bson.D{}, bson.D{}
	if p.Draft != nil {
		if *p.Draft == "" {
			unset = append(unset, bson.E{Key: "draft", Value: ""})
		} else {
			set = append(set, bson.E{Key: "draft", Value: *p.Draft})
		}
	}
	if p.Pinned != nil && !*p.Pinned {
		unset = append(unset, bson.E{Key: "pinned_at", Value: ""})
	}
	if p.ClearTo > 0 {
		c, err := findOne[conversationDoc](ctx, a.s.l.conversations, byID(a.key(convID)))
		if err != nil {
			return store.UserConversation{}, fmt.Errorf("set preferences of %s in %s: %w", userID, convID, err)
		}
		if to := min(p.ClearTo, c.MaxSeq); to > 0 {
			maxes = append(maxes, bson.E{Key: "cleared_seq", Value: to}, bson.E{Key: "read_seq", Value: to})
		}
	}
	update := bson.D{}
	for _, op := range []struct {
		name string
		d    bson.D
	}{{"$set", set}, {"$unset", unset}, {"$max", maxes}} {
		if len(op.d) > 0 {
			update = append(update, bson.E{Key: op.name, Value: op.d})
		}
	}
	key := byID(a.entryKey(userID, convID))
	if len(update) > 0 {
		res, err := a.s.c.entries.UpdateOne(ctx, key, update)
		if err := matched(res, err); err != nil {
			return store.UserConversation{}, fmt.Errorf("set preferences of %s in %s: %w", userID, convID, err)
		}
	}
	if p.Pinned != nil && *p.Pinned {
		// Pinned once: a second pin keeps the first time.
		filter := append(key, bson.E{Key: "pinned_at", Value: bson.D{{Key: "$exists", Value: false}}})
		if _, err := a.s.c.entries.UpdateOne(ctx, filter, set1("pinned_at", p.At)); err != nil {
			return store.UserConversation{}, fmt.Errorf("pin %s for %s: %w", convID, userID, translate(err))
		}
	}
	return a.GetUserConversation(ctx, userID, convID)
}

func set1(key string, v any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: key, Value: v}}}}
}
