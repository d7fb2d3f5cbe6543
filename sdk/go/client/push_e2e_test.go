package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// apnsToken is a valid APNs device token: 64 hex digits, upper case (the
// server stores it in lower case).
var apnsToken = strings.Repeat("AB12", 16)

// devices returns the push registrations of user in the demo app, by
// device id.
func (e *env) devices(user string) []store.Device {
	e.t.Helper()
	ds, err := e.srv.Push.Devices(context.Background(), e.srv.Bootstrap.AppID, user)
	if err != nil {
		e.t.Fatalf("devices of %s: %v", user, err)
	}
	return ds
}

// eventually polls cond until it holds, or fails the test after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantError checks that err is a *client.Error with code whose message
// mentions field.
func wantError(t testing.TB, call string, err error, code, field string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Message, field) || ce.Retryable {
		t.Errorf("%s = %v, want a final *client.Error %s naming %q", call, err, code, field)
	}
}

func TestRegisterDevice(t *testing.T) {
	e := startEnv(t, "alice")
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	ctx := context.Background()

	d := client.Device{Platform: "ios", Provider: "apns", Token: apnsToken, Topic: "im.example.app", Locale: "en-GB", TimeZone: "Europe/Paris"}
	if err := alice.RegisterDevice(ctx, d); err != nil {
		t.Fatalf("RegisterDevice = %v", err)
	}
	got := e.devices("alice")
	if len(got) != 1 {
		t.Fatalf("registrations = %+v, want one", got)
	}
	want := store.Device{
		ID: "alice-phone", UserID: "alice", Platform: "ios", Provider: "apns", Token: strings.ToLower(apnsToken),
		Topic: "im.example.app", Environment: "production", Locale: "en-GB", TimeZone: "Europe/Paris",
		CreatedAt: got[0].CreatedAt, UpdatedAt: got[0].UpdatedAt,
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("registration = %+v, want %+v", got[0], want)
	}

	bad := []struct {
		field string
		d     client.Device
	}{
		{"token", client.Device{Platform: "ios", Provider: "apns", Token: "not-hex"}},
		{"platform", client.Device{Platform: "symbian", Provider: "fcm", Token: "t"}},
		{"provider", client.Device{Platform: "android", Provider: "apns", Token: apnsToken}},
		{"time_zone", client.Device{Platform: "android", Provider: "fcm", Token: "t", TimeZone: "Mars/Olympus"}},
	}
	for _, b := range bad {
		wantError(t, fmt.Sprintf("RegisterDevice(%+v)", b.d), alice.RegisterDevice(ctx, b.d), wire.CodeInvalidArgument, b.field)
	}
	// The refusals changed nothing.
	if got := e.devices("alice"); len(got) != 1 || got[0].Token != want.Token {
		t.Errorf("registrations after refusals = %+v, want the first", got)
	}

	if err := alice.UnregisterDevice(ctx); err != nil {
		t.Fatalf("UnregisterDevice = %v", err)
	}
	if got := e.devices("alice"); len(got) != 0 {
		t.Errorf("registrations after UnregisterDevice = %+v, want none", got)
	}
	if err := alice.UnregisterDevice(ctx); err != nil {
		t.Errorf("UnregisterDevice with nothing registered = %v, want nil", err)
	}
}

