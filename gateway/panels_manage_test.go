package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// manageCase is a management API request and the answer it must get.
type manageCase struct {
	method, path, body string
	status             int
	code, field        string
}

// checkManage runs cases as tok and checks status, code and field.
func (p *pushEnv) checkManage(t *testing.T, tok string, cases []manageCase) {
	t.Helper()
	for _, c := range cases {
		r := p.console(tok, c.method, c.path, c.body)
		if r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
			continue
		}
		if f, _ := r.json(t)["error"].(map[string]any)["field"].(string); c.field != "" && f != c.field {
			t.Errorf("%s %s: field %q, want %q", c.method, c.path, f, c.field)
		}
	}
}

// TestManageSearch drives the console's message search: the server API's
// search of one user's messages, in all its conversations or one, paged;
// viewers may search, bad input is refused, and another tenant's app is not
// found.
func TestManageSearch(t *testing.T) {
	p := newPushEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		p.mustCreateUser(p.b, u)
	}
	p.mustCreateUser(p.a, "ann")
	send := func(app testApp, from, to, content string) string {
		t.Helper()
		r := p.do(app, req{method: "POST", target: "/v1/messages",
			body: `{"from_user_id":"` + from + `","to_user_id":"` + to + `","type":"text","content":"` + content + `"}`})
		if r.status != http.StatusCreated {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
		return r.json(t)["message"].(map[string]any)["conv_id"].(string)
	}
	annBob := send(p.b, "ann", "bob", "the parcel is at the station")
	send(p.b, "bob", "ann", "which station?")
	annCat := send(p.b, "ann", "cat", "station lunch tomorrow")
	send(p.b, "bob", "cat", "station secret of bob and cat")
	send(p.a, "ann", "ann", "station in the other tenant's app")

	search := "/manage/v1/apps/" + p.b.ID + "/users/ann/messages/search"
	got, next := apiContents(t, p.console(p.view, "GET", search+"?q=station", ""))
	if strings.Join(got, "|") != "station lunch tomorrow|which station?|the parcel is at the station" || next != "" {
		t.Errorf("ann's search = %q, next %q", got, next)
	}
	// One conversation, in pages of one.
	var walked []string
	cursor := ""
	for range 4 {
		r := p.console(p.view, "GET", search+"?q=station&limit=1&conv_id="+url.QueryEscape(annBob)+"&cursor="+url.QueryEscape(cursor), "")
		page, n := apiContents(t, r)
		walked = append(walked, page...)
		if cursor = n; cursor == "" {
			break
		}
	}
	if strings.Join(walked, "|") != "which station?|the parcel is at the station" {
		t.Errorf("ann's search in %s, by pages = %q", annBob, walked)
	}
	if got, _ := apiContents(t, p.console(p.owner, "GET", search+"?q=lunch&conv_id="+url.QueryEscape(annCat), "")); len(got) != 1 {
		t.Errorf("search lunch in %s = %q", annCat, got)
	}
	p.checkManage(t, p.owner, []manageCase{
		{"GET", search, "", 400, "validation_failed", "q"},
		{"GET", search + "?q=station&limit=0", "", 400, "validation_failed", "limit"},
		{"GET", search + "?q=station&from=yesterday", "", 400, "validation_failed", "from"},
		{"GET", search + "?q=%22+*", "", 400, "validation_failed", ""},
		{"GET", search + "?q=station&cursor=junk", "", 400, "validation_failed", ""},
		{"GET", search + "?q=station&conv_id=p:bob:cat", "", 403, "forbidden", ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/users/nobody/messages/search?q=station", "", 404, "user_not_found", ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/users/bad%20id/messages/search?q=station", "", 400, "validation_failed", "id"},
	})
	// Another tenant's app: not found for its members, found by the operator.
	other := "/manage/v1/apps/" + p.a.ID + "/users/ann/messages/search?q=station"
	for _, tok := range []string{p.owner, p.view} {
		p.checkManage(t, tok, []manageCase{{"GET", other, "", 404, "not_found", ""}})
	}
	if got, _ := apiContents(t, p.console(p.op, "GET", other, "")); len(got) != 1 || got[0] != "station in the other tenant's app" {
		t.Errorf("operator's search of the other app = %q", got)
	}
}

