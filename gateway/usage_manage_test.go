package gateway_test

import (
	"net/http"
	"testing"
)

// TestUsageRoute: server API calls of app B are counted, flushed and read
// back per day by B's members (viewers included), never by another
// tenant's; bad ranges are refused.
func TestUsageRoute(t *testing.T) {
	e := newEnvConfig(t, envConfig{usage: true})
	usage := e.usage
	p := &pushEnv{env: e, op: e.consoleLogin("op@example.com", e.boot.OperatorPassword)}
	addMembers(t, p)
	for range 3 {
		if r := e.do(e.b, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
			t.Fatalf("list users: %d %s", r.status, r.body)
		}
	}
	if err := usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	today := e.clock().UTC().Format("2006-01-02")
	for _, tok := range []string{p.owner, p.view, p.op} {
		r := e.console(tok, "GET", "/manage/v1/apps/"+e.b.ID+"/usage", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET usage: %d %s", r.status, r.body)
		}
		m := r.json(t)
		days := m["days"].([]any)
		if len(days) != 30 || m["to"] != today {
			t.Fatalf("GET usage = %d days to %v, want 30 to %s", len(days), m["to"], today)
		}
		last := days[29].(map[string]any)
		if last["day"] != today || last["api_calls"] != float64(3) || days[0].(map[string]any)["api_calls"] != float64(0) {
			t.Errorf("GET usage: last day %v, first %v; want 3 API calls today, none before", last, days[0])
		}
	}
	// App A's usage (another tenant) is not B's members' to see.
	if r := e.console(p.owner, "GET", "/manage/v1/apps/"+e.a.ID+"/usage", ""); r.status != http.StatusNotFound {
		t.Errorf("GET another tenant's usage: %d %s, want 404", r.status, r.body)
	}
	if r := e.console(p.op, "GET", "/manage/v1/apps/"+e.a.ID+"/usage?from="+today+"&to="+today, ""); r.status != http.StatusOK ||
		r.json(t)["days"].([]any)[0].(map[string]any)["api_calls"] != float64(0) {
		t.Errorf("GET app A's usage: %d %s, want no API calls", r.status, r.body)
	}
	for _, q := range []struct{ query, field string }{
		{"from=yesterday", "from"},
		{"to=2026-13-01", "to"},
		{"from=2026-02-01&to=2026-01-01", "from"},
		{"from=2024-01-01&to=2026-01-01", "from"},
	} {
		r := e.console(p.owner, "GET", "/manage/v1/apps/"+e.b.ID+"/usage?"+q.query, "")
		if r.status != http.StatusBadRequest || r.json(t)["error"].(map[string]any)["field"] != q.field {
			t.Errorf("GET usage?%s: %d %s, want 400 naming %s", q.query, r.status, r.body, q.field)
		}
	}
	if r := e.console("", "GET", "/manage/v1/apps/"+e.b.ID+"/usage", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET usage without a session: %d, want 401", r.status)
	}
}

// TestPushLogAndOutboxRoutes: B's members read B's push log and outbox,
// another tenant's member gets 404, bad parameters 400.
func TestPushLogAndOutboxRoutes(t *testing.T) {
	p := newPushEnv(t)
	e := p.env
	for _, path := range []string{"/push/log", "/push/log?user_id=alice", "/push/log?conv_id=p:a:b&seq=3", "/push/outbox", "/push/outbox?user_id=alice"} {
		for _, tok := range []string{p.view, p.admin} {
			r := e.console(tok, "GET", "/manage/v1/apps/"+e.b.ID+path, "")
			if r.status != http.StatusOK {
				t.Errorf("GET %s: %d %s, want 200", path, r.status, r.body)
				continue
			}
			if m := r.json(t); m["entries"] == nil || m["next_cursor"] != "" {
				t.Errorf("GET %s = %s, want an empty page", path, r.body)
			}
		}
		if r := e.console(p.owner, "GET", "/manage/v1/apps/"+e.a.ID+path, ""); r.status != http.StatusNotFound {
			t.Errorf("GET app A's %s as B's owner: %d, want 404", path, r.status)
		}
	}
	for _, q := range []struct{ path, field string }{
		{"/push/log?seq=1", "seq"},
		{"/push/log?conv_id=c&seq=-1", "seq"},
		{"/push/log?limit=0", "limit"},
		{"/push/outbox?cursor=!!", "cursor"},
	} {
		r := e.console(p.owner, "GET", "/manage/v1/apps/"+e.b.ID+q.path, "")
		if r.status != http.StatusBadRequest || r.json(t)["error"].(map[string]any)["field"] != q.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", q.path, r.status, r.body, q.field)
		}
	}
}

// addMembers adds an owner, an admin and a viewer to app B's tenant.
func addMembers(t *testing.T, p *pushEnv) {
	t.Helper()
	for _, m := range []struct {
		role string
		tok  *string
	}{{"owner", &p.owner}, {"admin", &p.admin}, {"viewer", &p.view}} {
		email := m.role + "@other.test"
		r := p.console(p.op, "POST", "/manage/v1/tenants/"+p.b.TenantID+"/members",
			`{"email":"`+email+`","role":"`+m.role+`","password":"correct horse battery"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", m.role, r.status, r.body)
		}
		*m.tok = p.consoleLogin(email, "correct horse battery")
	}
}
