package gateway_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func searchFrame(query, conv, cursor string, limit int32) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SearchMessages{SearchMessages: &magpiev1.SearchMessages{
		Query: query, ConvId: conv, Cursor: cursor, Limit: limit}}}
}

func contents(ms []*magpiev1.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.GetContent())
	}
	return out
}

func apiContents(t *testing.T, r resp) ([]string, string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("search: %d %s", r.status, r.body)
	}
	body := r.json(t)
	out := []string{}
	for _, m := range body["messages"].([]any) {
		out = append(out, m.(map[string]any)["content"].(string))
	}
	return out, body["next_cursor"].(string)
}

// TestSearch drives keyword search through the real gateway: the client
// frame and the server API route find the same messages, page with
// cursors, follow edits and recalls, refuse bad input, and never show
// another app's or another member's messages.
func TestSearch(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "ann")
	e.mustCreateUser(e.b, "bob")
	ann, bob, cat := e.login(e.a, "ann", "d1"), e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1")
	otherAnn := e.login(e.b, "ann", "d1")

	meet := sendText(t, ann, "bob", "s1", "text", "Meet me at the Station")
	sendText(t, ann, "bob", "s2", "text", "我们明天在北京见面")
	sendText(t, ann, "bob", "s3", "file", `{"url":"https://cdn.example/r.pdf","name":"station-map.pdf","size":10,"mime":"application/pdf"}`)
	closed := sendText(t, bob, "ann", "s4", "text", "the station is closed")
	sendText(t, cat, "bob", "s5", "text", "station secret between bob and cat")
	sendText(t, otherAnn, "bob", "s6", "text", "station in app B")

	// The frame: newest first, only ann's conversations.
	f := ann.reply(ann.request(searchFrame("station", "", "", 0)))
	if got := contents(f.GetSearchResult().GetMessages()); strings.Join(got, "|") !=
		"the station is closed|"+`{"url":"https://cdn.example/r.pdf","name":"station-map.pdf","size":10,"mime":"application/pdf"}`+"|Meet me at the Station" ||
		f.GetSearchResult().GetNextCursor() != "" {
		t.Fatalf("ann's search = %q, cursor %q", got, f.GetSearchResult().GetNextCursor())
	}
	if got := contents(ann.reply(ann.request(searchFrame("北京", "", "", 0))).GetSearchResult().GetMessages()); len(got) != 1 {
		t.Errorf("search 北京 = %q", got)
	}
	// Pages of one, by cursor.
	var walked []string
	cursor := ""
	for range 5 {
		r := ann.reply(ann.request(searchFrame("station", meet.GetConvId(), cursor, 1))).GetSearchResult()
		walked = append(walked, contents(r.GetMessages())...)
		if cursor = r.GetNextCursor(); cursor == "" {
			break
		}
	}
	if len(walked) != 3 || walked[0] != "the station is closed" || walked[2] != "Meet me at the Station" {
		t.Errorf("pages of one = %q", walked)
	}
	// Another app's ann finds her own only; app A's conversation of bob
	// and cat does not exist for her.
	if got := contents(otherAnn.reply(otherAnn.request(searchFrame("station", "", "", 0))).GetSearchResult().GetMessages()); len(got) != 1 || got[0] != "station in app B" {
		t.Errorf("app B's ann found %q", got)
	}
	if got := contents(otherAnn.reply(otherAnn.request(searchFrame("station", "p:bob:cat", "", 0))).GetSearchResult().GetMessages()); len(got) != 0 {
		t.Errorf("app B's ann in app A's p:bob:cat found %q", got)
	}
	// Bad input.
	for _, c := range []struct {
		f    *magpiev1.Frame
		code string
	}{
		{searchFrame("", "", "", 0), "invalid_argument"},
		{searchFrame(`" * -`, "", "", 0), "invalid_argument"},
		{searchFrame(strings.Repeat("station ", 40), "", "", 0), "invalid_argument"},
		{searchFrame("station", "", "not-a-cursor", 0), "invalid_argument"},
		{searchFrame("station", "", "", 101), "invalid_argument"},
		{searchFrame("station", "", "", -1), "invalid_argument"},
		{searchFrame("station", "junk", "", 0), "invalid_argument"},
		{searchFrame("station", "p:bob:cat", "", 0), "forbidden"},
		{&magpiev1.Frame{Body: &magpiev1.Frame_SearchMessages{SearchMessages: &magpiev1.SearchMessages{Query: "station", Types: []string{"sticker"}}}}, "invalid_argument"},
		{&magpiev1.Frame{Body: &magpiev1.Frame_SearchMessages{SearchMessages: &magpiev1.SearchMessages{Query: "station", FromMs: 2, ToMs: 1}}}, "invalid_argument"},
		{&magpiev1.Frame{Body: &magpiev1.Frame_SearchResult{SearchResult: &magpiev1.SearchResult{}}}, "invalid_frame"},
	} {
		ann.expectError(ann.request(c.f), c.code)
	}
	// Filters.
	f = ann.reply(ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_SearchMessages{SearchMessages: &magpiev1.SearchMessages{
		Query: "station", SenderId: "ann", Types: []string{"text"}}}}))
	if got := contents(f.GetSearchResult().GetMessages()); len(got) != 1 || got[0] != "Meet me at the Station" {
		t.Errorf("ann's text messages about the station = %q", got)
	}

	// An edit is found by its new text only; a recall not at all.
	if m := ann.reply(ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_EditMessage{EditMessage: &magpiev1.EditMessage{
		ConvId: meet.GetConvId(), Seq: meet.GetSeq(), Content: "Meet me at the airport"}}})).GetMessage(); m.GetEditedAtMs() == 0 {
		t.Fatalf("edit = %v", m)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/conversations/" + closed.GetConvId() + "/messages/" +
		strconv.FormatInt(closed.GetSeq(), 10) + ":recall"}); r.status != http.StatusOK {
		t.Fatalf("recall: %d %s", r.status, r.body)
	}

	// The server API finds what ann's client would.
	search := func(app testApp, user string, params url.Values) resp {
		return e.do(app, req{method: "GET", target: "/v1/users/" + user + "/messages/search?" + params.Encode()})
	}
	got, next := apiContents(t, search(e.a, "ann", url.Values{"q": {"station"}}))
	if len(got) != 1 || !strings.Contains(got[0], "station-map.pdf") || next != "" {
		t.Errorf("API search station after the edit and recall = %q, %q", got, next)
	}
	got, _ = apiContents(t, search(e.a, "ann", url.Values{"q": {"AIRPORT"}}))
	if len(got) != 1 || got[0] != "Meet me at the airport" {
		t.Errorf("API search airport = %q", got)
	}
	got, _ = apiContents(t, search(e.a, "bob", url.Values{"q": {"station"}, "conv_id": {"p:bob:cat"}}))
	if len(got) != 1 || got[0] != "station secret between bob and cat" {
		t.Errorf("bob's search in p:bob:cat = %q", got)
	}
	got, next = apiContents(t, search(e.a, "bob", url.Values{"q": {"station"}, "limit": {"1"}}))
	if len(got) != 1 || got[0] != "station secret between bob and cat" || next == "" {
		t.Fatalf("bob's first page = %q, %q", got, next)
	}
	got, next = apiContents(t, search(e.a, "bob", url.Values{"q": {"station"}, "limit": {"1"}, "cursor": {next}}))
	if len(got) != 1 || !strings.Contains(got[0], "station-map.pdf") {
		t.Errorf("bob's second page = %q, %q", got, next)
	}
	got, _ = apiContents(t, search(e.b, "ann", url.Values{"q": {"airport"}}))
	if len(got) != 0 {
		t.Errorf("app B's search for app A's airport = %q", got)
	}
	got, _ = apiContents(t, search(e.a, "ann", url.Values{"q": {"station"}, "types": {"file"},
		"from": {"2020-01-01T00:00:00Z"}, "to": {"2100-01-01T00:00:00Z"}}))
	if len(got) != 1 {
		t.Errorf("API search with types and times = %q", got)
	}
	for _, c := range []struct {
		name   string
		app    testApp
		user   string
		params url.Values
		status int
		code   string
	}{
		{"no q", e.a, "ann", url.Values{}, 400, "validation_failed"},
		{"empty q", e.a, "ann", url.Values{"q": {" - "}}, 400, "validation_failed"},
		{"long q", e.a, "ann", url.Values{"q": {strings.Repeat("x", 300)}}, 400, "validation_failed"},
		{"limit 0", e.a, "ann", url.Values{"q": {"station"}, "limit": {"0"}}, 400, "validation_failed"},
		{"limit 101", e.a, "ann", url.Values{"q": {"station"}, "limit": {"101"}}, 400, "validation_failed"},
		{"bad cursor", e.a, "ann", url.Values{"q": {"station"}, "cursor": {"%%%"}}, 400, "validation_failed"},
		{"bad from", e.a, "ann", url.Values{"q": {"station"}, "from": {"yesterday"}}, 400, "validation_failed"},
		{"bad type", e.a, "ann", url.Values{"q": {"station"}, "types": {"text,sticker"}}, 400, "validation_failed"},
		{"not a member", e.a, "ann", url.Values{"q": {"station"}, "conv_id": {"p:bob:cat"}}, 403, "forbidden"},
		{"no such user", e.a, "zed", url.Values{"q": {"station"}}, 404, "user_not_found"},
		{"user of another app", e.b, "cat", url.Values{"q": {"station"}}, 404, "user_not_found"},
	} {
		if r := search(c.app, c.user, c.params); r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
}
