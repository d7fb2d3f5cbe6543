package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestSupportSessions drives customer service through the server API: an
// online agent takes the first visitor, the second waits until the first
// session closes, the closed session is rated once; bad input and other
// apps' requests change nothing.
func TestSupportSessions(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "v1", "v2"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "v1")
	call := func(app testApp, method, target, body string) resp {
		t.Helper()
		return e.do(app, req{method: method, target: target, body: body})
	}
	if r := call(e.a, "PUT", "/v1/support/agents/ghost", `{"capacity":1,"available":true}`); r.status != http.StatusNotFound {
		t.Errorf("agent of an unknown user: %d %s", r.status, r.body)
	}
	if r := call(e.a, "PUT", "/v1/support/agents/ann", `{"capacity":0}`); r.status != http.StatusBadRequest || r.code(t) != "validation_failed" {
		t.Errorf("capacity 0: %d %s", r.status, r.body)
	}
	if r := call(e.a, "PUT", "/v1/support/agents/ann", `{"skills":["billing"],"capacity":1,"available":true}`); r.status != http.StatusOK {
		t.Fatalf("put agent: %d %s", r.status, r.body)
	}
	e.loginWith(e.mint(e.a, e.a.Secret, "ann", time.Hour, e.clock()), "ann-laptop") // ann is online

	r := call(e.a, "POST", "/v1/support/sessions", `{"visitor_id":"v1","skill":"billing"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	first := r.json(t)["session"].(map[string]any)
	if first["state"] != "active" || first["agent_id"] != "ann" {
		t.Fatalf("first session = %v", first)
	}
	r = call(e.a, "POST", "/v1/support/sessions", `{"visitor_id":"v2","skill":"billing"}`)
	second := r.json(t)["session"].(map[string]any)
	if r.status != http.StatusCreated || second["state"] != "waiting" {
		t.Fatalf("second session: %d %v", r.status, second)
	}
	if r := call(e.a, "POST", "/v1/support/sessions", `{"visitor_id":"v2"}`); r.status != http.StatusConflict {
		t.Errorf("a second open session for v2: %d %s", r.status, r.body)
	}
	r = call(e.a, "GET", "/v1/support/sessions?state=waiting&skill=billing", "")
	if r.status != http.StatusOK || len(r.json(t)["sessions"].([]any)) != 1 {
		t.Errorf("waiting list: %d %s", r.status, r.body)
	}
	if r := call(e.a, "GET", "/v1/support/sessions?state=bogus", ""); r.status != http.StatusBadRequest {
		t.Errorf("state=bogus: %d %s", r.status, r.body)
	}

	// App B sees nothing of app A's sessions and cannot touch them.
	id1, id2 := first["id"].(string), second["id"].(string)
	for _, c := range []struct{ method, target, body string }{
		{"GET", "/v1/support/sessions/" + id1, ""},
		{"POST", "/v1/support/sessions/" + id1 + ":close", `{"by":"v1"}`},
		{"POST", "/v1/support/sessions/" + id2 + ":transfer", `{"agent_id":"ann"}`},
		{"DELETE", "/v1/support/agents/ann", ""},
	} {
		if r := call(e.b, c.method, c.target, c.body); r.status != http.StatusNotFound {
			t.Errorf("app B %s %s: %d %s", c.method, c.target, r.status, r.body)
		}
	}
	if r := call(e.b, "GET", "/v1/support/sessions", ""); len(r.json(t)["sessions"].([]any)) != 0 {
		t.Errorf("app B lists %s", r.body)
	}

	if r := call(e.a, "DELETE", "/v1/support/agents/ann", ""); r.status != http.StatusConflict {
		t.Errorf("delete a busy agent: %d %s", r.status, r.body)
	}
	if r := call(e.a, "POST", "/v1/support/sessions/"+id1+":close", `{"by":"ann"}`); r.status != http.StatusOK {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	r = call(e.a, "GET", "/v1/support/sessions/"+id2, "")
	if s := r.json(t)["session"].(map[string]any); s["state"] != "active" || s["agent_id"] != "ann" {
		t.Errorf("the waiting session after the close = %v", s)
	}
	if r := call(e.a, "POST", "/v1/support/sessions/"+id1+":rate", `{"rating":9}`); r.status != http.StatusBadRequest {
		t.Errorf("rating 9: %d %s", r.status, r.body)
	}
	if r := call(e.a, "POST", "/v1/support/sessions/"+id1+":rate", `{"rating":5,"comment":"thanks"}`); r.status != http.StatusOK {
		t.Errorf("rate: %d %s", r.status, r.body)
	}
	if r := call(e.a, "POST", "/v1/support/sessions/"+id1+":rate", `{"rating":4}`); r.status != http.StatusConflict {
		t.Errorf("rate twice: %d %s", r.status, r.body)
	}
	if r := call(e.a, "POST", "/v1/support/sessions/"+id1+":explode", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown action: %d %s", r.status, r.body)
	}
}

// TestSupportFrames: a visitor opens, closes and rates its session over
// the client protocol; the agent serving it may close it; nobody else,
// nor another app's user of the same id, can touch it.
func TestSupportFrames(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "vic", "eve"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "vic")
	if r := e.do(e.a, req{method: "PUT", target: "/v1/support/agents/ann", body: `{"capacity":1,"available":true}`}); r.status != http.StatusOK {
		t.Fatalf("put agent: %d %s", r.status, r.body)
	}
	ann := e.login(e.a, "ann", "d1")
	vic, eve, otherVic := e.login(e.a, "vic", "d1"), e.login(e.a, "eve", "d1"), e.login(e.b, "vic", "d1")
	open := &magpiev1.Frame{Body: &magpiev1.Frame_OpenSupportSession{OpenSupportSession: &magpiev1.OpenSupportSession{}}}
	ss := vic.reply(vic.request(open)).GetSupportSession()
	if ss.GetState() != "active" || ss.GetAgentId() != "ann" || ss.GetVisitorId() != "vic" {
		t.Fatalf("opened %v", ss)
	}
	if again := vic.reply(vic.request(open)).GetSupportSession(); again.GetId() != ss.GetId() {
		t.Fatalf("opening again = %v, want the open session %s", again, ss.GetId())
	}
	closeF := &magpiev1.Frame{Body: &magpiev1.Frame_CloseSupportSession{CloseSupportSession: &magpiev1.CloseSupportSession{SessionId: ss.GetId()}}}
	rate := func(n int32) *magpiev1.Frame {
		return &magpiev1.Frame{Body: &magpiev1.Frame_RateSupportSession{RateSupportSession: &magpiev1.RateSupportSession{SessionId: ss.GetId(), Rating: n}}}
	}
	eve.expectError(eve.request(closeF), "not_found")
	otherVic.expectError(otherVic.request(closeF), "not_found")
	vic.expectError(vic.request(rate(5)), "conflict") // not closed yet
	vic.expectError(vic.request(rate(9)), "invalid_argument")
	vic.expectError(vic.request(&magpiev1.Frame{Body: &magpiev1.Frame_OpenSupportSession{OpenSupportSession: &magpiev1.OpenSupportSession{Skill: strings.Repeat("s", 100)}}}), "invalid_argument")
	if got := ann.reply(ann.request(closeF)).GetSupportSession(); got.GetState() != "closed" {
		t.Fatalf("the agent's close = %v", got)
	}
	ann.expectError(ann.request(rate(5)), "not_found") // the agent does not rate
	if got := vic.reply(vic.request(rate(4))).GetSupportSession(); got.GetRating() != 4 {
		t.Fatalf("rated %v", got)
	}
	vic.expectError(vic.request(rate(5)), "conflict")
}
