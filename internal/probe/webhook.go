package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

// ScenarioWebhook registers a post-event endpoint and a pre-send hook on
// a receiver the probe starts on a loopback port, sends messages through
// the server API, and checks signed delivery, a rejected message and a
// modified one. The installation must allow loopback webhook URLs
// (embedded mode does by default).
const ScenarioWebhook = "webhook"

// Console is a console member's credentials and the app's id, for the
// scenarios that configure the app through the management API.
type Console struct {
	Email, Password, AppID string
}

// Contents the probe's pre-send hook reacts to.
const (
	probeReject = "probe: please reject"
	probeModify = "probe: please modify"
	probeAllow  = "probe: please allow"
	modified    = "probe: modified by the hook"
)

// webhook runs the webhook scenario.
func (r *runner) webhook(ctx context.Context) (Result, error) {
	r.res.Webhook = true
	c := r.cfg.Console
	if c.Email == "" || c.Password == "" || c.AppID == "" {
		return r.res, errors.New("probe: the webhook scenario needs the console email, password and app id")
	}
	recv, err := webhooktest.Start()
	if err != nil {
		return r.res, fmt.Errorf("probe: start the receiver: %w", err)
	}
	defer func() { _ = recv.Close() }()
	recv.Respond(answerPreSend)
	m := manageClient{base: strings.TrimSuffix(r.cfg.URL, "/"), c: c}
	evID, evSecret, err := m.createWebhook(ctx, map[string]any{"url": recv.URL() + "/events",
		"events": []string{"message.created"}, "description": "magpie probe " + r.prefix})
	if err != nil {
		return r.res, err
	}
	defer m.deleteWebhook(evID)
	preID, preSecret, err := m.createWebhook(ctx, map[string]any{"kind": "pre_send", "url": recv.URL() + "/pre-send",
		"server_api": true, "timeout_ms": 2000, "description": "magpie probe " + r.prefix})
	if err != nil {
		return r.res, err
	}
	defer m.deleteWebhook(preID)
	if err := errors.Join(recv.SetSecretsFor("/events", evSecret), recv.SetSecretsFor("/pre-send", preSecret)); err != nil {
		return r.res, err
	}
	a, b := r.prefix+"-a", r.prefix+"-b"
	for _, u := range []string{a, b} {
		if _, err := r.api.CreateUser(ctx, serverapi.UserInput{ID: u, Name: "Magpie probe"}); err != nil {
			return r.res, fmt.Errorf("probe: create user %s: %w", u, err)
		}
	}
	// Every gateway applies the new settings when the change event reaches
	// it: send until the hook rejects.
	if err := r.untilRejected(ctx, a, b); err != nil {
		return r.res, err
	}
	allowed, err := r.send(ctx, a, b, "allow", probeAllow)
	if err != nil {
		return r.res, err
	}
	changed, err := r.send(ctx, a, b, "modify", probeModify)
	if err != nil {
		return r.res, err
	}
	if changed.Content != modified {
		r.res.failf("the modified message was stored with %q, want %q", changed.Content, modified)
	}
	r.checkDelivered(ctx, recv, allowed, probeAllow)
	r.checkDelivered(ctx, recv, changed, modified)
	for _, q := range recv.Requests() {
		if q.Path == "/pre-send" && q.Verified != nil {
			r.res.failf("a pre-send request did not verify: %v", q.Verified)
			break
		}
	}
	return r.finish(), nil
}

// answerPreSend is the probe's pre-send hook.
func answerPreSend(q webhooktest.Request) webhooktest.Response {
	if q.Path != "/pre-send" {
		return webhooktest.Response{Status: http.StatusNoContent}
	}
	ev, err := sdk.ParseEvent(q.Body)
	if err != nil {
		return webhooktest.Response{Status: http.StatusBadRequest}
	}
	p, err := ev.PreSend()
	if err != nil {
		return webhooktest.Response{Status: http.StatusBadRequest}
	}
	v := sdk.Allow()
	switch p.Content {
	case probeReject:
		v = sdk.Reject("probe_rejected", "rejected by the probe's hook")
	case probeModify:
		v = sdk.Modify(modified)
	}
	body, _ := json.Marshal(v)
	return webhooktest.Response{Body: body}
}

