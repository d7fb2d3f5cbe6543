package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
)

// userIDs returns the ids of a user list response.
func userIDs(t *testing.T, r resp) []string {
	t.Helper()
	var ids []string
	for _, u := range r.json(t)["users"].([]any) {
		ids = append(ids, u.(map[string]any)["id"].(string))
	}
	return ids
}

func TestManageUsers(t *testing.T) {
	p := newPushEnv(t)
	for _, id := range []string{"alice", "alicia", "al", "bob", "zed"} {
		p.mustCreateUser(p.b, id)
	}
	users := "/manage/v1/apps/" + p.b.ID + "/users"

	t.Run("list and search", func(t *testing.T) {
		r := p.console(p.view, "GET", users, "")
		if r.status != http.StatusOK || fmt.Sprint(userIDs(t, r)) != "[al alice alicia bob zed]" || r.json(t)["next_cursor"] != "" {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r = p.console(p.view, "GET", users+"?prefix=al", "")
		if r.status != http.StatusOK || fmt.Sprint(userIDs(t, r)) != "[al alice alicia]" || r.json(t)["next_cursor"] != "" {
			t.Fatalf("prefix al: %d %s", r.status, r.body)
		}
		// Paged: the prefix itself, then the ids after it.
		r = p.console(p.view, "GET", users+"?prefix=al&limit=2", "")
		next, _ := r.json(t)["next_cursor"].(string)
		if fmt.Sprint(userIDs(t, r)) != "[al alice]" || next == "" {
			t.Fatalf("prefix page 1: %s", r.body)
		}
		r = p.console(p.view, "GET", users+"?prefix=al&limit=2&cursor="+url.QueryEscape(next), "")
		if fmt.Sprint(userIDs(t, r)) != "[alicia]" || r.json(t)["next_cursor"] != "" {
			t.Fatalf("prefix page 2: %s", r.body)
		}
		r = p.console(p.view, "GET", users+"?prefix=b", "")
		if fmt.Sprint(userIDs(t, r)) != "[bob]" {
			t.Fatalf("prefix b: %s", r.body)
		}
		r = p.console(p.view, "GET", users+"?prefix=nobody", "")
		if r.status != http.StatusOK || len(userIDs(t, r)) != 0 {
			t.Fatalf("prefix nobody: %s", r.body)
		}
		r = p.console(p.view, "GET", users+"/alice", "")
		if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["blocked"] != false {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
	})

	t.Run("block closes the live session", func(t *testing.T) {
		r := p.console(p.admin, "POST", users+"/alice/tokens", "")
		if r.status != http.StatusCreated || r.json(t)["token"] == "" {
			t.Fatalf("test token: %d %s", r.status, r.body)
		}
		c := p.loginWith(r.json(t)["token"].(string), "d1")
		r = p.console(p.admin, "POST", users+"/alice:block", "")
		if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["blocked"] != true {
			t.Fatalf("block: %d %s", r.status, r.body)
		}
		c.expectClose(wire.CloseUserBlocked)
		if r := p.console(p.admin, "POST", users+"/alice/tokens", ""); r.status != http.StatusForbidden || r.code(t) != "user_blocked" {
			t.Fatalf("test token of a blocked user: %d %s", r.status, r.body)
		}
		r = p.console(p.owner, "POST", users+"/alice:unblock", "")
		if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["blocked"] != false {
			t.Fatalf("unblock: %d %s", r.status, r.body)
		}
	})

	t.Run("revoke closes the live session", func(t *testing.T) {
		r := p.console(p.owner, "POST", users+"/bob/tokens", "")
		c := p.loginWith(r.json(t)["token"].(string), "d1")
		p.advance(1500 * time.Millisecond)
		r = p.console(p.owner, "POST", users+"/bob/tokens:revoke", "")
		if r.status != http.StatusOK || r.json(t)["revoked_before"] == "" {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		c.expectClose(wire.CloseTokenRevoked)
	})

	t.Run("messages", func(t *testing.T) {
		msgs := "/manage/v1/apps/" + p.b.ID + "/messages"
		var conv string
		for i := range 3 {
			r := p.console(p.admin, "POST", msgs, fmt.Sprintf(`{"to_user_id":"bob","type":"text","content":"hello %d"}`, i))
			if r.status != http.StatusCreated {
				t.Fatalf("send: %d %s", r.status, r.body)
			}
			conv = r.json(t)["message"].(map[string]any)["conv_id"].(string)
		}
		hist := "/manage/v1/apps/" + p.b.ID + "/conversations/" + url.PathEscape(conv) + "/messages"
		r := p.console(p.view, "GET", hist+"?order=desc&limit=2", "")
		ms, _ := r.json(t)["messages"].([]any)
		if r.status != http.StatusOK || len(ms) != 2 || ms[0].(map[string]any)["seq"] != 3.0 || r.json(t)["has_more"] != true {
			t.Fatalf("history desc: %d %s", r.status, r.body)
		}
		r = p.console(p.view, "GET", hist+"?from_seq=3", "")
		if ms := r.json(t)["messages"].([]any); len(ms) != 1 || ms[0].(map[string]any)["content"] != "hello 2" {
			t.Fatalf("history asc: %s", r.body)
		}
		r = p.console(p.owner, "POST", hist+"/2:recall", "")
		if r.status != http.StatusOK || r.json(t)["message"].(map[string]any)["recalled"] != true {
			t.Fatalf("recall: %d %s", r.status, r.body)
		}
		// Viewers read but do not write.
		for _, c := range []struct{ method, path, body string }{
			{"POST", users + "/bob:block", ""},
			{"POST", users + "/bob:unblock", ""},
			{"POST", users + "/bob/tokens", ""},
			{"POST", users + "/bob/tokens:revoke", ""},
			{"DELETE", users + "/bob", ""},
			{"POST", hist + "/1:recall", ""},
			{"POST", msgs, `{"to_user_id":"bob","type":"text","content":"x"}`},
		} {
			if r := p.console(p.view, c.method, c.path, c.body); r.status != http.StatusForbidden || r.code(t) != "forbidden" {
				t.Errorf("viewer %s %s: %d %s", c.method, c.path, r.status, r.body)
			}
		}
		// Bad input.
		for _, c := range []struct {
			method, path, body string
			status             int
			code, field        string
		}{
			{"GET", users + "?limit=abc", "", 400, "validation_failed", "limit"},
			{"GET", users + "/bad%20id", "", 400, "validation_failed", "id"},
			{"GET", users + "/nobody", "", 404, "user_not_found", ""},
			{"DELETE", users + "/bob?erase_messages=maybe", "", 400, "validation_failed", "erase_messages"},
			{"POST", users + "/bob:frobnicate", "", 404, "route_not_found", ""},
			{"POST", users + "/nobody:block", "", 404, "user_not_found", ""},
			{"GET", hist + "?order=sideways", "", 400, "validation_failed", "order"},
			{"GET", hist + "?from_seq=-1", "", 400, "validation_failed", "from_seq"},
			{"POST", hist + "/x:recall", "", 400, "validation_failed", "seq"},
			{"POST", hist + "/1:forget", "", 404, "route_not_found", ""},
			{"POST", hist + "/99:recall", "", 404, "message_not_found", ""},
			{"POST", msgs, `{"type":"text","content":"x"}`, 400, "validation_failed", "to_user_id"},
			{"POST", msgs, `{"to_user_id":"bob","type":"notice","content":"x"}`, 400, "validation_failed", "type"},
			{"POST", msgs, `{"to_user_id":"bob","from_user_id":"x"}`, 400, "unknown_field", ""},
			{"POST", msgs, `{"to_user_id":"nobody","type":"text","content":"x"}`, 404, "user_not_found", ""},
		} {
			r := p.console(p.owner, c.method, c.path, c.body)
			if r.status != c.status || r.code(t) != c.code {
				t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
				continue
			}
			if f, _ := r.json(t)["error"].(map[string]any)["field"].(string); c.field != "" && f != c.field {
				t.Errorf("%s %s: field %q, want %q", c.method, c.path, f, c.field)
			}
		}
	})

	t.Run("another tenant's app", func(t *testing.T) {
		other := "/manage/v1/apps/" + p.a.ID
		p.mustCreateUser(p.a, "alice")
		for _, c := range []struct{ method, path, body string }{
			{"GET", other + "/users", ""},
			{"GET", other + "/users/alice", ""},
			{"POST", other + "/users/alice:block", ""},
			{"POST", other + "/users/alice/tokens", ""},
			{"POST", other + "/users/alice/tokens:revoke", ""},
			{"DELETE", other + "/users/alice", ""},
			{"GET", other + "/conversations/sys:alice/messages", ""},
			{"POST", other + "/conversations/sys:alice/messages/1:recall", ""},
			{"POST", other + "/messages", `{"to_user_id":"alice","type":"text","content":"x"}`},
		} {
			for _, tok := range []string{p.owner, p.view} {
				if r := p.console(tok, c.method, c.path, c.body); r.status != http.StatusNotFound || r.code(t) != "not_found" {
					t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
				}
			}
		}
		if r := p.console(p.op, "GET", other+"/users/alice", ""); r.status != http.StatusOK {
			t.Errorf("operator get: %d %s", r.status, r.body)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if r := p.console(p.owner, "DELETE", users+"/zed?erase_messages=true", ""); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := p.console(p.owner, "GET", users+"/zed", ""); r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
			t.Fatalf("get deleted: %d %s", r.status, r.body)
		}
	})
}
