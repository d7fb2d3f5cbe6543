package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/webhook"
)

// TestWebhookEndpoints walks an admin through the webhook routes: create
// (the secret shown once), list, update, rotate, test, the delivery log,
// keyword rules and delete, with the roles and bad input on the way.
func TestWebhookEndpoints(t *testing.T) {
	p := newPushEnv(t)
	base := "/manage/v1/apps/" + p.b.ID + "/webhooks"
	url := p.srv.URL + "/receiver"

	r := p.console(p.view, "POST", base, `{"url":"`+url+`"}`)
	if r.status != http.StatusForbidden {
		t.Fatalf("viewer create: %d %s", r.status, r.body)
	}
	r = p.console(p.admin, "POST", base, `{"url":"`+url+`","events":["message.created"],"description":"orders"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	w := r.json(t)["webhook"].(map[string]any)
	id, secret := w["id"].(string), w["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || w["enabled"] != true || w["kind"] != "events" || len(w["secrets"].([]any)) != 1 {
		t.Fatalf("created = %v", w)
	}
	r = p.console(p.view, "GET", base, "")
	if r.status != http.StatusOK || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "sealed") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if n := len(r.json(t)["webhooks"].([]any)); n != 1 {
		t.Fatalf("%d webhooks listed", n)
	}

	for _, c := range []struct{ body, field string }{
		{`{"url":"ftp://x.example/"}`, "url"},
		{`{"url":"https://10.0.0.1/hook"}`, "url"},
		{`{"url":"https://169.254.169.254/latest/meta-data"}`, "url"},
		{`{"url":"` + url + `","events":["nope"]}`, "events"},
		{`{"url":"` + url + `","kind":"pre_send","timeout_ms":9000}`, "timeout_ms"},
	} {
		r := p.console(p.admin, "POST", base, c.body)
		if r.status != http.StatusBadRequest || r.code(t) != "validation_failed" || r.json(t)["error"].(map[string]any)["field"] != c.field {
			t.Errorf("create %s: %d %s", c.body, r.status, r.body)
		}
	}
	if r := p.console(p.admin, "POST", base, `{"url":1}`); r.status != http.StatusBadRequest {
		t.Errorf("create with a number url: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "POST", base, `{"url":"`+url+`","kind":"pre_send"}`); r.status != http.StatusCreated {
		t.Fatalf("create pre_send: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "POST", base, `{"url":"`+url+`","kind":"pre_send"}`); r.status != http.StatusConflict || r.code(t) != "too_many_webhooks" {
		t.Errorf("second pre_send: %d %s", r.status, r.body)
	}

	r = p.console(p.admin, "PATCH", base+"/"+id, `{"events":["message.read","message.created"],"enabled":false}`)
	if r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if w := r.json(t)["webhook"].(map[string]any); w["enabled"] != false || len(w["events"].([]any)) != 2 || w["description"] != "orders" {
		t.Errorf("updated = %v", w)
	}
	if r := p.console(p.admin, "PATCH", base+"/"+id, `{"kind":"pre_send"}`); r.status != http.StatusBadRequest {
		t.Errorf("change kind: %d %s", r.status, r.body)
	}

	r = p.console(p.admin, "POST", base+"/"+id+":rotate-secret", `{"overlap_seconds":3600}`)
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	w = r.json(t)["webhook"].(map[string]any)
	if s := w["secret"].(string); s == secret || len(w["secrets"].([]any)) != 2 {
		t.Errorf("rotated = %v", w)
	}
	if r := p.console(p.admin, "POST", base+"/"+id+":rotate-secret", `{"overlap_seconds":-1}`); r.status != http.StatusBadRequest {
		t.Errorf("rotate with a negative overlap: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "POST", base+"/"+id+":explode", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown action: %d %s", r.status, r.body)
	}

	r = p.console(p.admin, "POST", base+"/"+id+":test", "")
	if r.status != http.StatusAccepted {
		t.Fatalf("test: %d %s", r.status, r.body)
	}
	evID := r.json(t)["event_id"].(string)
	if n, err := p.bus.QueueDepth(t.Context(), webhook.QueueDelivery); err != nil || n != 1 {
		t.Errorf("delivery queue after a test = %d, %v", n, err)
	}
	r = p.console(p.view, "GET", base+"/"+id+"/events/"+evID, "")
	if r.status != http.StatusOK || r.json(t)["type"] != "webhook.test" || !strings.Contains(string(r.body), `"payload":{"id":"`+evID) {
		t.Errorf("event: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "POST", base+"/"+id+"/events/"+evID+":replay", ""); r.status != http.StatusAccepted {
		t.Errorf("replay: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "POST", base+"/"+id+"/events/evt_unknown:replay", ""); r.status != http.StatusNotFound {
		t.Errorf("replay of an unknown event: %d %s", r.status, r.body)
	}
	r = p.console(p.view, "GET", base+"/"+id+"/attempts?limit=10", "")
	if r.status != http.StatusOK || len(r.json(t)["attempts"].([]any)) != 0 {
		t.Errorf("attempts: %d %s", r.status, r.body)
	}
	if r := p.console(p.view, "GET", base+"/"+id+"/attempts?limit=0", ""); r.status != http.StatusBadRequest {
		t.Errorf("attempts with limit 0: %d %s", r.status, r.body)
	}

	kw := "/manage/v1/apps/" + p.b.ID + "/moderation/keywords"
	r = p.console(p.admin, "PUT", kw, `{"rules":[{"word":"spam","action":"block"},{"word":"darn","action":"mask"}]}`)
	if r.status != http.StatusOK || len(r.json(t)["rules"].([]any)) != 2 {
		t.Fatalf("put keywords: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "PUT", kw, `{"rules":[{"word":"","action":"block"}]}`); r.status != http.StatusBadRequest {
		t.Errorf("empty word: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "PUT", kw, `{"rules":[{"word":"x","action":"shout"}]}`); r.status != http.StatusBadRequest {
		t.Errorf("unknown action: %d %s", r.status, r.body)
	}
	if r := p.console(p.view, "PUT", kw, `{"rules":[]}`); r.status != http.StatusForbidden {
		t.Errorf("viewer put keywords: %d %s", r.status, r.body)
	}
	r = p.console(p.view, "GET", kw, "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"darn"`) {
		t.Errorf("get keywords: %d %s", r.status, r.body)
	}

	if r := p.console(p.admin, "DELETE", base+"/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := p.console(p.admin, "GET", base+"/"+id, ""); r.status != http.StatusNotFound {
		t.Errorf("get after delete: %d %s", r.status, r.body)
	}
}

// TestWebhookCrossTenant: members of app B's tenant cannot name app A's
// endpoints through app A's path or through app B's.
func TestWebhookCrossTenant(t *testing.T) {
	p := newPushEnv(t)
	url := p.srv.URL + "/receiver"
	r := p.console(p.op, "POST", "/manage/v1/apps/"+p.a.ID+"/webhooks", `{"url":"`+url+`"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("operator create on app A: %d %s", r.status, r.body)
	}
	id := r.json(t)["webhook"].(map[string]any)["id"].(string)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/manage/v1/apps/" + p.a.ID + "/webhooks", ""},
		{"GET", "/manage/v1/apps/" + p.a.ID + "/webhooks/" + id, ""},
		{"PATCH", "/manage/v1/apps/" + p.a.ID + "/webhooks/" + id, `{"enabled":false}`},
		{"DELETE", "/manage/v1/apps/" + p.a.ID + "/webhooks/" + id, ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id, ""},
		{"PATCH", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id, `{"enabled":false}`},
		{"DELETE", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id, ""},
		{"POST", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id + ":rotate-secret", ""},
		{"POST", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id + ":test", ""},
		{"GET", "/manage/v1/apps/" + p.b.ID + "/webhooks/" + id + "/attempts", ""},
		{"GET", "/manage/v1/apps/" + p.a.ID + "/moderation/keywords", ""},
	} {
		if r := p.console(p.owner, c.method, c.path, c.body); r.status != http.StatusNotFound {
			t.Errorf("%s %s by app B's owner: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	r = p.console(p.op, "GET", "/manage/v1/apps/"+p.a.ID+"/webhooks/"+id, "")
	if r.status != http.StatusOK || r.json(t)["webhook"].(map[string]any)["enabled"] != true {
		t.Errorf("app A's endpoint after app B's attempts: %d %s", r.status, r.body)
	}
	if n, _ := p.bus.QueueDepth(t.Context(), webhook.QueueDelivery); n != 0 {
		t.Errorf("app B's test request queued %d deliveries", n)
	}
}

// TestWebhookRevokeSecret: after a rotation with overlap, an admin revokes
// the old secret at once; the current one cannot be revoked, a viewer and
// another tenant's owner cannot revoke, an unknown secret is 404.
func TestWebhookRevokeSecret(t *testing.T) {
	p := newPushEnv(t)
	base := "/manage/v1/apps/" + p.b.ID + "/webhooks"
	r := p.console(p.admin, "POST", base, `{"url":"`+p.srv.URL+`/receiver"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["webhook"].(map[string]any)["id"].(string)
	r = p.console(p.admin, "POST", base+"/"+id+":rotate-secret", `{"overlap_seconds":3600}`)
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	secrets := r.json(t)["webhook"].(map[string]any)["secrets"].([]any)
	if len(secrets) != 2 {
		t.Fatalf("secrets after rotation = %v, want 2", secrets)
	}
	current, old := secrets[0].(map[string]any)["id"].(string), secrets[1].(map[string]any)["id"].(string)

	if r := p.console(p.view, "DELETE", base+"/"+id+"/secrets/"+old, ""); r.status != http.StatusForbidden {
		t.Errorf("viewer revoke: %d %s, want 403", r.status, r.body)
	}
	// Another tenant's owner, through app A's path and app B's.
	q := newOwnerOfA(t, p)
	for _, path := range []string{base + "/" + id + "/secrets/" + old, "/manage/v1/apps/" + p.a.ID + "/webhooks/" + id + "/secrets/" + old} {
		if r := p.console(q, "DELETE", path, ""); r.status != http.StatusNotFound {
			t.Errorf("DELETE %s by app A's owner: %d %s, want 404", path, r.status, r.body)
		}
	}
	if r := p.console(p.admin, "DELETE", base+"/"+id+"/secrets/"+current, ""); r.status != http.StatusBadRequest ||
		r.json(t)["error"].(map[string]any)["field"] != "secret" {
		t.Errorf("revoke the current secret: %d %s, want 400 naming secret", r.status, r.body)
	}
	if r := p.console(p.admin, "DELETE", base+"/"+id+"/secrets/whs_nope", ""); r.status != http.StatusNotFound {
		t.Errorf("revoke an unknown secret: %d %s, want 404", r.status, r.body)
	}
	r = p.console(p.admin, "DELETE", base+"/"+id+"/secrets/"+old, "")
	if r.status != http.StatusOK {
		t.Fatalf("revoke the old secret: %d %s", r.status, r.body)
	}
	if s := r.json(t)["webhook"].(map[string]any)["secrets"].([]any); len(s) != 1 || s[0].(map[string]any)["id"] != current {
		t.Errorf("secrets after revoking the old one = %v, want only %s", s, current)
	}
}

// newOwnerOfA adds an owner to app A's tenant and returns its session.
func newOwnerOfA(t *testing.T, p *pushEnv) string {
	t.Helper()
	r := p.console(p.op, "POST", "/manage/v1/tenants/"+p.a.TenantID+"/members",
		`{"email":"owner@a.test","role":"owner","password":"correct horse battery"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create owner of A: %d %s", r.status, r.body)
	}
	return p.consoleLogin("owner@a.test", "correct horse battery")
}
