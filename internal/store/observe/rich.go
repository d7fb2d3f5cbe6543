package observe

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

func (a *appStore) EditMessage(ctx context.Context, convID string, seq int64, body []byte, at time.Time) (store.Message, error) {
	ctx, c := a.begin(ctx, "EditMessage")
	m, err := a.as.EditMessage(ctx, convID, seq, body, at)
	return m, c.end(ctx, err)
}

func (a *appStore) AddReaction(ctx context.Context, r store.Reaction, maxEmoji int) (bool, error) {
	ctx, c := a.begin(ctx, "AddReaction")
	added, err := a.as.AddReaction(ctx, r, maxEmoji)
	return added, c.end(ctx, err)
}

func (a *appStore) RemoveReaction(ctx context.Context, convID string, seq int64, emoji, userID string) (bool, error) {
	ctx, c := a.begin(ctx, "RemoveReaction")
	removed, err := a.as.RemoveReaction(ctx, convID, seq, emoji, userID)
	return removed, c.end(ctx, err)
}

func (a *appStore) ListReactions(ctx context.Context, convID string, seqs []int64) ([]store.Reaction, error) {
	ctx, c := a.begin(ctx, "ListReactions")
	rs, err := a.as.ListReactions(ctx, convID, seqs)
	return rs, c.end(ctx, err)
}

func (a *appStore) SearchMessages(ctx context.Context, q store.MessageSearch) ([]store.Message, error) {
	ctx, c := a.begin(ctx, "SearchMessages")
	ms, err := a.as.SearchMessages(ctx, q)
	return ms, c.end(ctx, err)
}
