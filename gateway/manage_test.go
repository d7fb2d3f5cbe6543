package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// console calls the management API with a bearer token (or none).
func (e *env) console(token, method, path, body string) resp {
	e.t.Helper()
	r, err := http.NewRequest(method, e.srv.URL+path, bytes.NewBufferString(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) consoleLogin(email, password string) string {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	r := e.console("", "POST", "/manage/v1/sessions", string(b))
	if r.status != http.StatusCreated {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	return r.json(e.t)["token"].(string)
}

func TestManagementAPI(t *testing.T) {
	e := newEnv(t)
	if r := e.console("", "POST", "/manage/v1/sessions", `{"email":"op@example.com","password":"wrong-password"}`); r.status != http.StatusUnauthorized || r.code(t) != "bad_credentials" {
		t.Fatalf("bad login: %d %s", r.status, r.body)
	}
	if r := e.console("", "GET", "/manage/v1/me", ""); r.status != http.StatusUnauthorized || r.code(t) != "unauthenticated" {
		t.Fatalf("no auth: %d %s", r.status, r.body)
	}
	op := e.consoleLogin("OP@example.com", e.boot.OperatorPassword)

	r := e.console(op, "POST", "/manage/v1/tenants", `{"name":"Acme"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	acme := r.json(t)["tenant"].(map[string]any)["id"].(string)
	r = e.console(op, "POST", "/manage/v1/tenants/"+acme+"/members",
		`{"email":"owner@acme.test","name":"Owner","role":"owner","password":"correct horse battery"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create member: %d %s", r.status, r.body)
	}
	owner := e.consoleLogin("owner@acme.test", "correct horse battery")

	r = e.console(owner, "POST", "/manage/v1/tenants/"+acme+"/apps", `{"name":"Chat"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.status, r.body)
	}
	m := r.json(t)
	appID := m["app"].(map[string]any)["id"].(string)
	app := testApp{ID: appID, Key: m["app"].(map[string]any)["app_key"].(string), Secret: m["secret"].(map[string]any)["secret"].(string)}
	if r := e.do(app, req{method: "POST", target: "/v1/users", body: `{"id":"zed"}`}); r.status != http.StatusCreated {
		t.Fatalf("new app's secret does not sign: %d %s", r.status, r.body)
	}

	// Secrets are shown once: listing shows hints only.
	r = e.console(owner, "GET", "/manage/v1/apps/"+appID+"/secrets", "")
	if bytes.Contains(r.body, []byte(app.Secret)) {
		t.Fatalf("secret listing reveals the secret: %s", r.body)
	}
	r = e.console(owner, "POST", "/manage/v1/apps/"+appID+"/secrets", "")
	if r.status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r := e.console(owner, "POST", "/manage/v1/apps/"+appID+"/secrets", ""); r.status != http.StatusConflict || r.code(t) != "too_many_secrets" {
		t.Fatalf("third secret: %d %s", r.status, r.body)
	}

	r = e.console(owner, "PATCH", "/manage/v1/apps/"+appID, `{"limits":{"max_message_bytes":4096,"api_rate":10},"settings":{"device_policy":"refuse"}}`)
	if r.status != http.StatusOK {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	eff := r.json(t)["app"].(map[string]any)["effective_limits"].(map[string]any)
	if eff["max_message_bytes"].(float64) != 4096 || eff["max_devices_per_user"].(float64) != 5 {
		t.Fatalf("effective limits = %v", eff)
	}
	for _, body := range []string{`{"limits":{"max_message_bytes":-1}}`, `{"settings":{"device_policy":"maybe"}}`, `{"color":"red"}`} {
		if r := e.console(owner, "PATCH", "/manage/v1/apps/"+appID, body); r.status != http.StatusBadRequest {
			t.Fatalf("patch %s: %d %s, want 400", body, r.status, r.body)
		}
	}

	// The owner of Acme cannot see or touch the demo tenant's app.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/manage/v1/apps/" + e.a.ID, ""},
		{"PATCH", "/manage/v1/apps/" + e.a.ID, `{"disabled":true}`},
		{"GET", "/manage/v1/apps/" + e.a.ID + "/secrets", ""},
		{"POST", "/manage/v1/apps/" + e.a.ID + "/secrets", ""},
		{"DELETE", "/manage/v1/apps/" + e.a.ID + "/secrets/sec_x", ""},
		{"GET", "/manage/v1/tenants/" + e.a.TenantID + "/apps", ""},
		{"POST", "/manage/v1/tenants/" + e.a.TenantID + "/apps", `{"name":"x"}`},
	} {
		if r := e.console(owner, c.method, c.path, c.body); r.status != http.StatusNotFound {
			t.Fatalf("cross-tenant %s %s = %d %s, want 404", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.console(owner, "POST", "/manage/v1/tenants/"+e.a.TenantID+"/members", `{"email":"x@y.z","role":"owner","password":"long enough pass"}`); r.status != http.StatusForbidden {
		t.Fatalf("cross-tenant member: %d %s", r.status, r.body)
	}
	if r := e.console(owner, "POST", "/manage/v1/tenants", `{"name":"Mine"}`); r.status != http.StatusForbidden {
		t.Fatalf("owner creating tenant: %d %s", r.status, r.body)
	}

	// A viewer can look but not change.
	e.console(op, "POST", "/manage/v1/tenants/"+acme+"/members", `{"email":"viewer@acme.test","role":"viewer","password":"correct horse battery"}`)
	viewer := e.consoleLogin("viewer@acme.test", "correct horse battery")
	if r := e.console(viewer, "GET", "/manage/v1/apps/"+appID, ""); r.status != http.StatusOK {
		t.Fatalf("viewer get: %d %s", r.status, r.body)
	}
	if r := e.console(viewer, "PATCH", "/manage/v1/apps/"+appID, `{"disabled":true}`); r.status != http.StatusForbidden {
		t.Fatalf("viewer patch: %d %s", r.status, r.body)
	}

	// Logout ends the session.
	if r := e.console(owner, "DELETE", "/manage/v1/sessions/current", ""); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := e.console(owner, "GET", "/manage/v1/me", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d %s", r.status, r.body)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := e.console("", "GET", p, ""); r.status != http.StatusOK {
			t.Fatalf("%s = %d %s", p, r.status, r.body)
		}
	}
	if r := e.console("", "GET", "/console/", ""); r.status != http.StatusOK || !bytes.Contains(r.body, []byte("/manage/v1")) {
		t.Fatalf("/console/ = %d %s", r.status, r.body)
	}
	// The web console's assets, through the gateway's router.
	for path, ctype := range map[string]string{
		"/console/app.js": "text/javascript; charset=utf-8", "/console/style.css": "text/css; charset=utf-8",
		"/console/apps/app_x": "text/html; charset=utf-8",
	} {
		r := e.console("", "GET", path, "")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != ctype || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("%s = %d %q %q", path, r.status, r.header.Get("Content-Type"), r.header.Get("Content-Security-Policy"))
		}
	}
	if r := e.console("", "GET", "/console/missing.js", ""); r.status != http.StatusNotFound {
		t.Fatalf("/console/missing.js = %d %s", r.status, r.body)
	}
	e.store.Close()
	if r := e.console("", "GET", "/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with closed store = %d %s", r.status, r.body)
	}
}

func TestManagementBadInput(t *testing.T) {
	e := newEnv(t)
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	tid, aid := e.a.TenantID, e.a.ID
	tests := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/manage/v1/sessions", `{"email":"op@example.com"`, 400, "invalid_json"},
		{"POST", "/manage/v1/sessions", `{"email":"op@example.com","password":"x","otp":1}`, 400, "unknown_field"},
		{"POST", "/manage/v1/tenants", `{"name":""}`, 400, "validation_failed"},
		{"POST", "/manage/v1/tenants", `{"title":"Acme"}`, 400, "unknown_field"},
		{"POST", "/manage/v1/tenants/" + tid + "/members", `{"email":"x@y.z","role":"operator","password":"long enough pass"}`, 400, "validation_failed"},
		{"POST", "/manage/v1/tenants/" + tid + "/members", `{"email":"not an email","role":"admin","password":"long enough pass"}`, 400, "validation_failed"},
		{"POST", "/manage/v1/tenants/" + tid + "/members", `{"email":"x@y.z","role":"admin","password":"short"}`, 400, "validation_failed"},
		{"POST", "/manage/v1/tenants/" + tid + "/apps", `{"name":"` + strings.Repeat("n", 200) + `"}`, 400, "validation_failed"},
		{"POST", "/manage/v1/tenants/tn_missing/apps", `{"name":"x"}`, 404, "not_found"},
		{"GET", "/manage/v1/tenants/" + tid + "/apps?limit=500", "", 400, "validation_failed"},
		{"GET", "/manage/v1/apps/app_missing", "", 404, "not_found"},
		{"PATCH", "/manage/v1/apps/" + aid, `{"limits":{"max_devices_per_user":1000}}`, 400, "validation_failed"},
		{"PATCH", "/manage/v1/apps/" + aid, `{"limits":"fast"}`, 400, "validation_failed"},
		{"POST", "/manage/v1/apps/app_missing/secrets", "", 404, "not_found"},
		{"DELETE", "/manage/v1/apps/" + aid + "/secrets/sec_missing", "", 404, "not_found"},
	}
	for _, tt := range tests {
		r := e.console(op, tt.method, tt.path, tt.body)
		if r.status != tt.status || r.code(t) != tt.code {
			t.Errorf("%s %s %s = %d %s, want %d %s", tt.method, tt.path, tt.body, r.status, r.body, tt.status, tt.code)
		}
	}
	// Nothing was created by the rejected calls.
	r := e.console(op, "GET", "/manage/v1/tenants", "")
	if n := len(r.json(t)["tenants"].([]any)); n != 2 {
		t.Fatalf("%d tenants after rejected calls, want the 2 the test started with", n)
	}
}
