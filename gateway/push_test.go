package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
)

// Device tokens of the tests: an APNs token is hex, an FCM token printable
// ASCII.
var (
	apnsToken = strings.Repeat("AB12", 16)
	fcmToken  = "fcm-token:APA91b_example"
)

func iosDevice(token string) string {
	return fmt.Sprintf(`{"platform":"ios","provider":"apns","token":%q,"topic":"im.magpie.test","environment":"sandbox","locale":"en-GB","time_zone":"Europe/Paris"}`, token)
}

func androidDevice(token string) string {
	return fmt.Sprintf(`{"platform":"android","provider":"fcm","token":%q}`, token)
}

// mustRegister registers a device of a user of app for push.
func (e *env) mustRegister(app testApp, user, device, body string) map[string]any {
	e.t.Helper()
	r := e.do(app, req{method: "PUT", target: "/v1/users/" + user + "/devices/" + device, body: body})
	if r.status != http.StatusOK {
		e.t.Fatalf("register %s/%s: %d %s", user, device, r.status, r.body)
	}
	return r.json(e.t)["device"].(map[string]any)
}

// deviceIDs lists the ids of a user's registered devices through the API.
func (e *env) deviceIDs(app testApp, user string) []string {
	e.t.Helper()
	r := e.do(app, req{method: "GET", target: "/v1/users/" + user + "/devices"})
	if r.status != http.StatusOK {
		e.t.Fatalf("list devices of %s: %d %s", user, r.status, r.body)
	}
	var ids []string
	for _, d := range r.json(e.t)["devices"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

func TestPushDevices(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	if ids := e.deviceIDs(e.a, "alice"); len(ids) != 0 {
		t.Fatalf("devices before any registration = %v", ids)
	}
	d := e.mustRegister(e.a, "alice", "phone-1", iosDevice(apnsToken))
	want := map[string]any{
		"id": "phone-1", "user_id": "alice", "platform": "ios", "provider": "apns", "token": strings.ToLower(apnsToken),
		"topic": "im.magpie.test", "environment": "sandbox", "locale": "en-GB", "time_zone": "Europe/Paris",
		"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("device[%s] = %v, want %v", k, d[k], v)
		}
	}
	e.advance(time.Minute)
	d = e.mustRegister(e.a, "alice", "tablet", androidDevice(fcmToken))
	if d["environment"] != "" || d["topic"] != "" || d["provider"] != "fcm" {
		t.Fatalf("fcm device = %v", d)
	}
	// Registering again replaces the registration and keeps created_at.
	d = e.mustRegister(e.a, "alice", "phone-1", `{"platform":"ios","provider":"apns","token":"`+apnsToken+`"}`)
	if d["environment"] != "production" || d["created_at"] != "2026-01-01T00:00:00Z" || d["updated_at"] != "2026-01-01T00:01:00Z" {
		t.Fatalf("re-registered device = %v", d)
	}
	if ids := e.deviceIDs(e.a, "alice"); strings.Join(ids, ",") != "phone-1,tablet" {
		t.Fatalf("devices = %v, want phone-1,tablet", ids)
	}

	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice/devices/phone-1"}); r.status != http.StatusNoContent {
		t.Fatalf("unregister: %d %s", r.status, r.body)
	}
	if ids := e.deviceIDs(e.a, "alice"); strings.Join(ids, ",") != "tablet" {
		t.Fatalf("devices after unregister = %v, want tablet", ids)
	}
	for _, tt := range []struct{ method, target, body, code string }{
		{"DELETE", "/v1/users/alice/devices/phone-1", "", "device_not_found"},
		{"DELETE", "/v1/users/nobody/devices/tablet", "", "device_not_found"},
		{"GET", "/v1/users/nobody/devices", "", "user_not_found"},
		{"PUT", "/v1/users/nobody/devices/phone-1", iosDevice(apnsToken), "user_not_found"},
	} {
		if r := e.do(e.a, req{method: tt.method, target: tt.target, body: tt.body}); r.status != http.StatusNotFound || r.code(t) != tt.code {
			t.Errorf("%s %s = %d %s, want 404 %s", tt.method, tt.target, r.status, r.body, tt.code)
		}
	}
}

