package client

import (
	"context"
	"errors"
	"fmt"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// conversationPage is the page size of the conversation list.
const conversationPage = 100

// fillLoop resyncs after login, then fills the gaps the receiver reports,
// on session s until ctx ends. A failed resync fails the session, so that
// the client reconnects and tries again.
func (c *Client) fillLoop(ctx context.Context, s *session) error {
	if err := c.resync(ctx, s); err != nil {
		if ctx.Err() != nil || errors.Is(err, errConnLost) {
			return nil
		}
		return fmt.Errorf("resync: %w", err)
	}
	refused := make(map[string]bool) // conversations the server refused to page
	for {
		if ids := c.recv.unknown(); len(ids) > 0 {
			if err := c.fetchStates(ctx, s, ids); err != nil {
				if ctx.Err() != nil || errors.Is(err, errConnLost) {
					return nil
				}
				return fmt.Errorf("fetch conversation states: %w", err)
			}
		}
		c.recv.advanceAll()
		for _, id := range c.recv.gaps() {
			if refused[id] {
				continue
			}
			if err := c.fill(ctx, s, id); err != nil {
				if ctx.Err() != nil || errors.Is(err, errConnLost) {
					return nil
				}
				c.log.WarnContext(ctx, "fetch messages", "conv_id", id, "err", err)
				refused[id] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.fillWake:
		}
	}
}

// resync pages through the user's conversations and notes each one's last
// seq and this device's server-side cursor; the gaps are filled next.
func (c *Client) resync(ctx context.Context, s *session) error {
	cursor := ""
	for {
		r, err := c.callSession(ctx, s, &magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{
			SyncConversations: &magpiev1.SyncConversations{Cursor: cursor, Limit: conversationPage},
		}})
		if err != nil {
			return err
		}
		page := r.GetConversationPage()
		for _, st := range page.GetConversations() {
			c.recv.state(st, s.info.UserID)
			c.acks.server(st.GetConvId(), st.GetDeliveredSeq())
		}
		if cursor = page.GetNextCursor(); cursor == "" {
			return nil
		}
	}
}

// maxStateIDs is how many conversations one state request names.
const maxStateIDs = 100

// fetchStates fetches the states of conversations whose messages arrived
// before the client knew their members (a conversation another device of
// the user, or a peer, started while this one was online). A conversation
// the server does not list is marked known without members, so that its
// messages are not held back for ever.
func (c *Client) fetchStates(ctx context.Context, s *session, ids []string) error {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), maxStateIDs)]
		ids = ids[len(batch):]
		r, err := c.callSession(ctx, s, &magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{
			SyncConversations: &magpiev1.SyncConversations{ConvIds: batch},
		}})
		if err != nil {
			return err
		}
		for _, st := range r.GetConversationPage().GetConversations() {
			c.recv.state(st, s.info.UserID)
			c.acks.server(st.GetConvId(), st.GetDeliveredSeq())
		}
		for _, id := range batch {
			c.recv.learn(id, nil)
		}
	}
	return nil
}

// fill fetches the gaps of one conversation until it has none, or the
// event queue is full.
func (c *Client) fill(ctx context.Context, s *session, convID string) error {
	for {
		from, to, ok := c.recv.fillRange(convID)
		if !ok {
			return nil
		}
		r, err := c.callSession(ctx, s, &magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{
			ConvId: convID, FromSeq: from, ToSeq: to, Limit: s.pageLimit(),
		}}})
		if err != nil {
			return err
		}
		page := r.GetMessagePage()
		if page == nil {
			return errors.New("sync messages: reply has no message page")
		}
		msgs := toMessages(page.GetMessages(), s.info.UserID)
		if !c.recv.resolve(convID, from, to, msgs, page.GetHasMore()) {
			return nil // no progress: the queue is full, or the page was empty
		}
	}
}

// callSession sends a request on session s and returns its reply, retrying
// timeouts and retryable errors with backoff; it fails with errConnLost
// when the session ends.
func (c *Client) callSession(ctx context.Context, s *session, f *magpiev1.Frame) (*magpiev1.Frame, error) {
	for retry := 0; ; retry++ {
		r, err := s.call(ctx, f)
		if err == nil || errors.Is(err, errConnLost) || !retryable(err) {
			return r, err
		}
		if !sleep(ctx, retryDelay(c.cfg.BackoffMin, c.cfg.BackoffMax, retry)) {
			return nil, ctx.Err()
		}
	}
}
