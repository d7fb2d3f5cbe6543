package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
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