// TestPushTokenMoves: a token registered by another user moves to the
// one registering it (a phone that changed hands).
func TestPushTokenMoves(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.mustRegister(e.a, "alice", "phone", iosDevice(apnsToken))
	e.mustRegister(e.a, "bob", "phone-b", iosDevice(strings.ToLower(apnsToken)))
	if ids := e.deviceIDs(e.a, "alice"); len(ids) != 0 {
		t.Fatalf("alice's devices after bob registered her token = %v, want none", ids)
	}
	if ids := e.deviceIDs(e.a, "bob"); strings.Join(ids, ",") != "phone-b" {
		t.Fatalf("bob's devices = %v, want phone-b", ids)
	}
}

func TestPushDeviceLimit(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	for i := range push.MaxDevicesPerUser {
		e.mustRegister(e.a, "alice", fmt.Sprintf("d%02d", i), androidDevice(fmt.Sprintf("tok-%d", i)))
	}
	r := e.do(e.a, req{method: "PUT", target: "/v1/users/alice/devices/one-more", body: androidDevice("tok-x")})
	if r.status != http.StatusConflict || r.code(t) != "too_many_devices" {
		t.Fatalf("device over the limit: %d %s, want 409 too_many_devices", r.status, r.body)
	}
	// Registering a known device again is not a new one.
	e.mustRegister(e.a, "alice", "d00", androidDevice("tok-new"))
}