func TestRegisterDeviceTooMany(t *testing.T) {
	e := startEnv(t, "alice")
	ctx := context.Background()
	for i := range push.MaxDevicesPerUser {
		_, err := e.srv.Push.RegisterDevice(ctx, e.srv.Bootstrap.AppID, "alice", fmt.Sprint("tablet-", i),
			push.Registration{Platform: "android", Provider: "fcm", Token: fmt.Sprint("fcm-token-", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	err := alice.RegisterDevice(ctx, client.Device{Platform: "android", Provider: "fcm", Token: "fcm-token-new"})
	wantError(t, "21st RegisterDevice", err, wire.CodeTooManyDevices, "20")
	if n := len(e.devices("alice")); n != push.MaxDevicesPerUser {
		t.Errorf("%d registrations, want %d", n, push.MaxDevicesPerUser)
	}
	// Moving a registered token to this device is not a new one.
	if err := alice.RegisterDevice(ctx, client.Device{Platform: "android", Provider: "fcm", Token: "fcm-token-3"}); err != nil {
		t.Errorf("RegisterDevice with a token of another device at the limit = %v, want nil", err)
	}
}

func TestRegistrationSentAgainAfterReconnect(t *testing.T) {
	e := startEnv(t, "alice")
	p := newProxy(t, e.addr)
	alice := e.newClient("alice", "alice-phone", p.URL(), nil)
	run(t, alice)
	next[client.Connected](t, alice)
	ctx := context.Background()
	d := client.Device{Platform: "android", Provider: "fcm", Token: "fcm-token-1"}
	if err := alice.RegisterDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	// A refused registration leaves the last good one to send again.
	wantError(t, "RegisterDevice(bad token)", alice.RegisterDevice(ctx, client.Device{Platform: "android", Provider: "fcm", Token: "has space"}),
		wire.CodeInvalidArgument, "token")

	for round := range 2 {
		// The server loses the registration; the next login brings it back.
		if err := e.srv.Push.UnregisterDevice(ctx, e.srv.Bootstrap.AppID, "alice", "alice-phone"); err != nil {
			t.Fatal(err)
		}
		p.sever()
		next[client.Disconnected](t, alice)
		next[client.Connected](t, alice)
		eventually(t, fmt.Sprint("the registration to come back, round ", round), func() bool {
			ds := e.devices("alice")
			return len(ds) == 1 && ds[0].Token == d.Token
		})
	}

	// Once unregistered, it stays so across reconnects.
	if err := alice.UnregisterDevice(ctx); err != nil {
		t.Fatal(err)
	}
	p.sever()
	next[client.Connected](t, alice)
	// Not a proof of absence: a registration sent at login would most
	// likely have landed by the time a later request is answered.
	if _, err := alice.Conversations(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.devices("alice"); len(got) != 0 {
		t.Errorf("registrations after UnregisterDevice and a reconnect = %+v, want none", got)
	}
}

func TestCloseKeepsRegistrationLogoutRemovesIt(t *testing.T) {
	e := startEnv(t, "alice")
	ctx := context.Background()
	d := client.Device{Platform: "android", Provider: "fcm", Token: "fcm-token-1"}

	first := e.newClient("alice", "alice-phone", "", nil)
	stop := run(t, first)
	if err := first.RegisterDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	stop() // Close
	if got := e.devices("alice"); len(got) != 1 {
		t.Fatalf("registrations after Close = %+v, want the device's", got)
	}

	// A later process of the device logs the user out without having
	// registered: the server's registration goes all the same.
	second := e.newClient("alice", "alice-phone", "", nil)
	run(t, second)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := second.Logout(lctx); err != nil {
		t.Fatalf("Logout = %v", err)
	}
	if got := e.devices("alice"); len(got) != 0 {
		t.Errorf("registrations after Logout = %+v, want none", got)
	}
	if err := second.MarkRead(ctx, "p:alice:bob", 1); !errors.Is(err, client.ErrClosed) {
		t.Errorf("request after Logout = %v, want ErrClosed", err)
	}
}

func TestMuteConversation(t *testing.T) {
	e := startEnv(t, "alice", "bob", "carol")
	alice := e.newClient("alice", "alice-phone", "", nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, alice)
	run(t, bob)
	ctx := context.Background()
	res, err := alice.Send(ctx, "bob", "text", "hi")
	if err != nil {
		t.Fatal(err)
	}
	muted := func(c *client.Client) bool {
		t.Helper()
		convs, err := c.Conversations(ctx)
		if err != nil || len(convs) != 1 {
			t.Fatalf("Conversations = %+v, %v; want one", convs, err)
		}
		return convs[0].Muted
	}
	if err := alice.MuteConversation(ctx, res.ConvID, true); err != nil {
		t.Fatalf("MuteConversation = %v", err)
	}
	if !muted(alice) || muted(bob) {
		t.Errorf("after alice's mute: alice muted %v, bob muted %v; want true, false", muted(alice), muted(bob))
	}
	if err := alice.MuteConversation(ctx, res.ConvID, false); err != nil {
		t.Fatalf("unmute = %v", err)
	}
	if muted(alice) {
		t.Error("alice's conversation still muted after unmuting")
	}

	// A conversation the user is not in, existing or not.
	if _, err := bob.Send(ctx, "carol", "text", "hi carol"); err != nil {
		t.Fatal(err)
	}
	for _, conv := range []string{"p:bob:carol", "p:alice:nobody", "not a conversation"} {
		wantError(t, fmt.Sprintf("MuteConversation(%q)", conv), alice.MuteConversation(ctx, conv, true), wire.CodeNotFound, "")
	}
}

func TestMuteConversationOfAnotherApp(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	ctx := context.Background()
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	res, err := alice.Send(ctx, "bob", "text", "hi")
	if err != nil {
		t.Fatal(err)
	}

	// App B has users with the same ids; its alice cannot touch app A's
	// conversation of the same id.
	tn, err := e.srv.Tenants.CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	appB, sec, err := e.srv.Tenants.CreateApp(ctx, tn.ID, "other")
	if err != nil {
		t.Fatal(err)
	}
	apiB, err := serverapi.New(e.srv.URL, appB.Key, sec.Plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := apiB.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	aliceB, err := client.New(client.Config{
		URL: e.srv.URL, DeviceID: "alice-phone", Logger: testLogger(),
		TokenProvider: func(ctx context.Context) (string, error) {
			tok, err := apiB.IssueToken(ctx, "alice", 0)
			return tok.Token, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, aliceB)
	wantError(t, "MuteConversation from app B", aliceB.MuteConversation(ctx, res.ConvID, true), wire.CodeNotFound, "")
	convs, err := alice.Conversations(ctx)
	if err != nil || len(convs) != 1 || convs[0].Muted {
		t.Errorf("app A's conversations = %+v, %v; want one, not muted", convs, err)
	}
	// Nor does a registration in app B land in app A.
	if err := aliceB.RegisterDevice(ctx, client.Device{Platform: "android", Provider: "fcm", Token: "fcm-b"}); err != nil {
		t.Fatal(err)
	}
	if got := e.devices("alice"); len(got) != 0 {
		t.Errorf("app A's registrations of alice = %+v, want none", got)
	}
}

func TestSetPushSettings(t *testing.T) {
	e := startEnv(t, "alice")
	alice := e.newClient("alice", "alice-phone", "", nil)
	run(t, alice)
	ctx := context.Background()
	s := client.PushSettings{DNDStart: 22 * 60, DNDEnd: 7 * 60, TimeZone: "Asia/Tokyo"}
	if err := alice.SetPushSettings(ctx, s); err != nil {
		t.Fatalf("SetPushSettings = %v", err)
	}
	got, err := e.srv.Push.Settings(ctx, e.srv.Bootstrap.AppID, "alice")
	if err != nil || got.Disabled || got.DNDStart != s.DNDStart || got.DNDEnd != s.DNDEnd || got.TimeZone != s.TimeZone {
		t.Fatalf("stored settings = %+v, %v; want %+v", got, err, s)
	}

	bad := []struct {
		field string
		s     client.PushSettings
	}{
		{"dnd_start", client.PushSettings{DNDStart: 1440}},
		{"dnd_start", client.PushSettings{DNDStart: -1}},
		{"dnd_end", client.PushSettings{DNDEnd: 24 * 60}},
		{"dnd_start", client.PushSettings{DNDStart: 1 << 32}}, // would wrap to 0 on the wire
		{"time_zone", client.PushSettings{TimeZone: "Mars/Olympus"}},
	}
	for _, b := range bad {
		wantError(t, fmt.Sprintf("SetPushSettings(%+v)", b.s), alice.SetPushSettings(ctx, b.s), wire.CodeInvalidArgument, b.field)
	}
	if got, _ := e.srv.Push.Settings(ctx, e.srv.Bootstrap.AppID, "alice"); got.DNDStart != s.DNDStart {
		t.Errorf("settings after refusals = %+v, want the first", got)
	}
	if err := alice.SetPushSettings(ctx, client.PushSettings{Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.srv.Push.Settings(ctx, e.srv.Bootstrap.AppID, "alice"); !got.Disabled || got.DNDStart != 0 || got.TimeZone != "" {
		t.Errorf("settings after disabling = %+v, want disabled and the rest cleared", got)
	}
}

// storedPush returns the push options stored with a message, decoded.
func (e *env) storedPush(convID string, seq int64) map[string]any {
	e.t.Helper()
	m, err := e.srv.Store().App(e.srv.Bootstrap.AppID).GetMessage(context.Background(), convID, seq)
	if err != nil {
		e.t.Fatalf("get message %s/%d: %v", convID, seq, err)
	}
	if m.Push == nil {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(m.Push, &out); err != nil {
		e.t.Fatalf("message %s/%d: push %q: %v", convID, seq, m.Push, err)
	}
	return out
}

func TestSendWithPushOptions(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	p := newProxy(t, e.addr)
	alice := e.newClient("alice", "alice-phone", p.URL(), nil)
	run(t, alice)
	next[client.Connected](t, alice)
	ctx := context.Background()

	opts := client.PushOptions{
		Title: "Alice", Body: "sent you a secret", Silent: true, CollapseID: "thread-7",
		Priority: "normal", HideContent: true, Data: map[string]string{"screen": "chat"},
	}
	res, err := alice.Send(ctx, "bob", "text", "psst", client.WithPush(opts))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"title": "Alice", "body": "sent you a secret", "silent": true, "collapse_id": "thread-7",
		"priority": "normal", "hide_content": true, "data": map[string]any{"screen": "chat"},
	}
	if got := e.storedPush(res.ConvID, res.Seq); !reflect.DeepEqual(got, want) {
		t.Errorf("stored push = %v, want %v", got, want)
	}

	plain, err := alice.Send(ctx, "bob", "text", "plain", client.WithPush(client.PushOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.storedPush(plain.ConvID, plain.Seq); got != nil {
		t.Errorf("stored push of a message without options = %v, want none", got)
	}

	// Invalid options fail that message alone.
	_, err = alice.Send(ctx, "bob", "text", "x", client.WithPush(client.PushOptions{Priority: "urgent"}))
	wantError(t, "Send with priority urgent", err, wire.CodeInvalidArgument, "push.priority")
	_, err = alice.Send(ctx, "bob", "text", "x", client.WithPush(client.PushOptions{Data: map[string]string{"conv_id": "x"}}))
	wantError(t, "Send with reserved data", err, wire.CodeInvalidArgument, "push.data")

	// Options queued while the client is cut off travel with the message
	// when it is sent on the next connection.
	p.setDown(true)
	next[client.Disconnected](t, alice)
	data := map[string]string{"k": "v"}
	o, err := alice.SendAsync("bob", "text", "later", client.WithPush(client.PushOptions{Skip: true, Data: data}))
	if err != nil {
		t.Fatal(err)
	}
	data["k"] = "changed by the app" // the client keeps its own copy
	p.setDown(false)
	later, err := o.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.storedPush(later.ConvID, later.Seq), map[string]any{"skip": true, "data": map[string]any{"k": "v"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored push of the message sent after reconnecting = %v, want %v", got, want)
	}
}
