package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
)

// TestSearch: pages by cursor, the member check, and the refusals of bad
// requests, each with invalid_argument.
func TestSearch(t *testing.T) {
	s, _, _, _ := newService(t)
	ctx := context.Background()
	for i, c := range []string{"budget draft", "budget final", "lunch?", "budget v3"} {
		if _, err := s.Send(ctx, text("alice", "bob", "b"+string(rune('0'+i)), c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Send(ctx, text("carol", "bob", "c1", "budget of carol")); err != nil {
		t.Fatal(err)
	}
	var got []string
	q := messaging.SearchQuery{Query: "budget", ConvID: "p:alice:bob", Limit: 2}
	for range 5 {
		page, err := s.Search(ctx, "A", "alice", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			got = append(got, string(m.Body))
		}
		if q.Cursor = page.NextCursor; q.Cursor == "" {
			break
		}
	}
	if strings.Join(got, "|") != "budget v3|budget final|budget draft" {
		t.Errorf("pages = %q", got)
	}
	if page, err := s.Search(ctx, "A", "bob", messaging.SearchQuery{Query: "budget"}); err != nil || len(page.Messages) != 4 || page.NextCursor != "" {
		t.Errorf("bob's search = %+v, %v", page, err)
	}
	// Another app's conversation: nothing; one of this app the user is
	// not in: forbidden.
	if page, err := s.Search(ctx, "B", "alice", messaging.SearchQuery{Query: "budget", ConvID: "p:alice:bob"}); err != nil || len(page.Messages) != 0 {
		t.Errorf("app B = %+v, %v", page, err)
	}
	_, err := s.Search(ctx, "A", "alice", messaging.SearchQuery{Query: "budget", ConvID: "p:bob:carol"})
	var me *messaging.Error
	if !errors.As(err, &me) || me.Code != "forbidden" {
		t.Errorf("search in p:bob:carol as alice = %v, want forbidden", err)
	}
	now := time.Now()
	for name, q := range map[string]messaging.SearchQuery{
		"empty":       {},
		"no word":     {Query: `" * - ( )`},
		"too long":    {Query: strings.Repeat("budget ", 40)},
		"bad utf-8":   {Query: "bud\xffget"},
		"limit":       {Query: "budget", Limit: 101},
		"negative":    {Query: "budget", Limit: -1},
		"conv":        {Query: "budget", ConvID: "nonsense"},
		"sender":      {Query: "budget", SenderID: strings.Repeat("x", 65)},
		"type":        {Query: "budget", Types: []string{"sticker"}},
		"many types":  {Query: "budget", Types: []string{"text", "text", "text", "text", "text", "text", "text", "text", "text"}},
		"times":       {Query: "budget", From: now, To: now.Add(-time.Second)},
		"cursor":      {Query: "budget", Cursor: "bm9wZQ"},
		"cursor b64":  {Query: "budget", Cursor: "***"},
		"cursor conv": {Query: "budget", Cursor: "czEsMSwxLG5vbnNlbnNl"},
	} {
		_, err := s.Search(ctx, "A", "alice", q)
		if !errors.As(err, &me) || me.Code != "invalid_argument" {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
}