func TestPushBadInput(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	dev := "/v1/users/alice/devices/phone"
	settings := "/v1/users/alice/push-settings"
	msg := func(pushJSON string) string {
		return `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi","push":` + pushJSON + `}`
	}
	tests := []struct {
		name, method, target, body string
		code, field                string
	}{
		{"bad platform", "PUT", dev, `{"platform":"symbian","provider":"fcm","token":"x"}`, "validation_failed", "platform"},
		{"apns on android", "PUT", dev, `{"platform":"android","provider":"apns","token":"` + apnsToken + `"}`, "validation_failed", "provider"},
		{"bad provider", "PUT", dev, `{"platform":"ios","provider":"pigeon","token":"x"}`, "validation_failed", "provider"},
		{"apns token not hex", "PUT", dev, `{"platform":"ios","provider":"apns","token":"` + strings.Repeat("z", 64) + `"}`, "validation_failed", "token"},
		{"apns token short", "PUT", dev, `{"platform":"ios","provider":"apns","token":"abcd"}`, "validation_failed", "token"},
		{"fcm token with space", "PUT", dev, `{"platform":"android","provider":"fcm","token":"a b"}`, "validation_failed", "token"},
		{"fcm token empty", "PUT", dev, `{"platform":"android","provider":"fcm","token":""}`, "validation_failed", "token"},
		{"fcm with topic", "PUT", dev, `{"platform":"android","provider":"fcm","token":"t","topic":"com.x"}`, "validation_failed", "topic"},
		{"bad environment", "PUT", dev, `{"platform":"ios","provider":"apns","token":"` + apnsToken + `","environment":"staging"}`, "validation_failed", "environment"},
		{"bad device time zone", "PUT", dev, `{"platform":"android","provider":"fcm","token":"t","time_zone":"Mars/Olympus"}`, "validation_failed", "time_zone"},
		{"bad locale", "PUT", dev, `{"platform":"android","provider":"fcm","token":"t","locale":"not a locale"}`, "validation_failed", "locale"},
		{"device id not UTF-8", "PUT", "/v1/users/alice/devices/bad%FFid", androidDevice("t"), "validation_failed", "device_id"},
		{"device id too long", "PUT", "/v1/users/alice/devices/" + strings.Repeat("d", 129), androidDevice("t"), "validation_failed", "device_id"},
		{"device unknown field", "PUT", dev, `{"platform":"android","provider":"fcm","token":"t","color":"red"}`, "unknown_field", "color"},
		{"device empty body", "PUT", dev, ``, "invalid_json", ""},
		{"dnd_start too big", "PUT", settings, `{"dnd_start":1440,"dnd_end":0}`, "validation_failed", "dnd_start"},
		{"dnd_end negative", "PUT", settings, `{"dnd_start":0,"dnd_end":-1}`, "validation_failed", "dnd_end"},
		{"settings bad time zone", "PUT", settings, `{"time_zone":"Local"}`, "validation_failed", "time_zone"},
		{"settings wrong type", "PUT", settings, `{"disabled":"yes"}`, "validation_failed", "disabled"},
		{"mute without muted", "PUT", "/v1/users/alice/conversations/p:alice:bob/mute", `{}`, "validation_failed", "muted"},
		{"mute wrong type", "PUT", "/v1/users/alice/conversations/p:alice:bob/mute", `{"muted":1}`, "validation_failed", "muted"},
		{"log without filter", "GET", "/v1/push/log", "", "validation_failed", "user_id"},
		{"log seq without conv", "GET", "/v1/push/log?user_id=alice&seq=3", "", "validation_failed", "seq"},
		{"log bad seq", "GET", "/v1/push/log?conv_id=p:alice:bob&seq=x", "", "validation_failed", "seq"},
		{"log bad limit", "GET", "/v1/push/log?user_id=alice&limit=201", "", "validation_failed", "limit"},
		{"log bad cursor", "GET", "/v1/push/log?user_id=alice&cursor=%25%25", "", "validation_failed", "cursor"},
		{"outbox bad limit", "GET", "/v1/push/outbox?limit=0", "", "validation_failed", "limit"},
		{"push priority", "POST", "/v1/messages", msg(`{"priority":"urgent"}`), "validation_failed", "push.priority"},
		{"push long title", "POST", "/v1/messages", msg(`{"title":"` + strings.Repeat("t", 101) + `"}`), "validation_failed", "push.title"},
		{"push reserved data", "POST", "/v1/messages", msg(`{"data":{"conv_id":"x"}}`), "validation_failed", "push.data"},
		{"push unknown field", "POST", "/v1/messages", msg(`{"sound":"bell"}`), "validation_failed", "push"},
		{"push not an object", "POST", "/v1/messages", msg(`"loud"`), "validation_failed", "push"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(e.a, req{method: tt.method, target: tt.target, body: tt.body})
			if r.status != http.StatusBadRequest || r.code(t) != tt.code {
				t.Fatalf("%s %s %s = %d %s, want 400 %s", tt.method, tt.target, tt.body, r.status, r.body, tt.code)
			}
			if f, _ := r.json(t)["error"].(map[string]any)["field"].(string); f != tt.field {
				t.Fatalf("error field = %q, want %q", f, tt.field)
			}
		})
	}
	ctx := context.Background()
	if ds, _ := e.store.App(e.a.ID).ListDevices(ctx, "alice"); len(ds) != 0 {
		t.Fatalf("devices stored by rejected requests: %v", ds)
	}
	if p, _ := e.store.App(e.a.ID).GetPushSettings(ctx, "alice"); p != (store.PushSettings{}) {
		t.Fatalf("settings stored by rejected requests: %+v", p)
	}
	if ms, _ := e.store.App(e.a.ID).ListMessages(ctx, "p:alice:bob", store.Range{From: 1, Limit: 10}); len(ms) != 0 {
		t.Fatalf("messages stored by rejected requests: %v", ms)
	}
}

