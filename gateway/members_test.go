package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/gateway"
)

// addMember adds a member to a tenant as the given console token and
// returns its id.
func (e *env) addMember(token, tenantID, email, role, password string) string {
	e.t.Helper()
	r := e.console(token, "POST", "/manage/v1/tenants/"+tenantID+"/members",
		fmt.Sprintf(`{"email":%q,"name":"N","role":%q,"password":%q}`, email, role, password))
	if r.status != http.StatusCreated {
		e.t.Fatalf("add %s as %s to %s: %d %s", email, role, tenantID, r.status, r.body)
	}
	return r.json(e.t)["member"].(map[string]any)["id"].(string)
}

// meOf returns the tenant id and member id that a token authenticates.
func (e *env) meOf(token string) (tenantID, memberID string) {
	e.t.Helper()
	r := e.console(token, "GET", "/manage/v1/me", "")
	if r.status != http.StatusOK {
		e.t.Fatalf("me: %d %s", r.status, r.body)
	}
	m := r.json(e.t)["member"].(map[string]any)
	tid, _ := m["tenant_id"].(string)
	return tid, m["id"].(string)
}

// TestMemberEmailUniquePerTenant: adding a member whose email has an account
// in another tenant succeeds (a 409 would tell the tenant's owner who else
// has an account); only the same email twice in one tenant conflicts, and
// each account logs in with its own password.
func TestMemberEmailUniquePerTenant(t *testing.T) {
	e := newEnv(t)
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	inA := e.addMember(op, e.a.TenantID, "ann@example.com", "owner", "password of ann in A")
	inB := e.addMember(op, e.b.TenantID, "Ann@Example.com", "viewer", "password of ann in B")

	r := e.console(op, "POST", "/manage/v1/tenants/"+e.a.TenantID+"/members",
		`{"email":"ANN@example.com","role":"viewer","password":"another password"}`)
	if r.status != http.StatusConflict || r.code(t) != "conflict" {
		t.Fatalf("same email twice in one tenant = %d %s, want 409 conflict", r.status, r.body)
	}
	for _, tc := range []struct{ password, tenant, member string }{
		{"password of ann in A", e.a.TenantID, inA},
		{"password of ann in B", e.b.TenantID, inB},
	} {
		tid, mid := e.meOf(e.consoleLogin("ann@example.com", tc.password))
		if tid != tc.tenant || mid != tc.member {
			t.Errorf("login with %q = member %s of %s, want %s of %s", tc.password, mid, tid, tc.member, tc.tenant)
		}
	}
}

// logBuffer collects JSON log lines; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// audits returns the "audit" records logged so far.
func (b *logBuffer) audits(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "audit" {
			out = append(out, rec)
		}
	}
	return out
}

func withLog(b *logBuffer) func(*gateway.Config) {
	return func(c *gateway.Config) { c.Logger = slog.New(slog.NewJSONHandler(b, nil)) }
}

// acme is a tenant with one member of each role, logged in.
type acme struct {
	tenant                            string
	owner, admin, viewer              string // member ids
	ownerTok, adminTok, viewerTok, op string // session tokens
}

func newAcme(e *env) acme {
	e.t.Helper()
	a := acme{tenant: e.a.TenantID, op: e.consoleLogin("op@example.com", e.boot.OperatorPassword)}
	a.owner = e.addMember(a.op, a.tenant, "owner@acme.test", "owner", "owner password!")
	a.admin = e.addMember(a.op, a.tenant, "admin@acme.test", "admin", "admin password!")
	a.viewer = e.addMember(a.op, a.tenant, "viewer@acme.test", "viewer", "viewer password!")
	a.ownerTok = e.consoleLogin("owner@acme.test", "owner password!")
	a.adminTok = e.consoleLogin("admin@acme.test", "admin password!")
	a.viewerTok = e.consoleLogin("viewer@acme.test", "viewer password!")
	return a
}

func (a acme) member(id string) string { return "/manage/v1/tenants/" + a.tenant + "/members/" + id }

