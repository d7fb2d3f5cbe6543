package node

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// searchMessages serves a SearchMessages frame: a keyword search of the
// logged-in user's conversations (docs/search.md).
func (c *conn) searchMessages(ctx context.Context, id uint64, r *magpiev1.SearchMessages) {
	q := messaging.SearchQuery{Query: r.GetQuery(), ConvID: r.GetConvId(), SenderID: r.GetSenderId(),
		Types: r.GetTypes(), Cursor: r.GetCursor(), Limit: int(r.GetLimit())}
	if ms := r.GetFromMs(); ms != 0 {
		q.From = time.UnixMilli(ms)
	}
	if ms := r.GetToMs(); ms != 0 {
		q.To = time.UnixMilli(ms)
	}
	page, err := c.srv.msgs.Search(ctx, c.appID, c.userID, q)
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	res := &magpiev1.SearchResult{NextCursor: page.NextCursor}
	for i := range page.Messages {
		res.Messages = append(res.Messages, toWireMessage(&page.Messages[i]))
	}
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_SearchResult{SearchResult: res}})
}