func TestPushSettings(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	r := e.do(e.a, req{method: "GET", target: "/v1/users/alice/push-settings"})
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if p := r.json(t)["push_settings"].(map[string]any); p["disabled"] != false || p["dnd_start"] != 0.0 || p["time_zone"] != "" {
		t.Fatalf("settings never set = %v", p)
	}
	r = e.do(e.a, req{method: "PUT", target: "/v1/users/alice/push-settings", body: `{"disabled":true,"dnd_start":1320,"dnd_end":420,"time_zone":"Asia/Tokyo"}`})
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	want := map[string]any{"disabled": true, "dnd_start": 1320.0, "dnd_end": 420.0, "time_zone": "Asia/Tokyo", "updated_at": "2026-01-01T00:00:00Z"}
	for _, got := range []map[string]any{
		r.json(t)["push_settings"].(map[string]any),
		e.do(e.a, req{method: "GET", target: "/v1/users/alice/push-settings"}).json(t)["push_settings"].(map[string]any),
	} {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("push_settings[%s] = %v, want %v", k, got[k], v)
			}
		}
	}
	for _, m := range []string{"GET", "PUT"} {
		r := e.do(e.a, req{method: m, target: "/v1/users/nobody/push-settings", body: map[string]string{"PUT": `{}`}[m]})
		if r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
			t.Errorf("%s settings of an unknown user = %d %s, want 404 user_not_found", m, r.status, r.body)
		}
	}
}

// mustSend sends a text message from one user to another.
func (e *env) mustSend(app testApp, from, to, body string) map[string]any {
	e.t.Helper()
	r := e.do(app, req{method: "POST", target: "/v1/messages", body: body})
	if r.status != http.StatusCreated {
		e.t.Fatalf("send %s -> %s: %d %s", from, to, r.status, r.body)
	}
	return r.json(e.t)["message"].(map[string]any)
}

func TestMuteConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.mustSend(e.a, "alice", "bob", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi"}`)
	muted := func() bool {
		t.Helper()
		ucs, err := e.store.App(e.a.ID).ListUserConversations(ctx, "alice", "", 10)
		if err != nil || len(ucs) != 1 {
			t.Fatalf("alice's conversations = %v, %v", ucs, err)
		}
		return ucs[0].Muted
	}
	for _, m := range []bool{true, false, true} {
		r := e.do(e.a, req{method: "PUT", target: "/v1/users/alice/conversations/p:alice:bob/mute", body: fmt.Sprintf(`{"muted":%t}`, m)})
		if r.status != http.StatusNoContent {
			t.Fatalf("mute %t: %d %s", m, r.status, r.body)
		}
		if got := muted(); got != m {
			t.Fatalf("muted = %t after setting %t", got, m)
		}
	}
	for _, target := range []string{
		"/v1/users/alice/conversations/p:alice:carol/mute",
		"/v1/users/alice/conversations/s:bob/mute",
		"/v1/users/nobody/conversations/p:alice:bob/mute",
	} {
		r := e.do(e.a, req{method: "PUT", target: target, body: `{"muted":true}`})
		if r.status != http.StatusNotFound || r.code(t) != "conversation_not_found" {
			t.Errorf("PUT %s = %d %s, want 404 conversation_not_found", target, r.status, r.body)
		}
	}
}

// seedPushRecords writes push log and outbox entries of alice (and one of
// bob) in app's store, as the push worker would.
func (e *env) seedPushRecords(app testApp) {
	e.t.Helper()
	ctx := context.Background()
	a := e.store.App(app.ID)
	at := e.clock()
	var logs []store.PushLogEntry
	for i, s := range []struct {
		user, conv string
		seq        int64
	}{{"alice", "p:alice:bob", 1}, {"alice", "p:alice:bob", 2}, {"alice", "p:alice:carol", 1}, {"bob", "p:alice:bob", 3}} {
		logs = append(logs, store.PushLogEntry{
			ID: fmt.Sprintf("ntf_%02d.recorded", i), UserID: s.user, ConvID: s.conv, Seq: s.seq,
			Provider: push.ProviderOutbox, Status: push.StatusRecorded, At: at,
		})
	}
	logs = append(logs, store.PushLogEntry{ID: "ntf_01.x.sent", UserID: "alice", ConvID: "p:alice:bob", Seq: 2,
		DeviceID: "phone", Provider: push.ProviderFCM, Status: push.StatusFailed, Reason: "no credential", At: at})
	if err := a.AddPushLog(ctx, logs); err != nil {
		e.t.Fatal(err)
	}
	for i, o := range []store.OutboxEntry{
		{UserID: "alice", ConvID: "p:alice:bob", Seq: 1, SenderID: "bob", Type: "text", Preview: "hi", Badge: 1, Payload: []byte(`{"title":"bob","body":"hi"}`)},
		{UserID: "alice", ConvID: "p:alice:bob", Seq: 2, SenderID: "bob", Type: "custom", Badge: 2},
		{UserID: "bob", ConvID: "p:alice:bob", Seq: 3, SenderID: "alice", Type: "text", Preview: "yo", Badge: 1},
	} {
		o.ID, o.CreatedAt = fmt.Sprintf("ntf_%02d", i), at
		if _, err := a.AddOutbox(ctx, o); err != nil {
			e.t.Fatal(err)
		}
	}
}