// TestMemberPermissions: owners and admins manage members, viewers do not;
// an admin cannot touch owners or grant the owner role; members of other
// tenants get 404.
func TestMemberPermissions(t *testing.T) {
	e := newEnv(t)
	a := newAcme(e)
	otherOwner := e.addMember(a.op, e.b.TenantID, "owner@other.test", "owner", "other owner pass")
	other := e.consoleLogin("owner@other.test", "other owner pass")
	tests := []struct {
		name         string
		token        string
		method, path string
		body         string
		status       int
		code         string
	}{
		{"viewer lists", a.viewerTok, "GET", "/manage/v1/tenants/" + a.tenant + "/members", "", 200, ""},
		{"viewer renames", a.viewerTok, "PATCH", a.member(a.admin), `{"name":"X"}`, 403, "forbidden"},
		{"viewer removes", a.viewerTok, "DELETE", a.member(a.admin), "", 403, "forbidden"},
		{"viewer resets", a.viewerTok, "POST", a.member(a.admin) + ":reset-password", "", 403, "forbidden"},
		{"viewer ends sessions", a.viewerTok, "DELETE", a.member(a.admin) + "/sessions", "", 403, "forbidden"},
		{"viewer adds", a.viewerTok, "POST", "/manage/v1/tenants/" + a.tenant + "/members", `{"email":"v2@acme.test","role":"viewer","password":"long enough pass"}`, 403, "forbidden"},
		{"admin demotes owner", a.adminTok, "PATCH", a.member(a.owner), `{"role":"viewer"}`, 403, "forbidden"},
		{"admin removes owner", a.adminTok, "DELETE", a.member(a.owner), "", 403, "forbidden"},
		{"admin resets owner", a.adminTok, "POST", a.member(a.owner) + ":reset-password", "", 403, "forbidden"},
		{"admin ends owner's sessions", a.adminTok, "DELETE", a.member(a.owner) + "/sessions", "", 403, "forbidden"},
		{"admin grants owner", a.adminTok, "PATCH", a.member(a.viewer), `{"role":"owner"}`, 403, "forbidden"},
		{"admin adds owner", a.adminTok, "POST", "/manage/v1/tenants/" + a.tenant + "/members", `{"email":"o2@acme.test","role":"owner","password":"long enough pass"}`, 403, "forbidden"},
		{"admin grants admin", a.adminTok, "PATCH", a.member(a.viewer), `{"role":"admin"}`, 200, ""},
		{"admin adds viewer", a.adminTok, "POST", "/manage/v1/tenants/" + a.tenant + "/members", `{"email":"v3@acme.test","role":"viewer","password":"long enough pass"}`, 201, ""},
		{"owner renames admin", a.ownerTok, "PATCH", a.member(a.admin), `{"name":"Ada"}`, 200, ""},
		{"bad role", a.ownerTok, "PATCH", a.member(a.admin), `{"role":"operator"}`, 400, "validation_failed"},
		{"unknown field", a.ownerTok, "PATCH", a.member(a.admin), `{"email":"x@y.z"}`, 400, "unknown_field"},
		{"unknown action", a.ownerTok, "POST", a.member(a.admin) + ":explode", "", 404, "route_not_found"},
		{"no such member", a.ownerTok, "PATCH", a.member("mem_missing"), `{"name":"X"}`, 404, "not_found"},
		{"other tenant lists", other, "GET", "/manage/v1/tenants/" + a.tenant + "/members", "", 404, "not_found"},
		{"other tenant renames", other, "PATCH", a.member(a.admin), `{"name":"X"}`, 404, "not_found"},
		{"other tenant removes", other, "DELETE", a.member(a.admin), "", 404, "not_found"},
		{"other tenant resets", other, "POST", a.member(a.admin) + ":reset-password", "", 404, "not_found"},
		{"other tenant ends sessions", other, "DELETE", a.member(a.admin) + "/sessions", "", 404, "not_found"},
		{"member through own tenant path", other, "DELETE", "/manage/v1/tenants/" + e.b.TenantID + "/members/" + a.admin, "", 404, "not_found"},
		{"owner reaches other tenant's member", a.ownerTok, "DELETE", "/manage/v1/tenants/" + a.tenant + "/members/" + otherOwner, "", 404, "not_found"},
		{"operator lists missing tenant", a.op, "GET", "/manage/v1/tenants/tn_missing/members", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.console(tt.token, tt.method, tt.path, tt.body)
			if r.status != tt.status || (tt.code != "" && r.code(t) != tt.code) {
				t.Errorf("%s %s %s = %d %s, want %d %s", tt.method, tt.path, tt.body, r.status, r.body, tt.status, tt.code)
			}
		})
	}
	// The refused calls changed nothing.
	r := e.console(a.op, "GET", "/manage/v1/tenants/"+a.tenant+"/members", "")
	roles := map[string]string{}
	for _, m := range r.json(t)["members"].([]any) {
		mm := m.(map[string]any)
		roles[mm["email"].(string)] = mm["role"].(string)
	}
	want := map[string]string{"owner@acme.test": "owner", "admin@acme.test": "admin", "viewer@acme.test": "admin", "v3@acme.test": "viewer"}
	if !maps.Equal(roles, want) {
		t.Fatalf("members after the table = %v, want %v", roles, want)
	}
}

