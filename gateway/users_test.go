package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.do(e.a, req{method: "POST", target: "/v1/users",
		body: `{"id":"alice@example.com","name":"Alice","avatar_url":"https://cdn.example.com/a.png","metadata":{"tier":"gold"}}`})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	u := r.json(t)["user"].(map[string]any)
	if u["id"] != "alice@example.com" || u["name"] != "Alice" || u["metadata"].(map[string]any)["tier"] != "gold" || u["blocked"] != false {
		t.Fatalf("created user = %v", u)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice@example.com"}`}); r.status != http.StatusConflict || r.code(t) != "user_exists" {
		t.Fatalf("duplicate create: %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "PATCH", target: "/v1/users/alice@example.com", body: `{"name":"Alice B."}`})
	if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["name"] != "Alice B." {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "GET", target: "/v1/users/alice@example.com"})
	got := r.json(t)["user"].(map[string]any)
	if got["name"] != "Alice B." || got["avatar_url"] != "https://cdn.example.com/a.png" {
		t.Fatalf("get after patch = %v", got)
	}
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice@example.com:block"})
	if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["blocked"] != true {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice@example.com/tokens"}); r.status != http.StatusForbidden || r.code(t) != "user_blocked" {
		t.Fatalf("token for blocked user: %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice@example.com:unblock"})
	if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["blocked"] != false {
		t.Fatalf("unblock: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice@example.com"}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/users/alice@example.com"}); r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
		t.Fatalf("get deleted: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice@example.com"}); r.status != http.StatusNotFound {
		t.Fatalf("delete twice: %d %s", r.status, r.body)
	}
}