// entryIDs pages through a push log or outbox listing and returns the ids.
func (e *env) entryIDs(app testApp, target string, limit int) []string {
	e.t.Helper()
	var ids []string
	cursor := ""
	for range 20 {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		r := e.do(app, req{method: "GET", target: fmt.Sprintf("%s%slimit=%d&cursor=%s", target, sep, limit, cursor)})
		if r.status != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", target, r.status, r.body)
		}
		m := r.json(e.t)
		for _, x := range m["entries"].([]any) {
			ids = append(ids, x.(map[string]any)["id"].(string))
		}
		if cursor = m["next_cursor"].(string); cursor == "" {
			return ids
		}
	}
	e.t.Fatalf("GET %s: more than 20 pages", target)
	return nil
}

func TestPushLog(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.seedPushRecords(e.a)
	tests := []struct {
		query string
		want  string
	}{
		{"user_id=alice", "ntf_00.recorded,ntf_01.recorded,ntf_01.x.sent,ntf_02.recorded"},
		{"conv_id=p:alice:bob", "ntf_00.recorded,ntf_01.recorded,ntf_01.x.sent,ntf_03.recorded"},
		{"conv_id=p:alice:bob&seq=2", "ntf_01.recorded,ntf_01.x.sent"},
		{"user_id=bob&conv_id=p:alice:bob", "ntf_03.recorded"},
		{"user_id=nobody", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(e.entryIDs(e.a, "/v1/push/log?"+tt.query, 2), ","); got != tt.want {
			t.Errorf("log ?%s = %s, want %s", tt.query, got, tt.want)
		}
	}
	r := e.do(e.a, req{method: "GET", target: "/v1/push/log?conv_id=p:alice:bob&seq=2&limit=1"})
	m := r.json(t)
	got := m["entries"].([]any)[0].(map[string]any)
	want := map[string]any{"id": "ntf_01.recorded", "user_id": "alice", "conv_id": "p:alice:bob", "seq": 2.0, "device_id": "",
		"provider": "outbox", "status": "recorded", "reason": "", "at": "2026-01-01T00:00:00Z"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("entry[%s] = %v, want %v", k, got[k], v)
		}
	}
	if m["next_cursor"] == "" {
		t.Fatal("no next_cursor on a full page with more entries")
	}
}

func TestPushOutbox(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.seedPushRecords(e.a)
	if got := strings.Join(e.entryIDs(e.a, "/v1/push/outbox", 2), ","); got != "ntf_00,ntf_01,ntf_02" {
		t.Fatalf("outbox = %s", got)
	}
	if got := strings.Join(e.entryIDs(e.a, "/v1/push/outbox?user_id=bob", 1), ","); got != "ntf_02" {
		t.Fatalf("bob's outbox = %s", got)
	}
	r := e.do(e.a, req{method: "GET", target: "/v1/push/outbox?user_id=alice"})
	es := r.json(t)["entries"].([]any)
	first, second := es[0].(map[string]any), es[1].(map[string]any)
	n, ok := first["notification"].(map[string]any)
	if !ok || n["title"] != "bob" || n["body"] != "hi" || first["badge"] != 1.0 || first["preview"] != "hi" || first["sender_id"] != "bob" ||
		first["type"] != "text" || first["seq"] != 1.0 || first["created_at"] != "2026-01-01T00:00:00Z" {
		t.Fatalf("outbox entry = %v", first)
	}
	if v, present := second["notification"]; !present || v != nil {
		t.Fatalf("entry without payload: notification = %v (present %t), want null", v, present)
	}
}

