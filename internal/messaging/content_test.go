package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
)

func TestTypedContentValidation(t *testing.T) {
	s, _, _, st := newService(t)
	ctx := context.Background()
	// An uploaded file of the conversation (see TestSendChecksFileRefs).
	if err := st.App("A").CreateFile(ctx, store.File{ID: "abc", UploaderID: "alice", ConvID: "p:alice:bob"}); err != nil {
		t.Fatal(err)
	}
	long := "https://x.example/" + strings.Repeat("a", messaging.MaxURLBytes)
	tests := []struct {
		typ, content string
		field        string // "" for valid
	}{
		{"image", `{"url":"https://cdn.example/a.png","width":10,"height":20,"size":300,"mime":"image/png"}`, ""},
		{"image", `{"url":"magpie-file:abc","width":10,"height":20,"size":300,"mime":"image/png","thumbnail_url":"http://t.example/x","blurhash":"LKO2"}`, ""},
		{"image", `{"width":10,"height":20,"size":300,"mime":"image/png"}`, "url"},
		{"image", `{"url":"ftp://x/a.png","width":10,"height":20,"size":300,"mime":"image/png"}`, "url"},
		{"image", `{"url":"` + long + `","width":10,"height":20,"size":300,"mime":"image/png"}`, "url"},
		{"image", `{"url":"https://","width":10,"height":20,"size":300,"mime":"image/png"}`, "url"},
		{"image", `{"url":"https://a.example/x y","width":10,"height":20,"size":300,"mime":"image/png"}`, "url"},
		{"image", `{"url":"https://a/b","width":0,"height":20,"size":300,"mime":"image/png"}`, "width"},
		{"image", `{"url":"https://a/b","width":10,"height":1.5,"size":300,"mime":"image/png"}`, "height"},
		{"image", `{"url":"https://a/b","width":10,"height":20,"size":-1,"mime":"image/png"}`, "size"},
		{"image", `{"url":"https://a/b","width":10,"height":20,"size":3,"mime":"png"}`, "mime"},
		{"image", `{"url":"https://a/b","width":10,"height":20,"size":3,"mime":"image/png","thumbnail_url":"data:x"}`, "thumbnail_url"},
		{"image", `[1]`, "JSON object"},
		{"image", `not json`, "JSON object"},
		{"file", `{"url":"https://a/b.pdf","name":"b.pdf","size":1,"mime":"application/pdf"}`, ""},
		{"file", `{"url":"https://a/b.pdf","size":1,"mime":"application/pdf"}`, "name"},
		{"file", `{"url":"https://a/b.pdf","name":"b.pdf","size":"1","mime":"application/pdf"}`, "size"},
		{"audio", `{"url":"https://a/b.m4a","duration_ms":1200,"size":1,"mime":"audio/mp4"}`, ""},
		{"audio", `{"url":"https://a/b.m4a","size":1,"mime":"audio/mp4"}`, "duration_ms"},
		{"video", `{"url":"https://a/b.mp4","duration_ms":1200,"size":1,"mime":"video/mp4"}`, ""},
		{"video", `{"url":"https://a/b.mp4","duration_ms":1200,"width":640,"height":480,"size":1,"mime":"video/mp4","thumbnail_url":"https://a/t.jpg"}`, ""},
		{"video", `{"url":"https://a/b.mp4","duration_ms":1200,"width":-1,"size":1,"mime":"video/mp4"}`, "width"},
		{"video", `{"url":"https://a/b.mp4","duration_ms":1200,"size":1}`, "mime"},
		{"location", `{"latitude":48.85,"longitude":2.35,"name":"Paris"}`, ""},
		{"location", `{"latitude":-90,"longitude":180}`, ""},
		{"location", `{"latitude":90.5,"longitude":2.35}`, "latitude"},
		{"location", `{"latitude":1,"longitude":-181}`, "longitude"},
		{"location", `{"latitude":1}`, "longitude"},
		{"location", `{"latitude":1,"longitude":2,"name":5}`, "name"},
		{"location", `{"latitude":"1","longitude":2}`, "latitude"},
	}
	for i, tt := range tests {
		req := text("alice", "bob", "c"+strings.Repeat("x", i), "")
		req.Type, req.Content, req.MaxBytes = tt.typ, tt.content, 8192
		m, err := s.Send(ctx, req)
		if tt.field == "" {
			if err != nil || m.Type != tt.typ || string(m.Body) != tt.content {
				t.Errorf("%s %s: Send = %+v, %v, want stored", tt.typ, tt.content, m, err)
			}
			continue
		}
		var me *messaging.Error
		if !errors.As(err, &me) || me.Code != "invalid_message" || !strings.Contains(me.Message, tt.field) {
			t.Errorf("%s %s: Send = %v, want invalid_message naming %q", tt.typ, tt.content, err, tt.field)
		}
	}
}