func TestListUsersPages(t *testing.T) {
	e := newEnv(t)
	var body strings.Builder
	body.WriteString(`{"users":[`)
	for i := range 25 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"id":"u%02d"}`, i)
	}
	body.WriteString(`,{"id":"bad id!"}]}`)
	r := e.do(e.a, req{method: "POST", target: "/v1/users:import", body: body.String()})
	if r.status != http.StatusOK {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	results := r.json(t)["results"].([]any)
	if len(results) != 26 || results[25].(map[string]any)["status"] != "error" || results[0].(map[string]any)["status"] != "created" {
		t.Fatalf("import results = %v", results)
	}
	// Importing again reports existing users and changes nothing.
	r = e.do(e.a, req{method: "POST", target: "/v1/users:import", body: `{"users":[{"id":"u00","name":"changed"},{"id":"new"}]}`})
	res := r.json(t)["results"].([]any)
	if res[0].(map[string]any)["status"] != "exists" || res[1].(map[string]any)["status"] != "created" {
		t.Fatalf("re-import results = %v", res)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/users/u00"}); r.json(t)["user"].(map[string]any)["name"] != "" {
		t.Fatalf("import overwrote an existing user: %s", r.body)
	}
	var seen []string
	cursor := ""
	for range 10 {
		r := e.do(e.a, req{method: "GET", target: "/v1/users?limit=10&cursor=" + cursor})
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		m := r.json(t)
		for _, u := range m["users"].([]any) {
			seen = append(seen, u.(map[string]any)["id"].(string))
		}
		cursor = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if len(seen) != 26 || seen[0] != "new" || seen[25] != "u24" {
		t.Fatalf("paged through %d users %v, want 26 from new to u24", len(seen), seen)
	}
}

// TestCrossAppIsolation proves that app B's key can never read or change
// app A's users, endpoint by endpoint.
func TestCrossAppIsolation(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	tests := []struct {
		method, target, body string
	}{
		{"GET", "/v1/users/alice", ""},
		{"PATCH", "/v1/users/alice", `{"name":"pwned"}`},
		{"DELETE", "/v1/users/alice", ""},
		{"POST", "/v1/users/alice:block", ""},
		{"POST", "/v1/users/alice:unblock", ""},
		{"POST", "/v1/users/alice/tokens", ""},
		{"POST", "/v1/users/alice/tokens:revoke", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := e.do(e.b, req{method: tt.method, target: tt.target, body: tt.body})
			if r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
				t.Fatalf("app B %s %s = %d %s, want 404 user_not_found", tt.method, tt.target, r.status, r.body)
			}
		})
	}
	if r := e.do(e.b, req{method: "GET", target: "/v1/users"}); len(r.json(t)["users"].([]any)) != 0 {
		t.Fatalf("app B lists app A's users: %s", r.body)
	}
	// The same id in app B is a different user.
	e.mustCreateUser(e.b, "alice")
	e.do(e.b, req{method: "PATCH", target: "/v1/users/alice", body: `{"name":"B's alice"}`})
	e.do(e.b, req{method: "POST", target: "/v1/users/alice:block"})
	u, err := e.store.App(e.a.ID).GetUser(context.Background(), "alice")
	if err != nil || u.Name != "User alice" || u.Blocked || !u.TokensValidAfter.IsZero() {
		t.Fatalf("app A's alice after app B's calls = %+v, %v", u, err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	big := `{"id":"alice","name":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		code, field                string
	}{
		{"malformed JSON", "POST", "/v1/users", `{"id":"alice"`, nil, 400, "invalid_json", ""},
		{"not an object", "POST", "/v1/users", `"alice"`, nil, 400, "invalid_json", ""},
		{"empty body", "POST", "/v1/users", ``, nil, 400, "invalid_json", ""},
		{"trailing data", "POST", "/v1/users", `{"id":"alice"} {}`, nil, 400, "invalid_json", ""},
		{"unknown field", "POST", "/v1/users", `{"id":"alice","nick":"al"}`, nil, 400, "unknown_field", "nick"},
		{"wrong type", "POST", "/v1/users", `{"id":42}`, nil, 400, "validation_failed", "id"},
		{"invalid id", "POST", "/v1/users", `{"id":"al ice"}`, nil, 400, "validation_failed", "id"},
		{"empty id", "POST", "/v1/users", `{"id":""}`, nil, 400, "validation_failed", "id"},
		{"dot id", "POST", "/v1/users", `{"id":"."}`, nil, 400, "validation_failed", "id"},
		{"dot-dot id", "POST", "/v1/users", `{"id":".."}`, nil, 400, "validation_failed", "id"},
		{"long id", "POST", "/v1/users", `{"id":"` + strings.Repeat("a", 65) + `"}`, nil, 400, "validation_failed", "id"},
		{"bad avatar", "POST", "/v1/users", `{"id":"alice","avatar_url":"javascript:alert(1)"}`, nil, 400, "validation_failed", "avatar_url"},
		{"long name", "POST", "/v1/users", `{"id":"alice","name":"` + strings.Repeat("é", 129) + `"}`, nil, 400, "validation_failed", "name"},
		{"oversized body", "POST", "/v1/users", big, nil, 413, "body_too_large", ""},
		{"wrong content type", "POST", "/v1/users", `{"id":"alice"}`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"import empty", "POST", "/v1/users:import", `{"users":[]}`, nil, 400, "validation_failed", "users"},
		{"patch unknown field", "PATCH", "/v1/users/alice", `{"blocked":true}`, nil, 400, "unknown_field", "blocked"},
		{"invalid path id", "GET", "/v1/users/bad%20id", "", nil, 400, "validation_failed", "id"},
		{"bad limit", "GET", "/v1/users?limit=0", "", nil, 400, "validation_failed", "limit"},
		{"bad cursor", "GET", "/v1/users?cursor=%25%25", "", nil, 400, "validation_failed", "cursor"},
		{"bad ttl", "POST", "/v1/users/alice/tokens", `{"ttl_seconds":5}`, nil, 400, "validation_failed", "ttl_seconds"},
		{"unknown verb", "POST", "/v1/users/alice:explode", "", nil, 404, "route_not_found", ""},
		{"unknown route", "GET", "/v1/nothing", "", nil, 404, "route_not_found", ""},
		{"wrong method", "PUT", "/v1/users", `{}`, nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(e.a, req{method: tt.method, target: tt.target, body: tt.body, header: tt.header})
			if r.status != tt.status || r.code(t) != tt.code {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.target, r.status, r.body, tt.status, tt.code)
			}
			if tt.field != "" {
				if f := r.json(t)["error"].(map[string]any)["field"]; f != tt.field {
					t.Fatalf("error field = %v, want %s", f, tt.field)
				}
			}
			if n := e.userCount(e.a); n != 0 {
				t.Fatalf("%d users stored after a rejected request", n)
			}
		})
	}
}