// TestPushCrossApp proves that app B's key can never see or change app
// A's devices, push settings, mutes, push log or outbox.
func TestPushCrossApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.mustSend(e.a, "alice", "bob", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi"}`)
	e.mustRegister(e.a, "alice", "phone", iosDevice(apnsToken))
	if r := e.do(e.a, req{method: "PUT", target: "/v1/users/alice/push-settings", body: `{"dnd_start":60,"dnd_end":120}`}); r.status != http.StatusOK {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	e.seedPushRecords(e.a)
	tests := []struct {
		method, target, body, code string
	}{
		{"GET", "/v1/users/alice/devices", "", "user_not_found"},
		{"PUT", "/v1/users/alice/devices/phone", androidDevice("pwned"), "user_not_found"},
		{"DELETE", "/v1/users/alice/devices/phone", "", "device_not_found"},
		{"GET", "/v1/users/alice/push-settings", "", "user_not_found"},
		{"PUT", "/v1/users/alice/push-settings", `{"disabled":true}`, "user_not_found"},
		{"PUT", "/v1/users/alice/conversations/p:alice:bob/mute", `{"muted":true}`, "conversation_not_found"},
	}
	for _, tt := range tests {
		r := e.do(e.b, req{method: tt.method, target: tt.target, body: tt.body})
		if r.status != http.StatusNotFound || r.code(t) != tt.code {
			t.Errorf("app B %s %s = %d %s, want 404 %s", tt.method, tt.target, r.status, r.body, tt.code)
		}
	}
	for _, target := range []string{"/v1/push/log?user_id=alice", "/v1/push/log?conv_id=p:alice:bob", "/v1/push/outbox", "/v1/push/outbox?user_id=alice"} {
		if ids := e.entryIDs(e.b, target, 50); len(ids) != 0 {
			t.Errorf("app B GET %s = %v, want nothing", target, ids)
		}
	}
	// Even with the same user ids in app B, app A's records stay apart.
	e.mustCreateUser(e.b, "alice")
	e.mustRegister(e.b, "alice", "phone", iosDevice(apnsToken))
	if r := e.do(e.b, req{method: "PUT", target: "/v1/users/alice/push-settings", body: `{"disabled":true}`}); r.status != http.StatusOK {
		t.Fatalf("app B settings: %d %s", r.status, r.body)
	}
	a := e.store.App(e.a.ID)
	if ds, err := a.ListDevices(ctx, "alice"); err != nil || len(ds) != 1 || ds[0].Environment != "sandbox" {
		t.Fatalf("app A's devices after app B's calls = %+v, %v", ds, err)
	}
	if p, err := a.GetPushSettings(ctx, "alice"); err != nil || p.Disabled || p.DNDStart != 60 {
		t.Fatalf("app A's settings after app B's calls = %+v, %v", p, err)
	}
	if ucs, err := a.ListUserConversations(ctx, "alice", "", 10); err != nil || len(ucs) != 1 || ucs[0].Muted {
		t.Fatalf("app A's conversations after app B's calls = %+v, %v", ucs, err)
	}
	if ids := e.entryIDs(e.b, "/v1/push/outbox?user_id=alice", 50); len(ids) != 0 {
		t.Fatalf("app B's alice sees outbox %v", ids)
	}
}

// TestRevokeTokensUnregistersDevices: revoking a user's tokens unregisters
// the devices it registered before, not one registered after.
func TestRevokeTokensUnregistersDevices(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.mustRegister(e.a, "alice", "phone", iosDevice(apnsToken))
	e.mustRegister(e.a, "alice", "tablet", androidDevice(fcmToken))
	e.mustRegister(e.a, "bob", "phone", androidDevice("bob-token"))
	e.advance(1500 * time.Millisecond)
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens:revoke"}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if ids := e.deviceIDs(e.a, "alice"); len(ids) != 0 {
		t.Fatalf("alice's devices after revocation = %v, want none", ids)
	}
	if ids := e.deviceIDs(e.a, "bob"); len(ids) != 1 {
		t.Fatalf("bob's devices after alice's revocation = %v", ids)
	}
	e.advance(time.Second)
	e.mustRegister(e.a, "alice", "phone", iosDevice(apnsToken))
	if ids := e.deviceIDs(e.a, "alice"); strings.Join(ids, ",") != "phone" {
		t.Fatalf("alice's devices after registering again = %v", ids)
	}
}