// untilRejected sends probeReject until the hook rejects it.
func (r *runner) untilRejected(ctx context.Context, from, to string) error {
	for i := 0; ; i++ {
		_, err := r.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: from, ToUserID: to, Type: "text",
			Content: probeReject, ClientMsgID: fmt.Sprintf("%s-reject-%d", r.prefix, i)})
		var ae *serverapi.Error
		switch {
		case errors.As(err, &ae) && ae.Code == "message_rejected":
			if ae.Reason != "probe_rejected" {
				r.res.failf("the rejection's reason is %q, want probe_rejected", ae.Reason)
			}
			return nil
		case err != nil:
			return fmt.Errorf("probe: send a message to reject: %w", err)
		}
		if i == 50 {
			r.res.failf("the pre-send hook never rejected a message")
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// send sends one text message and counts it.
func (r *runner) send(ctx context.Context, from, to, tag, content string) (serverapi.Message, error) {
	res, err := r.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: from, ToUserID: to, Type: "text",
		Content: content, ClientMsgID: r.prefix + "-" + tag})
	if err != nil {
		return serverapi.Message{}, fmt.Errorf("probe: send the message to %s: %w", tag, err)
	}
	r.res.Sent++
	return res.Message, nil
}

// checkDelivered waits for m's message.created at /events and checks it.
func (r *runner) checkDelivered(ctx context.Context, recv *webhooktest.Receiver, m serverapi.Message, content string) {
	start := time.Now()
	var got []webhooktest.Request
	reqs, err := recv.Wait(ctx, func(rs []webhooktest.Request) bool {
		got = got[:0]
		for _, q := range rs {
			if q.Path != "/events" {
				continue
			}
			ev, err := sdk.ParseEvent(q.Body)
			if err != nil {
				continue
			}
			if d, err := ev.Message(); err == nil && d.ConvID == m.ConvID && d.Seq == m.Seq {
				got = append(got, q)
			}
		}
		return len(got) > 0
	})
	if err != nil {
		r.res.Missing++
		r.res.failf("no message.created for seq %d (%d requests at the receiver)", m.Seq, len(reqs))
		return
	}
	r.lat = append(r.lat, time.Since(start))
	q := got[0]
	ev, _ := sdk.ParseEvent(q.Body)
	d, _ := ev.Message()
	switch {
	case q.Verified != nil:
		r.res.failf("the message.created of seq %d did not verify: %v", m.Seq, q.Verified)
	case d.Content != content:
		r.res.failf("the message.created of seq %d holds %q, want %q", m.Seq, d.Content, content)
	default:
		r.res.Received++
	}
}

// manageClient calls the management API with HTTP Basic credentials.
type manageClient struct {
	base string
	c    Console
}

func (m manageClient) do(ctx context.Context, method, path string, in any) ([]byte, int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(m.c.Email, m.c.Password)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return out, resp.StatusCode, err
}

// createWebhook creates an endpoint and returns its id and secret.
func (m manageClient) createWebhook(ctx context.Context, in map[string]any) (string, string, error) {
	out, status, err := m.do(ctx, http.MethodPost, "/manage/v1/apps/"+m.c.AppID+"/webhooks", in)
	if err != nil {
		return "", "", fmt.Errorf("probe: create a webhook: %w", err)
	}
	if status != http.StatusCreated {
		return "", "", fmt.Errorf("probe: create a webhook: %d %s", status, out)
	}
	var res struct {
		Webhook struct{ ID, Secret string }
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Webhook.Secret == "" {
		return "", "", fmt.Errorf("probe: create a webhook: unexpected answer %s", out)
	}
	return res.Webhook.ID, res.Webhook.Secret, nil
}

// deleteWebhook removes an endpoint the probe made, on a context of its
// own: the probe's may have ended.
func (m manageClient) deleteWebhook(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = m.do(ctx, http.MethodDelete, "/manage/v1/apps/"+m.c.AppID+"/webhooks/"+id, nil)
}
