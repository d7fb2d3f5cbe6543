package client

import (
	"context"
	"errors"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// SearchOptions narrow a search. The zero value searches every
// conversation of the user, 20 messages a page.
type SearchOptions struct {
	// ConvID searches one conversation only; the user must be a member
	// (Error "forbidden" otherwise).
	ConvID string
	// SenderID keeps only the messages of one user.
	SenderID string
	// Types keeps only messages of these types (TypeText, TypeFile, ...;
	// at most 8).
	Types []string
	// From and To bound the messages' times, inclusive; zero: unbounded.
	From, To time.Time
	// Cursor continues a search: the NextCursor of the page before, with
	// the same query and options.
	Cursor string
	// Limit is the page size: 0 for 20, at most 100.
	Limit int
}

// SearchPage is one page of a search, newest first.
type SearchPage struct {
	Messages []Message
	// NextCursor continues the search (SearchOptions.Cursor); "" when
	// there is no more.
	NextCursor string
}

// SearchMessages finds the messages of the user's conversations that
// match query, newest first: messages it may read (since it joined, after
// the history it cleared), not recalled, edited ones by their current
// text. Searchable are the text of text messages, the name of files, the
// name and address of locations and the "text" field of custom messages.
// Every word of query must match, as the start of a word, ignoring case
// and accents; Chinese, Japanese and Korean text matches from one
// character; punctuation only separates words. A query with no word of two
// letters or digits (or a CJK character), or longer than 256 bytes, fails
// with an *Error of code "invalid_argument". SearchMessages waits for a
// connection until ctx ends. The messages' Members are those the client
// knows, as History's.
func (c *Client) SearchMessages(ctx context.Context, query string, opts SearchOptions) (SearchPage, error) {
	if opts.Limit < 0 {
		return SearchPage{}, errors.New("magpie: search: negative limit")
	}
	req := &magpiev1.SearchMessages{Query: query, ConvId: opts.ConvID, SenderId: opts.SenderID, Types: opts.Types,
		Cursor: opts.Cursor, Limit: int32(min(opts.Limit, 1<<20))}
	if !opts.From.IsZero() {
		req.FromMs = opts.From.UnixMilli()
	}
	if !opts.To.IsZero() {
		req.ToMs = opts.To.UnixMilli()
	}
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SearchMessages{SearchMessages: req}})
	if err != nil {
		return SearchPage{}, err
	}
	res := r.GetSearchResult()
	msgs := toMessages(res.GetMessages(), c.me())
	for i := range msgs {
		msgs[i].Members = c.recv.membersOf(msgs[i].ConvID)
	}
	return SearchPage{Messages: msgs, NextCursor: res.GetNextCursor()}, nil
}
