package messaging

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// Search page bounds and limits of a search request.
const (
	DefaultSearchPage = 20
	MaxSearchPage     = 100
	// MaxSearchTypes bounds the types filter.
	MaxSearchTypes = 8
	// SearchTimeout bounds one search in the store.
	SearchTimeout = 10 * time.Second
)

// SearchQuery is a keyword search of one user's messages (see
// store.SearchStore for what a query matches).
type SearchQuery struct {
	// Query is the keywords: at most store.MaxSearchQueryBytes bytes, with
	// at least one word of two or more letters or digits, or one CJK
	// character.
	Query string
	// ConvID restricts the search to one conversation; empty: all the
	// user's conversations.
	ConvID string
	// SenderID keeps only the messages of one sender.
	SenderID string
	// Types keeps only messages of these types (at most MaxSearchTypes).
	Types []string
	// From and To bound the messages' times, inclusive; zero: unbounded.
	From, To time.Time
	// Cursor continues a search: the NextCursor of the page before, for
	// the same query and filters.
	Cursor string
	// Limit is the page size: zero for DefaultSearchPage, at most
	// MaxSearchPage.
	Limit int
}

// SearchPage is a page of search results, newest first.
type SearchPage struct {
	Messages []store.Message
	// NextCursor continues the search; "" when there is no more.
	NextCursor string
}

// Search finds the messages of a user's conversations that match the
// query, newest first: only those the user may read (since it joined,
// after the history it cleared, not recalled). A conversation of another
// app, or one that does not exist, has no messages; one of this app the
// user is not a member of is forbidden.
func (s *Service) Search(ctx context.Context, appID, userID string, q SearchQuery) (SearchPage, error) {
	ms, e := searchRequest(userID, q)
	if e != nil {
		return SearchPage{}, e
	}
	if q.ConvID != "" {
		as := s.store.App(appID)
		if _, err := as.GetUserConversation(ctx, userID, q.ConvID); errors.Is(err, store.ErrNotFound) {
			members, err := s.members(ctx, appID, q.ConvID)
			if err == nil && !isMember(members, userID) {
				return SearchPage{}, errorf("forbidden", "not a member of conversation %q", q.ConvID)
			}
			return SearchPage{}, nil
		} else if err != nil {
			return SearchPage{}, fmt.Errorf("get conversation entry: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, SearchTimeout)
	defer cancel()
	limit := ms.Limit
	ms.Limit++
	msgs, err := s.store.App(appID).SearchMessages(ctx, ms)
	if err != nil {
		return SearchPage{}, fmt.Errorf("search: %w", err)
	}
	page := SearchPage{Messages: msgs}
	if len(msgs) > limit {
		page.Messages = msgs[:limit]
		page.NextCursor = encodeSearchCursor(msgs[limit-1].Key())
	}
	return page, nil
}

// searchRequest checks a search and returns it as the store's.
func searchRequest(userID string, q SearchQuery) (store.MessageSearch, *Error) {
	ms := store.MessageSearch{UserID: userID, ConvID: q.ConvID, SenderID: q.SenderID, Types: q.Types,
		From: q.From, To: q.To, Limit: q.Limit}
	if !validUserID(userID) {
		return ms, errorf("invalid_argument", "not a valid user id")
	}
	terms, err := store.ParseSearchQuery(q.Query)
	switch {
	case errors.Is(err, store.ErrSearchTooLong):
		return ms, errorf("invalid_argument", "q is too long: at most %d bytes and %d words", store.MaxSearchQueryBytes, store.MaxSearchTerms)
	case errors.Is(err, store.ErrSearchInvalid):
		return ms, errorf("invalid_argument", "q is not valid UTF-8")
	case err != nil:
		return ms, errorf("invalid_argument", "q needs a word of two letters or digits, or a CJK character")
	}
	ms.Terms = terms
	switch {
	case q.Limit < 0 || q.Limit > MaxSearchPage:
		return ms, errorf("invalid_argument", "limit must be from 1 to %d", MaxSearchPage)
	case q.Limit == 0:
		ms.Limit = DefaultSearchPage
	}
	if q.ConvID != "" && !ValidConvID(q.ConvID) {
		return ms, errorf("invalid_argument", "conv_id %q is not a conversation id", q.ConvID)
	}
	if q.SenderID != "" && !validUserID(q.SenderID) {
		return ms, errorf("invalid_argument", "sender_id is not a valid user id")
	}
	if len(q.Types) > MaxSearchTypes {
		return ms, errorf("invalid_argument", "at most %d types", MaxSearchTypes)
	}
	for _, t := range q.Types {
		if !messageTypes[t] && t != TypeNotice {
			return ms, errorf("invalid_argument", "type %q is not a message type", t)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return ms, errorf("invalid_argument", "to is before from")
	}
	if q.Cursor != "" {
		k, ok := decodeSearchCursor(q.Cursor)
		if !ok {
			return ms, errorf("invalid_argument", "cursor is not a cursor returned by a search")
		}
		ms.After = &k
	}
	return ms, nil
}

// A search cursor is the key of the last message of a page: base64url of
// "s1,<created ms>,<seq>,<conversation id>".
func encodeSearchCursor(k store.SearchKey) string {
	raw := "s1," + strconv.FormatInt(k.CreatedAt.UnixMilli(), 10) + "," + strconv.FormatInt(k.Seq, 10) + "," + k.ConvID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeSearchCursor(c string) (store.SearchKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(b) {
		return store.SearchKey{}, false
	}
	parts := strings.SplitN(string(b), ",", 4)
	if len(parts) != 4 || parts[0] != "s1" {
		return store.SearchKey{}, false
	}
	created, err1 := strconv.ParseInt(parts[1], 10, 64)
	seq, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || seq < 1 || !ValidConvID(parts[3]) {
		return store.SearchKey{}, false
	}
	return store.SearchKey{CreatedAt: time.UnixMilli(created).UTC(), ConvID: parts[3], Seq: seq}, true
}
