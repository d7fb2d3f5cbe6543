package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// manager calls the management API with an operator's credentials.
type manager struct {
	base, email, password string
	hc                    *http.Client
}

func newManager(base, email, password string) *manager {
	return &manager{base: strings.TrimSuffix(base, "/"), email: email, password: password, hc: &http.Client{Timeout: 15 * time.Second}}
}

// do sends one request and decodes a 2xx answer into out (if not nil).
func (m *manager) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(m.email, m.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := m.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, res.StatusCode, msg)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// appID returns the id of the app with appKey.
func (m *manager) appID(ctx context.Context, appKey string) (string, error) {
	var tenants struct {
		Tenants []struct {
			ID string `json:"id"`
		} `json:"tenants"`
	}
	if err := m.do(ctx, "GET", "/manage/v1/tenants", nil, &tenants); err != nil {
		return "", err
	}
	for _, t := range tenants.Tenants {
		var apps struct {
			Apps []struct {
				ID  string `json:"id"`
				Key string `json:"app_key"`
			} `json:"apps"`
		}
		if err := m.do(ctx, "GET", "/manage/v1/tenants/"+t.ID+"/apps", nil, &apps); err != nil {
			return "", err
		}
		for _, a := range apps.Apps {
			if a.Key == appKey {
				return a.ID, nil
			}
		}
	}
	return "", fmt.Errorf("no app with key %s visible to %s", appKey, m.email)
}

// RaiseLimits lifts the limits of the app with appKey (login rate, devices
// per user, API and send rates) through the management API with an
// operator's credentials, so that a run measures the server, not the app's
// limits.
func RaiseLimits(ctx context.Context, base, email, password, appKey string) error {
	m := newManager(base, email, password)
	id, err := m.appID(ctx, appKey)
	if err != nil {
		return fmt.Errorf("raise limits: %w", err)
	}
	body := []byte(`{"limits":{"conn_rate":100000,"max_devices_per_user":100,"api_rate":10000,"api_burst":10000,"send_rate":1000000,"send_burst":1000000}}`)
	if err := m.do(ctx, "PATCH", "/manage/v1/apps/"+id, body, nil); err != nil {
		return fmt.Errorf("raise limits: %w", err)
	}
	return nil
}

// PresendHook is a pre-send hook the load generator runs for a run: an
// HTTP server on a loopback port, in this process, that answers every
// message "allow" after a fixed delay (the hook's own work), registered as
// the app's pre-send hook through the management API.
type PresendHook struct {
	calls atomic.Int64
	srv   *http.Server
	m     *manager
	app   string
	id    string // the registered webhook's id
}

// StartPresendHook starts a hook answering after delay and registers it as
// the pre-send hook of the app with appKey (the server must allow loopback
// hooks, as magpie dev does), in place of any the app has. Close removes
// it.
func StartPresendHook(ctx context.Context, base, email, password, appKey string, delay time.Duration) (*PresendHook, error) {
	m := newManager(base, email, password)
	app, err := m.appID(ctx, appKey)
	if err != nil {
		return nil, fmt.Errorf("pre-send hook: %w", err)
	}
	var hooks struct {
		Webhooks []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"webhooks"`
	}
	if err := m.do(ctx, "GET", "/manage/v1/apps/"+app+"/webhooks", nil, &hooks); err != nil {
		return nil, fmt.Errorf("pre-send hook: %w", err)
	}
	for _, w := range hooks.Webhooks {
		if w.Kind == "pre_send" { // an earlier run's, whose server is gone
			if err := m.do(ctx, "DELETE", "/manage/v1/apps/"+app+"/webhooks/"+w.ID, nil, nil); err != nil {
				return nil, fmt.Errorf("pre-send hook: remove the app's: %w", err)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pre-send hook: %w", err)
	}
	h := &PresendHook{m: m, app: app}
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.calls.Add(1)
		time.Sleep(delay) // the hook's own work
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"action":"allow"}`))
	})}
	go func() { _ = h.srv.Serve(ln) }()
	body, _ := json.Marshal(map[string]any{"kind": "pre_send", "url": "http://" + ln.Addr().String() + "/pre-send", "timeout_ms": 5000})
	var created struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
	}
	if err := m.do(ctx, "POST", "/manage/v1/apps/"+app+"/webhooks", body, &created); err != nil {
		_ = h.srv.Close()
		return nil, fmt.Errorf("pre-send hook: register: %w", err)
	}
	h.id = created.Webhook.ID
	return h, nil
}

// Calls returns how many messages the hook was asked about.
func (h *PresendHook) Calls() int64 { return h.calls.Load() }

// Close removes the hook from the app and stops its server.
func (h *PresendHook) Close(ctx context.Context) error {
	err := h.m.do(ctx, "DELETE", "/manage/v1/apps/"+h.app+"/webhooks/"+h.id, nil, nil)
	return errors.Join(err, h.srv.Close())
}