// TestManageSupport drives the console's customer-service routes: agents
// with their load and online state, the queue and open sessions, transfer
// and close; viewers read only, bad input is refused, and another tenant's
// app is not found.
func TestManageSupport(t *testing.T) {
	p := newPushEnv(t)
	for _, u := range []string{"ann", "bob", "v1", "v2"} {
		p.mustCreateUser(p.b, u)
	}
	p.mustCreateUser(p.a, "ann")
	base := "/manage/v1/apps/" + p.b.ID + "/support"
	agent := func(tok, user, body string, status int) map[string]any {
		t.Helper()
		r := p.console(tok, "PUT", base+"/agents/"+user, body)
		if r.status != status {
			t.Fatalf("put agent %s: %d %s, want %d", user, r.status, r.body, status)
		}
		if status != http.StatusOK {
			return nil
		}
		return r.json(t)["agent"].(map[string]any)
	}
	if a := agent(p.admin, "ann", `{"skills":["billing"],"capacity":1,"available":true}`, http.StatusOK); a["capacity"] != 1.0 {
		t.Fatalf("ann = %v", a)
	}
	agent(p.owner, "bob", `{"skills":["billing"],"capacity":2,"available":true}`, http.StatusOK)
	agent(p.view, "bob", `{"capacity":5}`, http.StatusForbidden)
	listAgents := func() map[string]map[string]any {
		t.Helper()
		r := p.console(p.view, "GET", base+"/agents", "")
		if r.status != http.StatusOK {
			t.Fatalf("agents: %d %s", r.status, r.body)
		}
		out := map[string]map[string]any{}
		for _, a := range r.json(t)["agents"].([]any) {
			out[a.(map[string]any)["user_id"].(string)] = a.(map[string]any)
		}
		return out
	}
	if as := listAgents(); len(as) != 2 || as["ann"]["online"] != false || as["bob"]["capacity"] != 2.0 {
		t.Fatalf("agents = %v", as)
	}
	p.loginWith(p.mint(p.b, p.b.Secret, "ann", time.Hour, p.clock()), "ann-laptop")
	if as := listAgents(); as["ann"]["online"] != true || as["bob"]["online"] != false {
		t.Fatalf("agents with ann online = %v", as)
	}

	open := func(visitor string) map[string]any {
		t.Helper()
		r := p.do(p.b, req{method: "POST", target: "/v1/support/sessions", body: `{"visitor_id":"` + visitor + `","skill":"billing"}`})
		if r.status != http.StatusCreated {
			t.Fatalf("open for %s: %d %s", visitor, r.status, r.body)
		}
		return r.json(t)["session"].(map[string]any)
	}
	first, second := open("v1"), open("v2")
	if first["state"] != "active" || first["agent_id"] != "ann" || second["state"] != "waiting" {
		t.Fatalf("sessions = %v, %v", first, second)
	}
	sessions := func(query string) []any {
		t.Helper()
		r := p.console(p.view, "GET", base+"/sessions"+query, "")
		if r.status != http.StatusOK {
			t.Fatalf("sessions%s: %d %s", query, r.status, r.body)
		}
		return r.json(t)["sessions"].([]any)
	}
	if q := sessions("?state=waiting"); len(q) != 1 || q[0].(map[string]any)["visitor_id"] != "v2" {
		t.Errorf("queue = %v", q)
	}
	if open := sessions("?state=active"); len(open) != 1 || open[0].(map[string]any)["agent_id"] != "ann" {
		t.Errorf("open sessions = %v", open)
	}
	id1, id2 := first["id"].(string), second["id"].(string)
	// Viewers may not transfer or close.
	p.checkManage(t, p.view, []manageCase{
		{"POST", base + "/sessions/" + id2 + ":transfer", `{"agent_id":"bob"}`, 403, "forbidden", ""},
		{"POST", base + "/sessions/" + id1 + ":close", "", 403, "forbidden", ""},
		{"DELETE", base + "/agents/bob", "", 403, "forbidden", ""},
	})
	r := p.console(p.admin, "POST", base+"/sessions/"+id2+":transfer", `{"agent_id":"bob"}`)
	if s := r.json(t)["session"]; r.status != http.StatusOK || s.(map[string]any)["agent_id"] != "bob" || s.(map[string]any)["state"] != "active" {
		t.Fatalf("transfer to bob: %d %s", r.status, r.body)
	}
	r = p.console(p.owner, "POST", base+"/sessions/"+id1+":close", "")
	if s := r.json(t)["session"]; r.status != http.StatusOK || s.(map[string]any)["state"] != "closed" {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	if as := listAgents(); as["ann"]["active"] != 0.0 || as["bob"]["active"] != 1.0 {
		t.Errorf("agents' loads after the transfer and close = %v", as)
	}
	p.checkManage(t, p.owner, []manageCase{
		{"GET", base + "/sessions?state=bogus", "", 400, "validation_failed", "state"},
		{"GET", base + "/sessions?limit=0", "", 400, "validation_failed", "limit"},
		{"PUT", base + "/agents/ann", `{"capacity":0}`, 400, "validation_failed", "capacity"},
		{"PUT", base + "/agents/ann", `{"capacity":1,"x":1}`, 400, "unknown_field", ""},
		{"PUT", base + "/agents/ghost", `{"capacity":1}`, 404, "not_found", ""},
		{"POST", base + "/sessions/" + id2 + ":transfer", `{}`, 400, "validation_failed", "agent_id"},
		{"POST", base + "/sessions/" + id2 + ":transfer", `{"agent_id":"ghost"}`, 404, "not_found", ""},
		{"POST", base + "/sessions/" + id2 + ":frobnicate", "", 404, "route_not_found", ""},
		{"POST", base + "/sessions/ss_nope:close", "", 404, "not_found", ""},
		{"POST", base + "/sessions/" + id1 + ":close", "", 409, "conflict", ""},
		{"DELETE", base + "/agents/bob", "", 409, "conflict", ""},
	})
	// Another tenant's app: not found, and nothing changes.
	other := "/manage/v1/apps/" + p.a.ID + "/support"
	for _, tok := range []string{p.owner, p.view} {
		p.checkManage(t, tok, []manageCase{
			{"GET", other + "/agents", "", 404, "not_found", ""},
			{"PUT", other + "/agents/ann", `{"capacity":1}`, 404, "not_found", ""},
			{"DELETE", other + "/agents/ann", "", 404, "not_found", ""},
			{"GET", other + "/sessions", "", 404, "not_found", ""},
			{"POST", other + "/sessions/" + id2 + ":close", "", 404, "not_found", ""},
			{"POST", other + "/sessions/" + id2 + ":transfer", `{"agent_id":"ann"}`, 404, "not_found", ""},
		})
	}
	// The operator reaches the other app, whose sessions are its own.
	if r := p.console(p.op, "GET", other+"/sessions", ""); r.status != http.StatusOK || len(r.json(t)["sessions"].([]any)) != 0 {
		t.Errorf("operator's list of the other app: %d %s", r.status, r.body)
	}
	if r := p.console(p.op, "POST", other+"/sessions/"+id2+":close", ""); r.status != http.StatusNotFound {
		t.Errorf("close app B's session through app A: %d %s", r.status, r.body)
	}
	if s := sessions("?state=active"); len(s) != 1 || s[0].(map[string]any)["id"] != id2 {
		t.Errorf("open sessions at the end = %v", s)
	}
}

// TestManageRooms drives the console's chat rooms routes: rooms with their
// member counts, paged; closing one makes its members leave; viewers read
// only; another tenant's app is not found.
func TestManageRooms(t *testing.T) {
	p := newPushEnv(t)
	p.mustCreateUser(p.b, "ann")
	for _, id := range []string{"r1", "r2", "r3"} {
		if r := p.do(p.b, req{method: "POST", target: "/v1/rooms", body: `{"id":"` + id + `","name":"Room ` + id + `"}`}); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	if r := p.do(p.a, req{method: "POST", target: "/v1/rooms", body: `{"id":"r1","name":"Other tenant's"}`}); r.status != http.StatusCreated {
		t.Fatalf("create A's r1: %d %s", r.status, r.body)
	}
	ann := p.login(p.b, "ann", "d1")
	ann.joinRoom("r2", 0)
	rooms := "/manage/v1/apps/" + p.b.ID + "/rooms"
	r := p.console(p.view, "GET", rooms+"?limit=2", "")
	page := r.json(t)
	rs, _ := page["rooms"].([]any)
	if r.status != http.StatusOK || len(rs) != 2 || page["next_cursor"] == "" {
		t.Fatalf("page 1: %d %s", r.status, r.body)
	}
	if r1, r2 := rs[0].(map[string]any), rs[1].(map[string]any); r1["id"] != "r1" || r1["member_count"] != 0.0 || r2["member_count"] != 1.0 {
		t.Errorf("page 1 = %v", rs)
	}
	r = p.console(p.view, "GET", rooms+"?limit=2&cursor="+url.QueryEscape(page["next_cursor"].(string)), "")
	if rs := r.json(t)["rooms"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != "r3" || r.json(t)["next_cursor"] != "" {
		t.Errorf("page 2 = %s", r.body)
	}
	if r := p.console(p.view, "GET", rooms+"/r2", ""); r.status != http.StatusOK || r.json(t)["room"].(map[string]any)["member_count"] != 1.0 {
		t.Errorf("get r2: %d %s", r.status, r.body)
	}
	p.checkManage(t, p.view, []manageCase{{"DELETE", rooms + "/r2", "", 403, "forbidden", ""}})
	p.checkManage(t, p.owner, []manageCase{
		{"GET", rooms + "?limit=51", "", 400, "validation_failed", "limit"},
		{"GET", rooms + "?cursor=*", "", 400, "validation_failed", "cursor"},
		{"GET", rooms + "/nope", "", 404, "room_not_found", ""},
		{"GET", rooms + "/bad%20id", "", 404, "room_not_found", ""},
		{"DELETE", rooms + "/nope", "", 404, "room_not_found", ""},
	})
	other := "/manage/v1/apps/" + p.a.ID + "/rooms"
	for _, tok := range []string{p.owner, p.view} {
		p.checkManage(t, tok, []manageCase{
			{"GET", other, "", 404, "not_found", ""},
			{"GET", other + "/r1", "", 404, "not_found", ""},
			{"DELETE", other + "/r1", "", 404, "not_found", ""},
		})
	}
	if r := p.console(p.admin, "DELETE", rooms+"/r2", ""); r.status != http.StatusNoContent {
		t.Fatalf("close r2: %d %s", r.status, r.body)
	}
	ann.untilRoomEvent("left:r2:REASON_CLOSED")
	if r := p.console(p.view, "GET", rooms+"/r2", ""); r.status != http.StatusNotFound {
		t.Errorf("get a closed room: %d %s", r.status, r.body)
	}
	// The other tenant's room of the same id is untouched.
	if r := p.do(p.a, req{method: "GET", target: "/v1/rooms/r1"}); r.status != http.StatusOK {
		t.Errorf("A's r1 after B's calls: %d %s", r.status, r.body)
	}
}

// TestManageUserView drives what the console's user page shows besides the
// profile: whether the user is online, its push devices (tokens by their
// last characters only) and its conversations, paged; viewers may read,
// bad input is refused, and another tenant's app is not found.
func TestManageUserView(t *testing.T) {
	p := newPushEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		p.mustCreateUser(p.b, u)
	}
	p.mustCreateUser(p.a, "ann")
	p.mustRegister(p.b, "ann", "phone-1", androidDevice(fcmToken))
	for _, to := range []string{"bob", "cat"} {
		if r := p.do(p.b, req{method: "POST", target: "/v1/messages", body: `{"from_user_id":"ann","to_user_id":"` + to + `","type":"text","content":"hi"}`}); r.status != http.StatusCreated {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
	}
	user := "/manage/v1/apps/" + p.b.ID + "/users/ann"
	devices := func() map[string]any {
		t.Helper()
		r := p.console(p.view, "GET", user+"/devices", "")
		if r.status != http.StatusOK {
			t.Fatalf("devices: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	d := devices()
	ds := d["devices"].([]any)
	if d["online"] != false || len(ds) != 1 {
		t.Fatalf("devices of offline ann = %v", d)
	}
	if dev := ds[0].(map[string]any); dev["id"] != "phone-1" || dev["provider"] != "fcm" || dev["token_hint"] != fcmToken[len(fcmToken)-6:] || dev["token"] != nil {
		t.Errorf("device = %v, want phone-1 with only the token's last 6 characters", dev)
	}
	p.login(p.b, "ann", "laptop")
	if d := devices(); d["online"] != true {
		t.Errorf("devices of ann with a session = %v, want online", d)
	}

	r := p.console(p.view, "GET", user+"/conversations?limit=1", "")
	page := r.json(t)
	cs, _ := page["conversations"].([]any)
	if r.status != http.StatusOK || len(cs) != 1 || cs[0].(map[string]any)["conv_id"] != "p:ann:bob" || page["next_cursor"] == "" {
		t.Fatalf("conversations page 1: %d %s", r.status, r.body)
	}
	if cv := cs[0].(map[string]any); cv["max_seq"] != 1.0 || len(cv["members"].([]any)) != 2 {
		t.Errorf("p:ann:bob = %v", cv)
	}
	r = p.console(p.view, "GET", user+"/conversations?limit=1&cursor="+url.QueryEscape(page["next_cursor"].(string)), "")
	if cs := r.json(t)["conversations"].([]any); len(cs) != 1 || cs[0].(map[string]any)["conv_id"] != "p:ann:cat" || r.json(t)["next_cursor"] != "" {
		t.Errorf("conversations page 2: %s", r.body)
	}
	p.checkManage(t, p.owner, []manageCase{
		{"GET", user + "/conversations?limit=0", "", 400, "validation_failed", "limit"},
		{"GET", user + "/conversations?cursor=*", "", 400, "validation_failed", "cursor"},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/users/nobody/devices", "", 404, "user_not_found", ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/users/nobody/conversations", "", 404, "user_not_found", ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/users/bad%20id/devices", "", 400, "validation_failed", "id"},
	})
	other := "/manage/v1/apps/" + p.a.ID + "/users/ann"
	for _, tok := range []string{p.owner, p.view} {
		p.checkManage(t, tok, []manageCase{
			{"GET", other + "/devices", "", 404, "not_found", ""},
			{"GET", other + "/conversations", "", 404, "not_found", ""},
		})
	}
	// The other app's ann is another user: offline, no devices.
	if r := p.console(p.op, "GET", other+"/devices", ""); r.status != http.StatusOK || r.json(t)["online"] != false || len(r.json(t)["devices"].([]any)) != 0 {
		t.Errorf("operator's view of the other app's ann: %d %s", r.status, r.body)
	}
}