// TestLastOwner: a tenant's last owner can be neither demoted nor removed,
// by anyone; with a second owner, both can.
func TestLastOwner(t *testing.T) {
	e := newEnv(t)
	a := newAcme(e)
	for _, tc := range []struct{ token, method, body string }{
		{a.ownerTok, "PATCH", `{"role":"admin"}`},
		{a.ownerTok, "DELETE", ""},
		{a.op, "PATCH", `{"role":"viewer"}`},
		{a.op, "DELETE", ""},
	} {
		wantStatus(t, tc.method+" last owner", e.console(tc.token, tc.method, a.member(a.owner), tc.body), 409, "last_owner")
	}
	wantStatus(t, "promote admin", e.console(a.ownerTok, "PATCH", a.member(a.admin), `{"role":"owner"}`), 200, "")
	wantStatus(t, "demote the first owner", e.console(a.adminTok, "PATCH", a.member(a.owner), `{"role":"admin"}`), 200, "")
	wantStatus(t, "demote the second, now last, owner", e.console(a.op, "PATCH", a.member(a.admin), `{"role":"viewer"}`), 409, "last_owner")
}

// TestRemoveMember: a removed member's sessions and password stop working
// at once, Basic credentials remembered from before included.
func TestRemoveMember(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withLog(&logs))
	a := newAcme(e)
	adminBasic := map[string]string{"Authorization": basic("admin@acme.test", "admin password!")}
	wantStatus(t, "admin's Basic before", e.consoleWith("GET", "/manage/v1/me", "", adminBasic), 200, "")
	second := e.consoleLogin("admin@acme.test", "admin password!")

	wantStatus(t, "owner removes admin", e.console(a.ownerTok, "DELETE", a.member(a.admin), ""), 204, "")
	for _, tok := range []string{a.adminTok, second} {
		wantStatus(t, "removed admin's session", e.console(tok, "GET", "/manage/v1/me", ""), 401, "unauthenticated")
	}
	wantStatus(t, "removed admin's Basic", e.consoleWith("GET", "/manage/v1/me", "", adminBasic), 401, "unauthenticated")
	wantStatus(t, "removed admin's login", e.consoleLoginAs("admin@acme.test", "admin password!", "", ""), 401, "bad_credentials")
	wantStatus(t, "remove again", e.console(a.ownerTok, "DELETE", a.member(a.admin), ""), 404, "not_found")
	wantAudit(t, &logs, "member.remove", a.owner, a.tenant, a.admin)
}

// TestResetPassword: a reset ends every session of the member at once and
// its old password (Basic included) stops working; the new one, shown once,
// works.
func TestResetPassword(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withLog(&logs))
	a := newAcme(e)
	viewerBasic := map[string]string{"Authorization": basic("viewer@acme.test", "viewer password!")}
	wantStatus(t, "viewer's Basic before", e.consoleWith("GET", "/manage/v1/me", "", viewerBasic), 200, "")

	r := e.console(a.adminTok, "POST", a.member(a.viewer)+":reset-password", "")
	wantStatus(t, "admin resets viewer", r, 200, "")
	body := r.json(t)
	password, _ := body["password"].(string)
	if len(password) < 12 || body["sessions_ended"].(float64) != 1 {
		t.Fatalf("reset answer %s: want a new password and 1 session ended", r.body)
	}
	wantStatus(t, "viewer's session after reset", e.console(a.viewerTok, "GET", "/manage/v1/me", ""), 401, "unauthenticated")
	wantStatus(t, "viewer's old Basic after reset", e.consoleWith("GET", "/manage/v1/me", "", viewerBasic), 401, "unauthenticated")
	wantStatus(t, "viewer's old password", e.consoleLoginAs("viewer@acme.test", "viewer password!", "", ""), 401, "bad_credentials")
	e.consoleLogin("viewer@acme.test", password)
	wantAudit(t, &logs, "member.reset_password", a.admin, a.tenant, a.viewer)
	if strings.Contains(logs.String(), password) {
		t.Fatal("the new password was logged")
	}
}