func TestSendMessageStoresPushOptions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	m := e.mustSend(e.a, "alice", "bob", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi",`+
		`"push":{"title":"Alice","collapse_id":"c1","priority":"normal","hide_content":true,"data":{"k":"v"}}}`)
	plain := e.mustSend(e.a, "alice", "bob", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"again","push":null}`)
	a := e.store.App(e.a.ID)
	got, err := a.GetMessage(ctx, "p:alice:bob", int64(m["seq"].(float64)))
	if err != nil {
		t.Fatal(err)
	}
	want := push.Options{Title: "Alice", CollapseID: "c1", Priority: "normal", HideContent: true, Data: map[string]string{"k": "v"}}.Encode()
	if string(got.Push) != string(want) {
		t.Fatalf("stored push options = %s, want %s", got.Push, want)
	}
	got, err = a.GetMessage(ctx, "p:alice:bob", int64(plain["seq"].(float64)))
	if err != nil || got.Push != nil {
		t.Fatalf("message without push options stored %q, %v", got.Push, err)
	}
}

// TestPushUnavailable: a gateway without a push service answers its push
// routes 503 push_unavailable, and still revokes tokens.
func TestPushUnavailable(t *testing.T) {
	e := newEnvConfig(t, envConfig{noPush: true})
	e.mustCreateUser(e.a, "alice")
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	for _, tt := range []struct{ method, target, body string }{
		{"PUT", "/v1/users/alice/devices/phone", iosDevice(apnsToken)},
		{"GET", "/v1/users/alice/devices", ""},
		{"DELETE", "/v1/users/alice/devices/phone", ""},
		{"GET", "/v1/users/alice/push-settings", ""},
		{"PUT", "/v1/users/alice/push-settings", `{}`},
		{"PUT", "/v1/users/alice/conversations/p:alice:bob/mute", `{"muted":true}`},
		{"GET", "/v1/push/log?user_id=alice", ""},
		{"GET", "/v1/push/outbox", ""},
	} {
		if r := e.do(e.a, req{method: tt.method, target: tt.target, body: tt.body}); r.status != http.StatusServiceUnavailable || r.code(t) != "push_unavailable" {
			t.Errorf("%s %s = %d %s, want 503 push_unavailable", tt.method, tt.target, r.status, r.body)
		}
	}
	creds := "/manage/v1/apps/" + e.a.ID + "/push/credentials"
	for _, tt := range []struct{ method, path, body string }{
		{"GET", creds, ""},
		{"PUT", creds + "/fcm", `{"service_account":{}}`},
		{"DELETE", creds + "/fcm", ""},
		{"POST", creds + "/fcm:check", ""},
	} {
		if r := e.console(op, tt.method, tt.path, tt.body); r.status != http.StatusServiceUnavailable || r.code(t) != "push_unavailable" {
			t.Errorf("%s %s = %d %s, want 503 push_unavailable", tt.method, tt.path, r.status, r.body)
		}
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens:revoke"}); r.status != http.StatusOK {
		t.Fatalf("revoke without push: %d %s", r.status, r.body)
	}
}
