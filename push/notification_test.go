package push_test

import (
	"errors"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
)

func TestRender(t *testing.T) {
	templates := []store.PushTemplate{
		{Type: "text", Locale: "zh-Hans", Title: "{sender}", Body: "{preview}（中文）"},
		{Type: "text", Locale: "zh", Body: "zh: {preview}"},
		{Type: "*", Body: "{sender} sent {type}"},
	}
	base := push.Content{ID: "n1", ConvID: "c1", Seq: 7, SenderID: "alice", SenderName: "Alice", Type: "text", Preview: "hi", Badge: 3}
	tests := []struct {
		name        string
		app         store.AppPush
		mod         func(*push.Content)
		title, body string
	}{
		{"default text", store.AppPush{}, nil, "Alice", "hi"},
		{"default image", store.AppPush{}, func(c *push.Content) { c.Type, c.Preview = "image", "" }, "Alice", "[image]"},
		{"no name", store.AppPush{}, func(c *push.Content) { c.SenderName = "" }, "alice", "hi"},
		{"hidden by app", store.AppPush{HideContent: true}, nil, "Alice", "New message"},
		{"hidden by message", store.AppPush{}, func(c *push.Content) { c.Options.HideContent = true }, "Alice", "New message"},
		{"exact locale", store.AppPush{Templates: templates}, func(c *push.Content) { c.Locale = "zh-Hans" }, "Alice", "hi（中文）"},
		{"language", store.AppPush{Templates: templates}, func(c *push.Content) { c.Locale = "zh-TW" }, "Alice", "zh: hi"},
		{"any type", store.AppPush{Templates: templates}, func(c *push.Content) { c.Type, c.Locale = "file", "en" }, "Alice", "Alice sent file"},
		{"template, hidden", store.AppPush{Templates: templates, HideContent: true}, func(c *push.Content) { c.Locale = "zh" }, "Alice", "zh: "},
		{"options win", store.AppPush{Templates: templates}, func(c *push.Content) { c.Options.Title, c.Options.Body = "T", "B" }, "T", "B"},
		{"silent", store.AppPush{}, func(c *push.Content) { c.Options.Silent = true }, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.mod != nil {
				tc.mod(&c)
			}
			n := push.Render(tc.app, c)
			if n.Title != tc.title || n.Body != tc.body || n.Badge == nil || *n.Badge != 3 || n.Data["seq"] != "7" || n.ThreadID != "c1" {
				t.Errorf("Render = %+v, want title %q, body %q, badge 3, seq 7", n, tc.title, tc.body)
			}
		})
	}
}

func TestParseOptionsRefuses(t *testing.T) {
	for _, in := range []string{
		`[]`, `{"title": 1}`, `{"tittle": "x"}`, `{"priority": "urgent"}`, `{"collapse_id": "a b"}`,
		`{"data": {"conv_id": "x"}}`, `{"data": {"magpie_x": "y"}}`, `{"title": "x"} {}`,
		`{"body": "` + string(make([]byte, 3000)) + `"}`,
	} {
		var ve *push.ValidationError
		if _, err := push.ParseOptions([]byte(in)); !errors.As(err, &ve) {
			t.Errorf("ParseOptions(%.40q) = %v, want a *ValidationError", in, err)
		}
	}
	if o, err := push.ParseOptions([]byte(`{"silent": true, "data": {"k": "v"}}`)); err != nil || !o.Silent || o.Data["k"] != "v" {
		t.Errorf("ParseOptions(valid) = %+v, %v", o, err)
	}
}