// TestEndMemberSessions: ending a member's sessions logs out all of its
// sessions; its password keeps working.
func TestEndMemberSessions(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withLog(&logs))
	a := newAcme(e)
	second := e.consoleLogin("admin@acme.test", "admin password!")
	r := e.console(a.ownerTok, "DELETE", a.member(a.admin)+"/sessions", "")
	wantStatus(t, "owner ends admin's sessions", r, 200, "")
	if n := r.json(t)["sessions_ended"]; n != float64(2) {
		t.Fatalf("sessions_ended = %v, want 2", n)
	}
	for _, tok := range []string{a.adminTok, second} {
		wantStatus(t, "ended session", e.console(tok, "GET", "/manage/v1/me", ""), 401, "unauthenticated")
	}
	wantStatus(t, "owner's own session", e.console(a.ownerTok, "GET", "/manage/v1/me", ""), 200, "")
	e.consoleLogin("admin@acme.test", "admin password!")
	wantAudit(t, &logs, "member.end_sessions", a.owner, a.tenant, a.admin)
}

// TestChangeOwnPassword: a member changes its own password given the
// current one; its other sessions end, the current one stays.
func TestChangeOwnPassword(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withLog(&logs))
	a := newAcme(e)
	other := e.consoleLogin("viewer@acme.test", "viewer password!")
	tests := []struct {
		body   string
		status int
		code   string
	}{
		{`{"current_password":"not my password","new_password":"a new password!"}`, 400, "validation_failed"},
		{`{"current_password":"viewer password!","new_password":"short"}`, 400, "validation_failed"},
		{`{"current_password":"viewer password!"}`, 400, "validation_failed"},
		{`{"current_password":"viewer password!","new_password":"a new password!","otp":1}`, 400, "unknown_field"},
	}
	for _, tt := range tests {
		wantStatus(t, "change password "+tt.body, e.console(a.viewerTok, "POST", "/manage/v1/me/password", tt.body), tt.status, tt.code)
	}
	r := e.console(a.viewerTok, "POST", "/manage/v1/me/password", `{"current_password":"viewer password!","new_password":"a new password!"}`)
	wantStatus(t, "change password", r, 200, "")
	if n := r.json(t)["sessions_ended"]; n != float64(1) {
		t.Fatalf("sessions_ended = %v, want 1", n)
	}
	wantStatus(t, "current session", e.console(a.viewerTok, "GET", "/manage/v1/me", ""), 200, "")
	wantStatus(t, "other session", e.console(other, "GET", "/manage/v1/me", ""), 401, "unauthenticated")
	wantStatus(t, "old password", e.consoleLoginAs("viewer@acme.test", "viewer password!", "", ""), 401, "bad_credentials")
	e.consoleLogin("viewer@acme.test", "a new password!")

	// With Basic credentials there is no current session: all end.
	h := map[string]string{"Authorization": basic("viewer@acme.test", "a new password!")}
	r = e.consoleWith("POST", "/manage/v1/me/password", `{"current_password":"a new password!","new_password":"a third password"}`, h)
	wantStatus(t, "change password with Basic", r, 200, "")
	wantStatus(t, "session after a Basic change", e.console(a.viewerTok, "GET", "/manage/v1/me", ""), 401, "unauthenticated")
	wantAudit(t, &logs, "member.change_password", a.viewer, a.tenant, a.viewer)
	for _, pw := range []string{"viewer password!", "a new password!", "a third password"} {
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("password %q was logged", pw)
		}
	}
}

// TestChangeOwnPasswordThrottled: wrong current passwords count like failed
// logins.
func TestChangeOwnPasswordThrottled(t *testing.T) {
	e := newEnv(t)
	a := newAcme(e)
	body := `{"current_password":"guessed password","new_password":"a new password!"}`
	for range 5 {
		wantStatus(t, "wrong current password", e.console(a.viewerTok, "POST", "/manage/v1/me/password", body), 400, "validation_failed")
	}
	r := e.console(a.viewerTok, "POST", "/manage/v1/me/password", `{"current_password":"viewer password!","new_password":"a new password!"}`)
	wantStatus(t, "right current password while locked out", r, 429, "rate_limited")
}

// wantAudit fails unless the log has an audit record of action by actor on
// target in tenant.
func wantAudit(t *testing.T, logs *logBuffer, action, actor, tenantID, target string) {
	t.Helper()
	for _, rec := range logs.audits(t) {
		if rec["action"] == action && rec["actor_id"] == actor && rec["tenant_id"] == tenantID && rec["target_id"] == target {
			if rec["request_id"] == "" || rec["request_id"] == nil {
				t.Errorf("audit record %v has no request_id", rec)
			}
			return
		}
	}
	t.Errorf("no audit record of %s by %s on %s in %s; audit log: %v", action, actor, target, tenantID, logs.audits(t))
}
