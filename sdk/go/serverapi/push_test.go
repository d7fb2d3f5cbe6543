package serverapi

import (
	"context"
	"encoding/json"
	"testing"
)

const deviceJSON = `{"id":"phone 1","user_id":"alice","platform":"ios","provider":"apns","token":"ab12",
	"topic":"im.example.app","environment":"sandbox","locale":"en-GB","time_zone":"Europe/Paris",
	"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","a_future_field":1}`

func device(t *testing.T) Device {
	return Device{
		ID: "phone 1", UserID: "alice", Platform: "ios", Provider: "apns", Token: "ab12", Topic: "im.example.app",
		Environment: "sandbox", Locale: "en-GB", TimeZone: "Europe/Paris",
		CreatedAt: mustTime(t, "2026-01-01T00:00:00Z"), UpdatedAt: mustTime(t, "2026-01-02T00:00:00Z"),
	}
}

// page holds the results of a paginated call for comparison.
type page[T any] struct {
	Entries []T
	Next    string
}

func TestPushMethods(t *testing.T) {
	ctx := context.Background()
	runMethodCases(t, []methodCase{
		{
			name: "PutDevice",
			call: func(c *Client) (any, error) {
				return c.PutDevice(ctx, "alice", "phone 1", DeviceInput{
					Platform: "ios", Provider: "apns", Token: "ab12", Topic: "im.example.app",
					Environment: "sandbox", Locale: "en-GB", TimeZone: "Europe/Paris",
				})
			},
			method: "PUT", uri: "/v1/users/alice/devices/phone%201",
			wantBody: `{"platform":"ios","provider":"apns","token":"ab12","topic":"im.example.app",
				"environment":"sandbox","locale":"en-GB","time_zone":"Europe/Paris"}`,
			status: 200, resp: `{"device":` + deviceJSON + `}`, want: device(t),
		},
		{
			name: "PutDevice omits empty fields",
			call: func(c *Client) (any, error) {
				return c.PutDevice(ctx, "alice", "tab/2", DeviceInput{Platform: "android", Provider: "fcm", Token: "f"})
			},
			method: "PUT", uri: "/v1/users/alice/devices/tab%2F2",
			wantBody: `{"platform":"android","provider":"fcm","token":"f"}`,
			status:   200, resp: `{"device":{"id":"tab/2"}}`, want: Device{ID: "tab/2"},
		},
		{
			name:   "ListDevices",
			call:   func(c *Client) (any, error) { return c.ListDevices(ctx, "alice") },
			method: "GET", uri: "/v1/users/alice/devices",
			status: 200, resp: `{"devices":[` + deviceJSON + `]}`, want: []Device{device(t)},
		},
		{
			name:   "DeleteDevice",
			call:   func(c *Client) (any, error) { return nil, c.DeleteDevice(ctx, "alice", "phone 1") },
			method: "DELETE", uri: "/v1/users/alice/devices/phone%201",
			status: 204, want: nil,
		},
		{
			name:   "GetPushSettings",
			call:   func(c *Client) (any, error) { return c.GetPushSettings(ctx, "alice") },
			method: "GET", uri: "/v1/users/alice/push-settings",
			status: 200,
			resp: `{"push_settings":{"disabled":false,"dnd_start":1320,"dnd_end":420,"time_zone":"Asia/Tokyo",
				"updated_at":"2026-01-02T00:00:00Z"}}`,
			want: PushSettings{DNDStart: 1320, DNDEnd: 420, TimeZone: "Asia/Tokyo", UpdatedAt: mustTime(t, "2026-01-02T00:00:00Z")},
		},
		{
			name: "SetPushSettings sends every field but updated_at",
			call: func(c *Client) (any, error) {
				return c.SetPushSettings(ctx, "alice", PushSettings{Disabled: true, UpdatedAt: mustTime(t, "2025-01-01T00:00:00Z")})
			},
			method: "PUT", uri: "/v1/users/alice/push-settings",
			wantBody: `{"disabled":true,"dnd_start":0,"dnd_end":0,"time_zone":""}`,
			status:   200,
			resp:     `{"push_settings":{"disabled":true,"dnd_start":0,"dnd_end":0,"time_zone":"","updated_at":"2026-01-02T00:00:00Z"}}`,
			want:     PushSettings{Disabled: true, UpdatedAt: mustTime(t, "2026-01-02T00:00:00Z")},
		},
		{
			name:   "MuteConversation",
			call:   func(c *Client) (any, error) { return nil, c.MuteConversation(ctx, "alice", "p:alice:bob", true) },
			method: "PUT", uri: "/v1/users/alice/conversations/p:alice:bob/mute", wantBody: `{"muted":true}`,
			status: 204, want: nil,
		},
		{
			name:   "MuteConversation unmutes",
			call:   func(c *Client) (any, error) { return nil, c.MuteConversation(ctx, "alice", "g/1", false) },
			method: "PUT", uri: "/v1/users/alice/conversations/g%2F1/mute", wantBody: `{"muted":false}`,
			status: 204, want: nil,
		},
		{
			name: "PushLog",
			call: func(c *Client) (any, error) {
				es, next, err := c.PushLog(ctx, PushLogQuery{UserID: "bob", ConvID: "p:alice:bob", Seq: 7, Cursor: "Yw==", Limit: 10})
				return page[PushLogEntry]{es, next}, err
			},
			method: "GET", uri: "/v1/push/log?conv_id=p%3Aalice%3Abob&cursor=Yw%3D%3D&limit=10&seq=7&user_id=bob",
			status: 200,
			resp: `{"entries":[{"id":"l1","user_id":"bob","conv_id":"p:alice:bob","seq":7,"device_id":"phone",
				"provider":"fcm","status":"sent","reason":"","at":"2026-01-02T00:00:00Z"}],"next_cursor":"bA=="}`,
			want: page[PushLogEntry]{[]PushLogEntry{{
				ID: "l1", UserID: "bob", ConvID: "p:alice:bob", Seq: 7, DeviceID: "phone", Provider: "fcm",
				Status: "sent", At: mustTime(t, "2026-01-02T00:00:00Z"),
			}}, "bA=="},
		},
		{
			name: "PushLog of the whole app",
			call: func(c *Client) (any, error) {
				es, next, err := c.PushLog(ctx, PushLogQuery{})
				return page[PushLogEntry]{es, next}, err
			},
			method: "GET", uri: "/v1/push/log",
			status: 200, resp: `{"entries":[],"next_cursor":""}`, want: page[PushLogEntry]{[]PushLogEntry{}, ""},
		},
		{
			name: "PushOutbox",
			call: func(c *Client) (any, error) {
				es, next, err := c.PushOutbox(ctx, "bob", "", 5)
				return page[OutboxEntry]{es, next}, err
			},
			method: "GET", uri: "/v1/push/outbox?limit=5&user_id=bob",
			status: 200,
			resp: `{"entries":[{"id":"o1","user_id":"bob","conv_id":"p:alice:bob","seq":3,"sender_id":"alice",
				"type":"text","preview":"hi","badge":2,"notification":{"title":"alice","body":"hi"},
				"created_at":"2026-01-02T00:00:00Z"}],"next_cursor":"bw=="}`,
			want: page[OutboxEntry]{[]OutboxEntry{{
				ID: "o1", UserID: "bob", ConvID: "p:alice:bob", Seq: 3, SenderID: "alice", Type: "text", Preview: "hi",
				Badge: 2, Notification: json.RawMessage(`{"title":"alice","body":"hi"}`), CreatedAt: mustTime(t, "2026-01-02T00:00:00Z"),
			}}, "bw=="},
		},
		{
			name: "PushOutbox of every user, next page",
			call: func(c *Client) (any, error) {
				es, next, err := c.PushOutbox(ctx, "", "bw==", 0)
				return page[OutboxEntry]{es, next}, err
			},
			method: "GET", uri: "/v1/push/outbox?cursor=bw%3D%3D",
			status: 200, resp: `{"entries":[]}`, want: page[OutboxEntry]{[]OutboxEntry{}, ""},
		},
		{
			name: "SendMessage with push options",
			call: func(c *Client) (any, error) {
				return c.SendMessage(ctx, MessageInput{
					FromUserID: "alice", ToUserID: "bob", Type: "text", Content: "hi",
					Push: &PushOptions{Title: "Alice", Silent: true, CollapseID: "c1", Priority: "normal", Data: map[string]string{"k": "v"}},
				})
			},
			method: "POST", uri: "/v1/messages",
			wantBody: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi",
				"push":{"title":"Alice","silent":true,"collapse_id":"c1","priority":"normal","data":{"k":"v"}}}`,
			status: 201,
			resp: `{"message":{"conv_id":"p:alice:bob","seq":4,"sender_id":"alice","client_msg_id":"srv_1","type":"text",
				"content":"hi","created_at":"2026-01-02T00:00:00Z","recalled":false},"duplicate":false}`,
			want: SendResult{Message: Message{
				ConvID: "p:alice:bob", Seq: 4, SenderID: "alice", ClientMsgID: "srv_1", Type: "text", Content: "hi",
				CreatedAt: mustTime(t, "2026-01-02T00:00:00Z"),
			}},
		},
		{
			name: "SendMessage system message without a notification",
			call: func(c *Client) (any, error) {
				return c.SendMessage(ctx, MessageInput{ToUserID: "bob", System: true, Type: "text", Content: "welcome",
					Push: &PushOptions{Skip: true}})
			},
			method: "POST", uri: "/v1/messages",
			wantBody: `{"to_user_id":"bob","system":true,"type":"text","content":"welcome","push":{"skip":true}}`,
			status:   200, resp: `{"message":{"conv_id":"s:bob","seq":1},"duplicate":true}`,
			want: SendResult{Message: Message{ConvID: "s:bob", Seq: 1}, Duplicate: true},
		},
	})
}

func TestPushLocalErrors(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t, reply(200, `{}`))
	calls := map[string]func() error{
		"PutDevice empty user":     func() error { _, err := c.PutDevice(ctx, "", "d", DeviceInput{}); return err },
		"PutDevice empty device":   func() error { _, err := c.PutDevice(ctx, "alice", "", DeviceInput{}); return err },
		"DeleteDevice empty":       func() error { return c.DeleteDevice(ctx, "alice", "") },
		"ListDevices empty user":   func() error { _, err := c.ListDevices(ctx, ""); return err },
		"GetPushSettings empty":    func() error { _, err := c.GetPushSettings(ctx, ""); return err },
		"MuteConversation no conv": func() error { return c.MuteConversation(ctx, "alice", "", true) },
		"PushLog negative limit":   func() error { _, _, err := c.PushLog(ctx, PushLogQuery{Limit: -1}); return err },
		"PushOutbox negative":      func() error { _, _, err := c.PushOutbox(ctx, "", "", -1); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s = nil, want an error before any request", name)
		}
	}
	if req := f.lastRequest(); req.method != "" {
		t.Errorf("a request was sent: %s %s", req.method, req.uri)
	}
}
