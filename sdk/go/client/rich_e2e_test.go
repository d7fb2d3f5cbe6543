package client_test

import (
	"context"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// TestRichMessages: ann sends bob an image and a text, edits the text,
// bob reacts to it, and ann recalls the image within the window; bob sees
// each change as an event, and others are refused.
func TestRichMessages(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	for _, c := range []*client.Client{ann, bob} {
		run(t, c)
		next[client.Connected](t, c)
	}

	img := client.ImageContent{URL: "https://cdn.example/cat.png", Width: 640, Height: 480, Size: 12345, MIME: "image/png"}
	sentImg, err := ann.SendTyped(ctx, "bob", img)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ann.SendTyped(ctx, "bob", client.ImageContent{URL: "ftp://nope", Width: 1, Height: 1, MIME: "image/png"})
	wantErrCode(t, err, "invalid_message")
	sentTxt, err := ann.Send(ctx, "bob", client.TypeText, "helo")
	if err != nil {
		t.Fatal(err)
	}
	got := nextMessages(t, bob, 2)
	var gotImg client.ImageContent
	if got[0].Type != client.TypeImage || client.DecodeContent(got[0], &gotImg) != nil || gotImg != img {
		t.Fatalf("bob got %+v (%+v), want the image", got[0], gotImg)
	}

	edited, err := ann.EditMessage(ctx, sentTxt.ConvID, sentTxt.Seq, "hello")
	if err != nil || edited.Content != "hello" || edited.EditedAt.IsZero() {
		t.Fatalf("EditMessage = %+v, %v", edited, err)
	}
	if ed := next[client.Edit](t, bob); ed.Message.Seq != sentTxt.Seq || ed.Message.Content != "hello" || ed.Message.EditedAt.IsZero() {
		t.Errorf("bob's edit = %+v", ed)
	}
	_, err = bob.EditMessage(ctx, sentTxt.ConvID, sentTxt.Seq, "mine")
	wantErrCode(t, err, "forbidden")

	r, err := bob.AddReaction(ctx, sentTxt.ConvID, sentTxt.Seq, "❤️")
	if err != nil || r.Count != 1 || !r.Added {
		t.Fatalf("AddReaction = %+v, %v", r, err)
	}
	if ev := next[client.Reaction](t, ann); ev.Emoji != "❤️" || ev.Count != 1 || ev.UserID != "bob" || ev.Seq != sentTxt.Seq {
		t.Errorf("ann's reaction event = %+v", ev)
	}
	_, err = bob.AddReaction(ctx, sentTxt.ConvID, sentTxt.Seq, "not an emoji")
	wantErrCode(t, err, "invalid_argument")
	rs, err := ann.Reactions(ctx, sentTxt.ConvID, sentTxt.Seq, sentImg.Seq)
	if err != nil || len(rs) != 1 || len(rs[sentTxt.Seq]) != 1 || rs[sentTxt.Seq][0] != (client.ReactionCount{Emoji: "❤️", Count: 1}) {
		t.Errorf("Reactions = %+v, %v", rs, err)
	}
	if r, err := bob.RemoveReaction(ctx, sentTxt.ConvID, sentTxt.Seq, "❤️"); err != nil || r.Count != 0 || r.Added {
		t.Errorf("RemoveReaction = %+v, %v", r, err)
	}

	_, err = bob.RecallMessage(ctx, sentImg.ConvID, sentImg.Seq)
	wantErrCode(t, err, "forbidden")
	rec, err := ann.RecallMessage(ctx, sentImg.ConvID, sentImg.Seq)
	if err != nil || !rec.Recalled || rec.Content != "" {
		t.Fatalf("RecallMessage = %+v, %v", rec, err)
	}
	if rc := next[client.Recall](t, bob); rc.Seq != sentImg.Seq {
		t.Errorf("bob's recall = %+v", rc)
	}
}
