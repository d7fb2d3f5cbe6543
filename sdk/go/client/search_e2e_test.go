package client_test

import (
	"context"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// TestSearchMessages: bob finds ann's messages by keyword, page by page,
// by their edited text, in Chinese too; bad queries are refused.
func TestSearchMessages(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	for _, c := range []*client.Client{ann, bob} {
		run(t, c)
		next[client.Connected](t, c)
	}
	var last client.SendResult
	for _, text := range []string{"Lunch at noon?", "lunch is on me", "我们去吃午饭吧", "no lunch today"} {
		r, err := ann.Send(ctx, "bob", client.TypeText, text)
		if err != nil {
			t.Fatal(err)
		}
		last = r
	}
	if _, err := ann.EditMessage(ctx, last.ConvID, last.Seq, "dinner today"); err != nil {
		t.Fatal(err)
	}

	var got []string
	opts := client.SearchOptions{Limit: 1}
	for range 5 {
		page, err := bob.SearchMessages(ctx, "LUNCH", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			if m.SenderID != "ann" || m.Own || m.ConvID != last.ConvID {
				t.Errorf("found %+v", m)
			}
			got = append(got, m.Content)
		}
		if opts.Cursor = page.NextCursor; opts.Cursor == "" {
			break
		}
	}
	if len(got) != 2 || got[0] != "lunch is on me" || got[1] != "Lunch at noon?" {
		t.Errorf("pages of lunch = %q", got)
	}
	page, err := bob.SearchMessages(ctx, "午饭", client.SearchOptions{ConvID: last.ConvID, Types: []string{client.TypeText}})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Content != "我们去吃午饭吧" {
		t.Errorf("search 午饭 = %+v, %v", page, err)
	}
	page, err = ann.SearchMessages(ctx, "dinner", client.SearchOptions{SenderID: "ann"})
	if err != nil || len(page.Messages) != 1 || !page.Messages[0].Own || page.Messages[0].EditedAt.IsZero() {
		t.Errorf("search dinner = %+v, %v", page, err)
	}
	_, err = bob.SearchMessages(ctx, `"*"`, client.SearchOptions{})
	wantErrCode(t, err, "invalid_argument")
	_, err = bob.SearchMessages(ctx, "lunch", client.SearchOptions{Cursor: "nope"})
	wantErrCode(t, err, "invalid_argument")
	_, err = bob.SearchMessages(ctx, "lunch", client.SearchOptions{Limit: -1})
	if err == nil {
		t.Error("negative limit: no error")
	}
}
