package messaging_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

func TestCanShare(t *testing.T) {
	s, _, _, st := newService(t)
	ctx := context.Background()
	createGroup(t, st, "A", "hikers", "alice", "bob")
	if _, err := s.Send(ctx, text("alice", "carol", "c1", "hi")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		app, user, conv string
		want            bool
	}{
		{"A", "alice", "g:hikers", true},
		{"A", "bob", "g:hikers", true},
		{"A", "carol", "g:hikers", false},
		{"B", "alice", "g:hikers", false}, // no such group in B
		{"A", "alice", "p:alice:carol", true},
		{"A", "carol", "p:alice:carol", true},
		{"A", "bob", "p:alice:carol", false},
		// Not started yet: either of its users, if both exist.
		{"A", "alice", "p:alice:bob", true},
		{"A", "bob", "p:alice:bob", true},
		{"A", "carol", "p:alice:bob", false},
		{"A", "alice", "p:alice:zed", false}, // zed does not exist
		{"A", "bob", "p:alice:carol:x", false},
		{"A", "alice", "p:bob:alice", false}, // not canonical
		{"A", "alice", "g:nope", false},
		{"A", "alice", "junk", false},
		{"A", "alice", "s:alice", false}, // no system messages yet
	} {
		got, err := s.CanShare(ctx, tc.app, tc.user, tc.conv)
		if err != nil || got != tc.want {
			t.Errorf("CanShare(%s, %s, %s) = %v, %v; want %v", tc.app, tc.user, tc.conv, got, err, tc.want)
		}
	}
	// A removed member is refused at once.
	if _, err := st.App("A").RemoveGroupMembers(ctx, "hikers", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	s.GroupChanged("A", "hikers")
	if ok, err := s.CanShare(ctx, "A", "bob", "g:hikers"); ok || err != nil {
		t.Errorf("CanShare(bob) after his removal = %v, %v", ok, err)
	}
}

func TestFileRefs(t *testing.T) {
	for _, tc := range []struct {
		typ, content string
		want         []string
	}{
		{"image", `{"url":"magpie-file:f_1","thumbnail_url":"MAGPIE-FILE:f_2","width":1,"height":1,"size":1,"mime":"image/png"}`, []string{"f_1", "f_2"}},
		{"file", `{"url":"https://cdn.example/x.pdf","name":"x.pdf","size":1,"mime":"application/pdf"}`, nil},
		{"text", `magpie-file:f_1`, nil},
		{"custom", `{"url":"magpie-file:f_1"}`, nil},
		{"video", `{"url":"magpie-file:f_3","thumbnail_url":"https://t.example/x.jpg"}`, []string{"f_3"}},
	} {
		if got := messaging.FileRefs(tc.typ, tc.content); !slices.Equal(got, tc.want) {
			t.Errorf("FileRefs(%s, %s) = %v, want %v", tc.typ, tc.content, got, tc.want)
		}
	}
}

// TestSendChecksFileRefs: a message may reference only files of its app
// shared to its conversation; plain URLs work as before.
func TestSendChecksFileRefs(t *testing.T) {
	s, _, _, st := newService(t, "alice", "bob")
	ctx := context.Background()
	createGroup(t, st, "A", "hikers", "alice", "bob")
	for _, f := range []store.File{
		{ID: "f_p2p", UploaderID: "alice", ConvID: "p:alice:bob"},
		{ID: "f_group", UploaderID: "bob", ConvID: "g:hikers"},
	} {
		f.Name, f.ContentType, f.Size, f.SHA256, f.CreatedAt = "a.png", "image/png", 10, "ab", time.UnixMilli(5)
		if err := st.App("A").CreateFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.App("B").CreateFile(ctx, store.File{ID: "f_b", ConvID: "p:alice:bob", CreatedAt: time.UnixMilli(5)}); err != nil {
		t.Fatal(err)
	}
	image := func(url string) string {
		return `{"url":"` + url + `","width":4,"height":3,"size":10,"mime":"image/png"}`
	}
	send := func(req messaging.SendRequest, url string) error {
		req.Type, req.Content = "image", image(url)
		_, err := s.Send(ctx, req)
		return err
	}
	if err := send(text("alice", "bob", "c1", ""), "magpie-file:f_p2p"); err != nil {
		t.Errorf("one-to-one image of its own file = %v", err)
	}
	if err := send(groupText("bob", "hikers", "c2"), "magpie-file:f_group"); err != nil {
		t.Errorf("group image of its own file = %v", err)
	}
	if err := send(text("alice", "bob", "c3", ""), "https://cdn.example/a.png"); err != nil {
		t.Errorf("image with a plain URL = %v", err)
	}
	for name, tc := range map[string]struct {
		req messaging.SendRequest
		url string
	}{
		"another conversation's file":     {text("alice", "bob", "c4", ""), "magpie-file:f_group"},
		"a group message with a p2p file": {groupText("alice", "hikers", "c5"), "magpie-file:f_p2p"},
		"another app's file":              {text("alice", "bob", "c6", ""), "magpie-file:f_b"},
		"no such file":                    {text("alice", "bob", "c7", ""), "magpie-file:f_none"},
		"another pair's file":             {text("carol", "bob", "c8", ""), "magpie-file:f_p2p"},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, send(tc.req, tc.url), "invalid_message") })
	}
	// A thumbnail is checked too.
	req := text("alice", "bob", "c9", "")
	req.Type = "image"
	req.Content = `{"url":"magpie-file:f_p2p","thumbnail_url":"magpie-file:f_group","width":4,"height":3,"size":10,"mime":"image/png"}`
	_, err := s.Send(ctx, req)
	wantCode(t, err, "invalid_message")
}
