package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

// TestClusterSupportSurvivesKills runs customer service on a cluster: two
// gateways behind loopback balancers, a worker, and an app whose routing
// webhook names the agent. A visitor opens a support session through
// gateway 1 and, while the routing webhook holds its answer, gateway 1 is
// SIGKILLed; the visitor's SDK reconnects to gateway 2 and asks again.
// Then visitor and agent exchange messages while the worker is SIGKILLed
// and another started. In the end:
//
//   - the session was routed once: assigned to the agent, whose Active
//     count is 1, and each of them holds exactly one "assigned" notice;
//   - every message of each reached the other exactly once, in order;
//   - closing the session gives the agent's place back (Active 0), and
//     the visitor rates it;
//   - the app's post-event endpoint got the session's created, assigned,
//     closed and rated events, signed, each under one webhook-id.
func TestClusterSupportSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	const perSide = 100
	bin := magpieBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	env := clusterEnv(t)
	recv, err := webhooktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	boot := startCluster(t, bin, env, "app_key", "bootstrap")
	<-boot.done
	if boot.get("app_id") == "" || boot.get("app_secret") == "" {
		t.Fatalf("bootstrap printed %v", boot.snapshot())
	}
	gwArgs := []string{"gateway", "--addr", "127.0.0.1:0", "--unlimited-addresses", "127.0.0.0/8", "--webhook-allow-loopback=true"}
	g1 := startCluster(t, bin, env, "node_id", gwArgs...)
	g2 := startCluster(t, bin, env, "node_id", gwArgs...)
	workerArgs := []string{"worker", "--addr", "127.0.0.1:0", "--webhook-allow-loopback=true"}
	worker := startCluster(t, bin, env, "worker_url", workerArgs...)
	addr := func(p *clusterProc) string { return strings.TrimPrefix(p.get("gateway_url"), "http://") }
	lb1, lb2 := newBalancer(t, addr(g1), addr(g2)), newBalancer(t, addr(g2), addr(g1))
	base := g2.get("gateway_url") // the server API, on the gateway that stays
	api, err := serverapi.New(base, boot.get("app_key"), boot.get("app_secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"visitor", "agent"} {
		if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	signed(ctx, t, boot, base, http.MethodPut, "/v1/support/agents/agent", `{"capacity":2,"available":true}`, nil)

	// The routing webhook names the agent; it holds its first request.
	hold := make(chan struct{})
	var holding atomic.Bool
	recv.Respond(func(r webhooktest.Request) webhooktest.Response {
		if r.Path != "/route" {
			return webhooktest.Response{}
		}
		if holding.CompareAndSwap(false, true) {
			return webhooktest.Response{Hold: hold}
		}
		return webhooktest.Response{Body: []byte(`{"agent_id":"agent"}`)}
	})
	var created struct {
		Webhook struct{ Secret string } `json:"webhook"`
	}
	manage(ctx, t, boot, http.MethodPost, base+"/manage/v1/apps/"+boot.get("app_id")+"/webhooks",
		map[string]any{"kind": "routing", "url": recv.URL() + "/route", "timeout_ms": 5000}, &created)
	if err := recv.SetSecretsFor("/route", created.Webhook.Secret); err != nil {
		t.Fatal(err)
	}
	manage(ctx, t, boot, http.MethodPost, base+"/manage/v1/apps/"+boot.get("app_id")+"/webhooks",
		map[string]any{"url": recv.URL() + "/events", "events": []string{"support.session.created", "support.session.assigned",
			"support.session.closed", "support.session.rated"}}, &created)
	if err := recv.SetSecretsFor("/events", created.Webhook.Secret); err != nil {
		t.Fatal(err)
	}

	newClient := func(user, url string) *supportDevice {
		c, err := client.New(client.Config{URL: url, DeviceID: "phone", BackoffMin: 20 * time.Millisecond, BackoffMax: time.Second,
			RequestTimeout: time.Minute, SendDeadline: 4 * time.Minute,
			TokenProvider: func(context.Context) (string, error) {
				tok, err := api.MintToken(user, time.Hour)
				return tok.Token, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		d := &supportDevice{user: user, c: c}
		d.run.Go(func() { _ = c.Run(ctx) })
		return d
	}
	visitor, agent := newClient("visitor", lb1.url()), newClient("agent", lb2.url())
	var readers sync.WaitGroup
	defer func() {
		visitor.close()
		agent.close()
		readers.Wait()
	}()

	// 1. Gateway 1 killed while the routing webhook holds its answer.
	type opened struct {
		ss  client.SupportSession
		err error
	}
	open := make(chan opened, 1)
	go func() {
		ss, err := visitor.c.OpenSupportSession(ctx, "")
		open <- opened{ss, err}
	}()
	if _, err := recv.Wait(ctx, func(rs []webhooktest.Request) bool {
		return slices.ContainsFunc(rs, func(r webhooktest.Request) bool { return r.Path == "/route" })
	}); err != nil {
		t.Fatalf("the routing webhook was not asked: %v", err)
	}
	t.Log("the routing webhook holds its first request: SIGKILL gateway 1")
	g1.kill()
	<-g1.done
	close(hold)
	var o opened
	select {
	case o = <-open:
	case <-ctx.Done():
		t.Fatal("OpenSupportSession did not return")
	}
	if o.err != nil || o.ss.State != "active" || o.ss.AgentID != "agent" || o.ss.VisitorID != "visitor" {
		t.Fatalf("OpenSupportSession across the kill = %+v, %v; want active with agent", o.ss, o.err)
	}
	for _, r := range recv.Requests() {
		if r.Verified != nil {
			t.Errorf("routing request %s: signature: %v", r.ID, r.Verified)
		}
	}
	checkAgentActive(ctx, t, boot, base, 1)

	// 2. Visitor and agent talk while the worker is killed and replaced.
	var sent atomic.Int64
	var senders sync.WaitGroup
	talk := func(from *supportDevice, to string) {
		senders.Go(func() {
			outs := make([]*client.Outgoing, 0, perSide)
			for j := range perSide {
				out, err := from.c.SendAsync(to, "text", fmt.Sprintf("%s #%d", from.user, j))
				if err != nil {
					t.Errorf("%s: send %d: %v", from.user, j, err)
					return
				}
				outs = append(outs, out)
			}
			for j, out := range outs {
				if _, err := out.Wait(ctx); err != nil {
					t.Errorf("%s: message %d failed: %v", from.user, j, err)
					return
				}
				sent.Add(1)
			}
		})
	}
	readers.Go(func() { visitor.read(ctx, t, "agent", perSide) })
	readers.Go(func() { agent.read(ctx, t, "visitor", perSide) })
	talk(visitor, "agent")
	talk(agent, "visitor")
	for sent.Load() < perSide/2 {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d messages acknowledged", sent.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("%d acknowledged: SIGKILL the worker, start another", sent.Load())
	worker.kill()
	<-worker.done
	startCluster(t, bin, env, "worker_url", workerArgs...)
	senders.Wait()
	checkAgentActive(ctx, t, boot, base, 1)

	// 3. Closed and rated: the agent's place is given back.
	closed, err := agent.c.CloseSupportSession(ctx, o.ss.ID)
	if err != nil || closed.State != "closed" {
		t.Fatalf("CloseSupportSession = %+v, %v", closed, err)
	}
	checkAgentActive(ctx, t, boot, base, 0)
	readers.Wait() // each has its peer's messages and the "closed" notice, after any "assigned"
	if t.Failed() {
		return
	}
	for _, d := range []*supportDevice{visitor, agent} {
		if got := d.assigned[o.ss.ID]; got != 1 {
			t.Errorf("%s holds %d assigned notices of %s, want exactly 1", d.user, got, o.ss.ID)
		}
	}
	if rated, err := visitor.c.RateSupportSession(ctx, o.ss.ID, 5, "quick"); err != nil || rated.Rating != 5 {
		t.Fatalf("RateSupportSession = %+v, %v", rated, err)
	}

	// 4. Every step's event reached the app, once per step (a delivery
	// may repeat, under its webhook-id).
	ids := map[string]map[string]bool{} // type → webhook-ids
	_, err = recv.Wait(ctx, func(rs []webhooktest.Request) bool {
		clear(ids)
		for _, r := range rs {
			var ev struct {
				Type string
				Data struct {
					SessionID string `json:"session_id"`
				}
			}
			if r.Path != "/events" || json.Unmarshal(r.Body, &ev) != nil || ev.Data.SessionID != o.ss.ID {
				continue
			}
			if ids[ev.Type] == nil {
				ids[ev.Type] = map[string]bool{}
			}
			ids[ev.Type][r.ID] = true
		}
		return len(ids) == 4
	})
	if err != nil {
		t.Fatalf("support events delivered: %v; want created, assigned, closed and rated", ids)
	}
	for typ, got := range ids {
		if len(got) != 1 {
			t.Errorf("%s delivered under %d webhook-ids, want 1", typ, len(got))
		}
	}
	for _, r := range recv.Requests() {
		if r.Verified != nil {
			t.Errorf("request %s to %s: signature: %v", r.ID, r.Path, r.Verified)
		}
	}
}

// supportDevice is one user's SDK client in the support chaos test, with
// the support notices it received (read by its reader goroutine only,
// until it returns).
type supportDevice struct {
	user     string
	c        *client.Client
	run      sync.WaitGroup
	assigned map[string]int // "assigned" notices by session id
}

func (d *supportDevice) close() {
	d.c.Close()
	d.run.Wait()
}

// read takes d's events until it holds want messages from peer, each once
// and in order, and a "closed" notice (its system conversation is in
// order: an "assigned" notice stored twice would come before it),
// counting its "assigned" notices.
func (d *supportDevice) read(ctx context.Context, t *testing.T, peer string, want int) {
	d.assigned = map[string]int{}
	next, closed := 0, false
	for next < want || !closed {
		ev, err := d.c.Next(ctx)
		if err != nil {
			t.Errorf("%s: %v after %d messages from %s (closed notice: %t)", d.user, err, next, peer, closed)
			return
		}
		m, ok := ev.(client.Message)
		if !ok {
			continue
		}
		var notice struct {
			Support struct {
				Event     string `json:"event"`
				SessionID string `json:"session_id"`
			} `json:"support"`
		}
		switch {
		case m.SenderID == peer:
			if w := fmt.Sprintf("%s #%d", peer, next); m.Content != w {
				t.Errorf("%s: message %d from %s is %q, want %q (each once, in order)", d.user, next, peer, m.Content, w)
				return
			}
			next++
		case m.Type == "custom" && json.Unmarshal([]byte(m.Content), &notice) == nil:
			switch notice.Support.Event {
			case "assigned":
				d.assigned[notice.Support.SessionID]++
			case "closed":
				closed = true
			}
		}
	}
}

// checkAgentActive fails unless the agent's Active count is want.
func checkAgentActive(ctx context.Context, t *testing.T, boot *clusterProc, base string, want int) {
	t.Helper()
	var out struct {
		Agents []struct {
			UserID string `json:"user_id"`
			Active int    `json:"active"`
		} `json:"agents"`
	}
	signed(ctx, t, boot, base, http.MethodGet, "/v1/support/agents", "", &out)
	if len(out.Agents) != 1 || out.Agents[0].Active != want {
		t.Fatalf("agents = %+v, want agent with %d active", out.Agents, want)
	}
}

// signed calls the server API signed with the bootstrap app's secret,
// decoding the answer into out (when not nil); a status other than 2xx
// fails the test.
func signed(ctx context.Context, t *testing.T, boot *clusterProc, base, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := signing.SignRequest(req, boot.get("app_key"), boot.get("app_secret"), []byte(body), time.Now(), signing.NewNonce()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, res.Status, b)
	}
	if out != nil {
		if err := json.NewDecoder(bytes.NewReader(b)).Decode(out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}
