package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/pushtest"
)

// pushEnv is an env whose push service reaches FCM's token endpoint at an
// FCM mock, with a member of each role in app B's tenant.
type pushEnv struct {
	*env
	apns  *pushtest.APNs
	fcm   *pushtest.FCM
	op    string // the operator's session
	owner string // owner of app B's tenant
	admin string // admin of app B's tenant
	view  string // viewer of app B's tenant
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	apns, fcm := pushtest.NewAPNs(t), pushtest.NewFCM(t)
	e := newEnvConfig(t, envConfig{pushEndpoints: push.Endpoints{APNsHost: apns.URL(), FCMEndpoint: fcm.URL(), RootCAs: fcm.RootCAs()}})
	p := &pushEnv{env: e, apns: apns, fcm: fcm, op: e.consoleLogin("op@example.com", e.boot.OperatorPassword)}
	for _, m := range []struct {
		role string
		tok  *string
	}{{"owner", &p.owner}, {"admin", &p.admin}, {"viewer", &p.view}} {
		email := m.role + "@other.test"
		r := e.console(p.op, "POST", "/manage/v1/tenants/"+e.b.TenantID+"/members",
			`{"email":"`+email+`","role":"`+m.role+`","password":"correct horse battery"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", m.role, r.status, r.body)
		}
		*m.tok = e.consoleLogin(email, "correct horse battery")
	}
	return p
}

func (p *pushEnv) apnsBody() string {
	c := p.apns.Credential()
	b, _ := json.Marshal(map[string]string{"key": string(c.Key), "key_id": c.KeyID, "team_id": c.TeamID, "topic": c.Topic})
	return string(b)
}

func (p *pushEnv) fcmBody() string {
	return `{"service_account":` + string(p.fcm.ServiceAccountJSON()) + `}`
}

// serviceAccount returns the mock's service account with fields replaced
// (nil removes one).
func (p *pushEnv) serviceAccount(t *testing.T, edits map[string]any) map[string]any {
	t.Helper()
	var sa map[string]any
	if err := json.Unmarshal(p.fcm.ServiceAccountJSON(), &sa); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		if v == nil {
			delete(sa, k)
		} else {
			sa[k] = v
		}
	}
	return sa
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPushCredentials(t *testing.T) {
	p := newPushEnv(t)
	creds := "/manage/v1/apps/" + p.b.ID + "/push/credentials"
	r := p.console(p.owner, "GET", creds, "")
	if r.status != http.StatusOK || len(r.json(t)["credentials"].([]any)) != 0 {
		t.Fatalf("credentials of a new app: %d %s", r.status, r.body)
	}

	r = p.console(p.owner, "PUT", creds+"/apns", p.apnsBody())
	if r.status != http.StatusOK {
		t.Fatalf("set apns: %d %s", r.status, r.body)
	}
	c := r.json(t)["credential"].(map[string]any)
	info := c["info"].(map[string]any)
	if c["provider"] != "apns" || info["key_id"] != p.apns.Credential().KeyID || info["team_id"] != p.apns.Credential().TeamID ||
		info["topic"] != pushtest.APNsTopic || c["created_at"] != "2026-01-01T00:00:00Z" {
		t.Fatalf("apns credential = %v", c)
	}
	r = p.console(p.admin, "PUT", creds+"/fcm", p.fcmBody())
	if r.status != http.StatusOK {
		t.Fatalf("set fcm: %d %s", r.status, r.body)
	}
	info = r.json(t)["credential"].(map[string]any)["info"].(map[string]any)
	if info["project_id"] != pushtest.FCMProject || !strings.HasSuffix(info["client_email"].(string), ".iam.gserviceaccount.com") {
		t.Fatalf("fcm info = %v", info)
	}
	// A key file pasted as a string is taken too.
	if r := p.console(p.owner, "PUT", creds+"/fcm", `{"service_account":`+jsonString(t, string(p.fcm.ServiceAccountJSON()))+`}`); r.status != http.StatusOK {
		t.Fatalf("set fcm from a string: %d %s", r.status, r.body)
	}

	// Listing shows what may be shown, never the keys.
	r = p.console(p.view, "GET", creds, "")
	if r.status != http.StatusOK {
		t.Fatalf("viewer list: %d %s", r.status, r.body)
	}
	if got := r.json(t)["credentials"].([]any); len(got) != 2 || got[0].(map[string]any)["provider"] != "apns" || got[1].(map[string]any)["provider"] != "fcm" {
		t.Fatalf("credentials = %s", r.body)
	}
	apnsKeyLine := strings.Split(string(p.apns.Credential().Key), "\n")[1]
	fcmKey := p.serviceAccount(t, nil)["private_key"].(string)
	fcmKeyLine := strings.Split(fcmKey, "\n")[1]
	for _, secret := range []string{"PRIVATE KEY", apnsKeyLine, fcmKeyLine, "private_key", "sealed"} {
		if strings.Contains(string(r.body), secret) {
			t.Fatalf("credential listing holds %q: %s", secret, r.body)
		}
	}

	// Checks: the APNs key signs, the FCM mock issues an access token.
	for _, prov := range []string{"apns", "fcm"} {
		r := p.console(p.view, "POST", creds+"/"+prov+":check", "")
		if r.status != http.StatusOK || r.json(t)["ok"] != true {
			t.Fatalf("check %s: %d %s", prov, r.status, r.body)
		}
	}
	if p.fcm.TokenRequests() == 0 {
		t.Fatal("the FCM check did not reach the token endpoint")
	}

	if r := p.console(p.owner, "DELETE", creds+"/apns", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete apns: %d %s", r.status, r.body)
	}
	for _, tt := range []struct{ method, path string }{
		{"DELETE", creds + "/apns"},
		{"POST", creds + "/apns:check"},
		{"DELETE", creds + "/huawei"},
	} {
		if r := p.console(p.owner, tt.method, tt.path, ""); r.status != http.StatusNotFound || r.code(t) != "not_found" {
			t.Errorf("%s %s = %d %s, want 404 not_found", tt.method, tt.path, r.status, r.body)
		}
	}
	r = p.console(p.owner, "GET", creds, "")
	if got := r.json(t)["credentials"].([]any); len(got) != 1 || got[0].(map[string]any)["provider"] != "fcm" {
		t.Fatalf("credentials after deleting apns = %s", r.body)
	}
}

// TestPushCredentialCheckFails: a credential the token endpoint refuses
// answers ok false; an unreachable endpoint answers 502.
func TestPushCredentialCheckFails(t *testing.T) {
	p := newPushEnv(t)
	creds := "/manage/v1/apps/" + p.b.ID + "/push/credentials"
	// Another account's key, presented to this mock: it refuses the
	// assertion's signature.
	other := pushtest.NewFCM(t)
	var sa map[string]any
	if err := json.Unmarshal(other.ServiceAccountJSON(), &sa); err != nil {
		t.Fatal(err)
	}
	sa["token_uri"] = p.fcm.TokenURL()
	if r := p.console(p.owner, "PUT", creds+"/fcm", `{"service_account":`+jsonString(t, sa)+`}`); r.status != http.StatusOK {
		t.Fatalf("set fcm: %d %s", r.status, r.body)
	}
	r := p.console(p.owner, "POST", creds+"/fcm:check", "")
	if m := r.json(t); r.status != http.StatusOK || m["ok"] != false || !strings.Contains(m["error"].(string), "refused") {
		t.Fatalf("check of a refused credential: %d %s, want 200 ok false", r.status, r.body)
	}

	unreachable := p.serviceAccount(t, map[string]any{"token_uri": "https://127.0.0.1:1/token"})
	if r := p.console(p.owner, "PUT", creds+"/fcm", `{"service_account":`+jsonString(t, unreachable)+`}`); r.status != http.StatusOK {
		t.Fatalf("set fcm: %d %s", r.status, r.body)
	}
	if r := p.console(p.owner, "POST", creds+"/fcm:check", ""); r.status != http.StatusBadGateway || r.code(t) != "provider_unreachable" {
		t.Fatalf("check with an unreachable token endpoint: %d %s, want 502 provider_unreachable", r.status, r.body)
	}
	if r := p.console(p.owner, "POST", creds+"/fcm:explode", ""); r.status != http.StatusNotFound || r.code(t) != "route_not_found" {
		t.Fatalf("unknown action: %d %s, want 404 route_not_found", r.status, r.body)
	}
}

func TestPushCredentialsBadInput(t *testing.T) {
	p := newPushEnv(t)
	creds := "/manage/v1/apps/" + p.b.ID + "/push/credentials"
	good := p.apns.Credential()
	apns := func(key, keyID, teamID, topic string) string {
		return jsonString(t, map[string]string{"key": key, "key_id": keyID, "team_id": teamID, "topic": topic})
	}
	rsaKey := p.serviceAccount(t, nil)["private_key"].(string) // PKCS#8 RSA, as a .p8 is PKCS#8 EC
	fcm := func(edits map[string]any) string {
		return `{"service_account":` + jsonString(t, p.serviceAccount(t, edits)) + `}`
	}
	tests := []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"p8 not PEM", "/apns", apns("not a key", good.KeyID, good.TeamID, good.Topic), 400, "invalid_credential", "PEM"},
		{"p8 empty", "/apns", apns("", good.KeyID, good.TeamID, good.Topic), 400, "invalid_credential", "empty"},
		{"RSA key", "/apns", apns(rsaKey, good.KeyID, good.TeamID, good.Topic), 400, "invalid_credential", "ECDSA"},
		{"truncated p8", "/apns", apns(string(good.Key[:len(good.Key)/2]), good.KeyID, good.TeamID, good.Topic), 400, "invalid_credential", "key"},
		{"bad key id", "/apns", apns(string(good.Key), "ABC", good.TeamID, good.Topic), 400, "invalid_credential", "key id"},
		{"lower-case team id", "/apns", apns(string(good.Key), good.KeyID, "abcdefghij", good.Topic), 400, "invalid_credential", "team id"},
		{"bad topic", "/apns", apns(string(good.Key), good.KeyID, good.TeamID, "com example"), 400, "invalid_credential", "topic"},
		{"apns unknown field", "/apns", `{"key":"x","cert":"y"}`, 400, "unknown_field", ""},
		{"service account not JSON", "/fcm", `{"service_account":"not json"}`, 400, "invalid_credential", "JSON"},
		{"service account array", "/fcm", `{"service_account":[1,2]}`, 400, "invalid_credential", "JSON"},
		{"service account missing", "/fcm", `{}`, 400, "invalid_credential", ""},
		{"no private key", "/fcm", fcm(map[string]any{"private_key": nil}), 400, "invalid_credential", "private_key"},
		{"no project", "/fcm", fcm(map[string]any{"project_id": nil}), 400, "invalid_credential", "project_id"},
		{"no client email", "/fcm", fcm(map[string]any{"client_email": nil}), 400, "invalid_credential", "client_email"},
		{"wrong type", "/fcm", fcm(map[string]any{"type": "authorized_user"}), 400, "invalid_credential", "service_account"},
		{"http token uri", "/fcm", fcm(map[string]any{"token_uri": "http://127.0.0.1/token"}), 400, "invalid_credential", "https"},
		{"fcm unknown field", "/fcm", `{"serviceAccount":{}}`, 400, "unknown_field", ""},
		{"unknown provider", "/huawei", `{}`, 404, "route_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.console(p.owner, "PUT", creds+tt.path, tt.body)
			if r.status != tt.status || r.code(t) != tt.code {
				t.Fatalf("PUT %s %s = %d %s, want %d %s", tt.path, tt.body, r.status, r.body, tt.status, tt.code)
			}
			if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q does not say %q", msg, tt.msg)
			}
		})
	}
	if r := p.console(p.owner, "GET", creds, ""); len(r.json(t)["credentials"].([]any)) != 0 {
		t.Fatalf("credentials stored by rejected requests: %s", r.body)
	}
}

// TestPushCredentialsAccess: members of another tenant cannot see or
// touch an app's credentials (404, as for the app itself); viewers may
// look and check but not change.
func TestPushCredentialsAccess(t *testing.T) {
	p := newPushEnv(t)
	// App A's tenant's credentials, set by the operator.
	credsA := "/manage/v1/apps/" + p.a.ID + "/push/credentials"
	if r := p.console(p.op, "PUT", credsA+"/apns", p.apnsBody()); r.status != http.StatusOK {
		t.Fatalf("operator sets apns: %d %s", r.status, r.body)
	}
	for _, tok := range []string{p.owner, p.admin, p.view} {
		for _, tt := range []struct{ method, path, body string }{
			{"GET", credsA, ""},
			{"PUT", credsA + "/apns", p.apnsBody()},
			{"PUT", credsA + "/fcm", p.fcmBody()},
			{"DELETE", credsA + "/apns", ""},
			{"POST", credsA + "/apns:check", ""},
		} {
			if r := p.console(tok, tt.method, tt.path, tt.body); r.status != http.StatusNotFound || r.code(t) != "not_found" {
				t.Errorf("another tenant's member: %s %s = %d %s, want 404 not_found", tt.method, tt.path, r.status, r.body)
			}
		}
	}
	if r := p.console(p.op, "GET", credsA, ""); len(r.json(t)["credentials"].([]any)) != 1 {
		t.Fatalf("app A's credentials after other tenants' calls: %s", r.body)
	}

	credsB := "/manage/v1/apps/" + p.b.ID + "/push/credentials"
	if r := p.console(p.owner, "PUT", credsB+"/apns", p.apnsBody()); r.status != http.StatusOK {
		t.Fatalf("owner sets apns: %d %s", r.status, r.body)
	}
	for _, tt := range []struct{ method, path, body string }{
		{"PUT", credsB + "/apns", p.apnsBody()},
		{"PUT", credsB + "/fcm", p.fcmBody()},
		{"DELETE", credsB + "/apns", ""},
	} {
		if r := p.console(p.view, tt.method, tt.path, tt.body); r.status != http.StatusForbidden || r.code(t) != "forbidden" {
			t.Errorf("viewer %s %s = %d %s, want 403 forbidden", tt.method, tt.path, r.status, r.body)
		}
	}
	for _, tt := range []struct{ method, path string }{{"GET", credsB}, {"POST", credsB + "/apns:check"}} {
		if r := p.console(p.view, tt.method, tt.path, ""); r.status != http.StatusOK {
			t.Errorf("viewer %s %s = %d %s, want 200", tt.method, tt.path, r.status, r.body)
		}
	}
	if r := p.console("", "GET", credsB, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no session: %d %s", r.status, r.body)
	}
	if r := p.console(p.owner, "GET", "/manage/v1/apps/app_missing/push/credentials", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown app: %d %s", r.status, r.body)
	}
}
