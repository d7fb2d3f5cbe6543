package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var pushTests = []test{
	{"DevicePutGet", testDevicePutGet},
	{"DeviceTokenMoves", testDeviceTokenMoves},
	{"DeviceLimit", testDeviceLimit},
	{"DeviceUnknownUser", testDeviceUnknownUser},
	{"DeleteDevice", testDeleteDevice},
	{"DeleteDevicesBefore", testDeleteDevicesBefore},
	{"Credentials", testPushCredentials},
	{"LogAddTwice", testPushLogAddTwice},
	{"LogUnknownUser", testPushLogUnknownUser},
	{"LogFilters", testPushLogFilters},
	{"Settings", testPushSettings},
	{"ConversationMuted", testConversationMuted},
	{"MessagePush", testMessagePush},
	{"OutboxBadgePayload", testOutboxBadgePayload},
	{"DeleteUser", testPushDeleteUser},
	{"Expire", testPushLogExpire},
	{"ConcurrentTokenMoves", testConcurrentTokenMoves},
}

// device returns an APNs registration of device id of user, with token,
// registered (created and updated) at second sec.
func device(user, id, token string, sec int64) store.Device {
	return store.Device{
		ID: id, UserID: user, Platform: "ios", Provider: "apns", Token: token,
		Topic: "im.magpie.app", Environment: "production", Locale: "en-GB", TimeZone: "Europe/Paris",
		CreatedAt: at(sec), UpdatedAt: at(sec),
	}
}

func normDevice(x store.Device) store.Device {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	return x
}

func normCredential(x store.PushCredential) store.PushCredential {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.Sealed = nilIfEmpty(x.Sealed)
	if len(x.Info) == 0 {
		x.Info = nil
	}
	return x
}

func normPushLog(x store.PushLogEntry) store.PushLogEntry {
	x.At = normTime(x.At)
	return x
}

func normPushSettings(x store.PushSettings) store.PushSettings {
	x.UpdatedAt = normTime(x.UpdatedAt)
	return x
}

// putDevices registers devices that must be accepted, without a limit.
func putDevices(t *testing.T, a store.AppStore, ds ...store.Device) {
	t.Helper()
	for _, d := range ds {
		must(t, a.PutDevice(t.Context(), d, 0), "%s.PutDevice(%s/%s)", a.AppID(), d.UserID, d.ID)
	}
}

// listDevices returns the registrations of user.
func listDevices(t *testing.T, a store.AppStore, user string) []store.Device {
	t.Helper()
	ds, err := a.ListDevices(t.Context(), user)
	must(t, err, "%s.ListDevices(%s)", a.AppID(), user)
	return ds
}

func deviceIDs(ds []store.Device) []string {
	return ids(ds, func(d store.Device) string { return d.ID })
}

// checkDevices checks the registrations of user, by device id.
func checkDevices(t *testing.T, a store.AppStore, user string, want ...store.Device) {
	t.Helper()
	if got := listDevices(t, a, user); !sameAll(got, want, normDevice) {
		t.Errorf("%s.ListDevices(%s) = %+v, want %+v", a.AppID(), user, got, want)
	}
}

// logEntry returns a push log entry of user for seq of conv, at second sec.
func logEntry(id, user, conv string, seq int64, status string, sec int64) store.PushLogEntry {
	return store.PushLogEntry{
		ID: id, UserID: user, ConvID: conv, Seq: seq, DeviceID: "d1", Provider: "apns",
		Status: status, Reason: "reason of " + id, At: at(sec),
	}
}

// listPushLog returns every entry q matches, in one page.
func listPushLog(t *testing.T, a store.AppStore, q store.PushLogQuery) []store.PushLogEntry {
	t.Helper()
	q.Limit = 1000
	es, err := a.ListPushLog(t.Context(), q)
	must(t, err, "%s.ListPushLog(%+v)", a.AppID(), q)
	return es
}

func pushLogIDs(es []store.PushLogEntry) []string {
	return ids(es, func(e store.PushLogEntry) string { return e.ID })
}

func testDevicePutGet(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	d1, d2 := device("bob", "d1", "tok1", 10), device("bob", "d2", "tok2", 11)
	d2.Platform, d2.Provider, d2.Topic, d2.Environment, d2.TimeZone = "android", "fcm", "", "", ""
	putDevices(t, a, d2, d1)
	got, err := a.GetDevice(ctx, "bob", "d1")
	if err != nil || !same(got, d1, normDevice) {
		t.Errorf("GetDevice(bob, d1) = %+v, %v, want %+v", got, err, d1)
	}
	checkDevices(t, a, "bob", d1, d2)

	// Replaced: every field but CreatedAt is the new registration's.
	again := device("bob", "d1", "tok1b", 20)
	again.Locale, again.TimeZone, again.Environment = "fr-FR", "America/New_York", "sandbox"
	putDevices(t, a, again)
	want := again
	want.CreatedAt = d1.CreatedAt
	if got, err := a.GetDevice(ctx, "bob", "d1"); err != nil || !same(got, want, normDevice) {
		t.Errorf("GetDevice(bob, d1) after replacing = %+v, %v, want %+v", got, err, want)
	}
	checkDevices(t, a, "bob", want, d2)

	_, err = a.GetDevice(ctx, "bob", "d9")
	wantErr(t, err, store.ErrNotFound, "GetDevice(bob, d9)")
	if got := listDevices(t, a, "nobody"); len(got) != 0 {
		t.Errorf("ListDevices(nobody) = %+v, want none", got)
	}
	// The replaced token is free: another user may register it, and
	// bob's d1 keeps its new one.
	createUsers(t, a, "carol")
	putDevices(t, a, device("carol", "c1", "tok1", 30))
	checkDevices(t, a, "bob", want, d2)
}

// testDeviceTokenMoves checks that a token is registered once per app:
// registered again, by another user or under another device id, it leaves
// its first registration. The key is (provider, token).
func testDeviceTokenMoves(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	bob1 := device("bob", "d1", "shared", 10)
	keep := device("bob", "d3", "own", 10)
	putDevices(t, a, bob1, keep)

	// The phone changed hands.
	carol := device("carol", "c1", "shared", 20)
	putDevices(t, a, carol)
	_, err := a.GetDevice(ctx, "bob", "d1")
	wantErr(t, err, store.ErrNotFound, "GetDevice(bob, d1) after carol registered its token")
	checkDevices(t, a, "bob", keep)
	checkDevices(t, a, "carol", carol)

	// Reinstalled under a new device id.
	carol2 := device("carol", "c2", "shared", 30)
	putDevices(t, a, carol2)
	checkDevices(t, a, "carol", carol2)

	// The same token of another provider is another token.
	fcm := device("bob", "d4", "shared", 40)
	fcm.Provider = "fcm"
	putDevices(t, a, fcm)
	checkDevices(t, a, "carol", carol2)
	checkDevices(t, a, "bob", keep, fcm)
}

// testDeviceLimit checks ErrLimit: a new device beyond maxPerUser is
// refused and changes nothing; replacing a registration at the limit, a
// token moving to a new device id at the limit, and no limit (0) are not.
func testDeviceLimit(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	const limit = 2
	d1, d2 := device("bob", "d1", "t1", 10), device("bob", "d2", "t2", 11)
	for _, d := range []store.Device{d1, d2} {
		must(t, a.PutDevice(ctx, d, limit), "PutDevice(bob/%s, limit %d)", d.ID, limit)
	}
	theirs := device("carol", "c1", "t3", 12)
	putDevices(t, a, theirs)
	wantErr(t, a.PutDevice(ctx, device("bob", "d3", "t3", 20), limit), store.ErrLimit, "PutDevice(bob/d3, at the limit)")
	checkDevices(t, a, "bob", d1, d2)
	checkDevices(t, a, "carol", theirs) // the refused call took no token

	replaced := device("bob", "d2", "t2b", 30)
	must(t, a.PutDevice(ctx, replaced, limit), "PutDevice(bob/d2 again, at the limit)")
	// d1 reinstalled as d5: its token moves, the count stays.
	moved := device("bob", "d5", "t1", 40)
	must(t, a.PutDevice(ctx, moved, limit), "PutDevice(bob/d5 with d1's token, at the limit)")
	replaced.CreatedAt = d2.CreatedAt
	checkDevices(t, a, "bob", replaced, moved)

	// Other users have limits of their own; 0 means none.
	must(t, a.PutDevice(ctx, device("carol", "c2", "t6", 50), limit), "PutDevice(carol/c2)")
	must(t, a.PutDevice(ctx, device("bob", "d6", "t7", 50), 0), "PutDevice(bob/d6, no limit)")
	if got := deviceIDs(listDevices(t, a, "bob")); !slices.Equal(got, []string{"d2", "d5", "d6"}) {
		t.Errorf("ListDevices(bob) = %q, want [d2 d5 d6]", got)
	}
}

func testDeviceUnknownUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	held := device("bob", "d1", "tok", 10)
	putDevices(t, a, held)
	wantErr(t, a.PutDevice(ctx, device("nobody", "d1", "tok", 20), 0), store.ErrNotFound, "PutDevice(nobody)")
	wantErr(t, a.PutDevice(ctx, device("nobody", "d2", "other", 20), 5), store.ErrNotFound, "PutDevice(nobody, limit 5)")
	if got := listDevices(t, a, "nobody"); len(got) != 0 {
		t.Errorf("ListDevices(nobody) = %+v, want none", got)
	}
	checkDevices(t, a, "bob", held)
}

// testDeleteDevice checks the conditional delete: a provider's report on a
// token that is no longer the device's removes nothing.
func testDeleteDevice(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	d1, d2 := device("bob", "d1", "new", 10), device("bob", "d2", "t2", 10)
	putDevices(t, a, d1, d2)
	wantErr(t, a.DeleteDevice(ctx, "bob", "d1", "stale"), store.ErrNotFound, "DeleteDevice(bob, d1, stale token)")
	checkDevices(t, a, "bob", d1, d2)
	must(t, a.DeleteDevice(ctx, "bob", "d1", "new"), "DeleteDevice(bob, d1, its token)")
	wantErr(t, a.DeleteDevice(ctx, "bob", "d1", "new"), store.ErrNotFound, "DeleteDevice(bob, d1) again")
	must(t, a.DeleteDevice(ctx, "bob", "d2", ""), "DeleteDevice(bob, d2, any token)")
	wantErr(t, a.DeleteDevice(ctx, "bob", "d2", ""), store.ErrNotFound, "DeleteDevice(bob, d2) again")
	wantErr(t, a.DeleteDevice(ctx, "nobody", "d1", ""), store.ErrNotFound, "DeleteDevice(nobody, d1)")
	checkDevices(t, a, "bob")
}

func testDeleteDevicesBefore(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	d1, d2, d3 := device("bob", "d1", "t1", 10), device("bob", "d2", "t2", 20), device("bob", "d3", "t3", 30)
	// d1 registered again since: it is kept, from its new time.
	d1again := device("bob", "d1", "t1b", 40)
	old := device("carol", "c1", "t4", 5)
	putDevices(t, a, d1, d2, d3, d1again, old)
	n, err := a.DeleteDevices(ctx, "bob", at(30))
	if err != nil || n != 1 {
		t.Fatalf("DeleteDevices(bob, at(30)) = %d, %v, want 1, nil", n, err)
	}
	d1again.CreatedAt = d1.CreatedAt
	checkDevices(t, a, "bob", d1again, d3)
	checkDevices(t, a, "carol", old)
	if n, err := a.DeleteDevices(ctx, "nobody", at(100)); err != nil || n != 0 {
		t.Errorf("DeleteDevices(nobody) = %d, %v, want 0, nil", n, err)
	}
}

func testPushCredentials(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	apns := store.PushCredential{
		Provider: "apns", Sealed: []byte{0, 1, 2, 0xff},
		Info:      map[string]string{"key_id": "K1", "team_id": "T1", "topic": "im.magpie.app"},
		CreatedAt: at(1), UpdatedAt: at(1),
	}
	fcm := store.PushCredential{
		Provider: "fcm", Sealed: []byte("sealed json"),
		Info:      map[string]string{"project_id": "magpie", "client.email": "push@magpie.iam", "$odd": "key"},
		CreatedAt: at(2), UpdatedAt: at(2),
	}
	check := func(when string, want ...store.PushCredential) {
		t.Helper()
		got, err := a.ListPushCredentials(ctx)
		if err != nil || !sameAll(got, want, normCredential) {
			t.Errorf("ListPushCredentials %s = %+v, %v, want %+v", when, got, err, want)
		}
	}
	check("at first")
	must(t, a.PutPushCredential(ctx, fcm), "PutPushCredential(fcm)")
	must(t, a.PutPushCredential(ctx, apns), "PutPushCredential(apns)")
	check("after two puts", apns, fcm)

	// Replaced: its creation time stays; info and secret are the new ones.
	rotated := store.PushCredential{Provider: "apns", Sealed: []byte("new key"),
		Info: map[string]string{"key_id": "K2"}, CreatedAt: at(5), UpdatedAt: at(5)}
	must(t, a.PutPushCredential(ctx, rotated), "PutPushCredential(apns again)")
	rotated.CreatedAt = apns.CreatedAt
	check("after replacing apns", rotated, fcm)
	bare := store.PushCredential{Provider: "apns", CreatedAt: at(6), UpdatedAt: at(6)}
	must(t, a.PutPushCredential(ctx, bare), "PutPushCredential(apns without secret or info)")
	bare.CreatedAt = apns.CreatedAt
	check("after emptying apns", bare, fcm)

	must(t, a.DeletePushCredential(ctx, "fcm"), "DeletePushCredential(fcm)")
	wantErr(t, a.DeletePushCredential(ctx, "fcm"), store.ErrNotFound, "DeletePushCredential(fcm) again")
	wantErr(t, a.DeletePushCredential(ctx, "webpush"), store.ErrNotFound, "DeletePushCredential(webpush)")
	check("after deleting fcm", bare)
}

// testPushLogAddTwice checks idempotency: an id added again, in another
// call or in the same one, is stored once, as first added.
func testPushLogAddTwice(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	e1, e2, e3 := logEntry("p1", "bob", "c1", 1, "queued", 10), logEntry("p2", "bob", "c1", 1, "sent", 11),
		logEntry("p3", "bob", "c1", 2, "failed", 12)
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{e1, e2}), "AddPushLog(p1, p2)")
	changed := e1
	changed.Status, changed.Reason, changed.At = "sent", "changed", at(99)
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{changed, e3, e3}), "AddPushLog(p1 again, p3 twice)")
	must(t, a.AddPushLog(ctx, nil), "AddPushLog(none)")
	got := listPushLog(t, a, store.PushLogQuery{})
	if want := []store.PushLogEntry{e1, e2, e3}; !sameAll(got, want, normPushLog) {
		t.Errorf("ListPushLog = %+v, want %+v", got, want)
	}
}

// testPushLogUnknownUser checks that the entries of users the app does not
// have are skipped, and the others of the batch stored.
func testPushLogUnknownUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob")
	mine, stray := logEntry("p1", "bob", "c1", 1, "sent", 10), logEntry("p2", "nobody", "c1", 1, "sent", 10)
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{stray, mine}), "AddPushLog(nobody's, bob's)")
	if got := pushLogIDs(listPushLog(t, a, store.PushLogQuery{})); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("ListPushLog = %q, want [p1]", got)
	}
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{stray}), "AddPushLog(nobody's alone)")
	// The id is free: nobody, created, logs it.
	createUsers(t, a, "nobody")
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{stray}), "AddPushLog(nobody's, now a user)")
	if got := listPushLog(t, a, store.PushLogQuery{UserID: "nobody"}); !sameAll(got, []store.PushLogEntry{stray}, normPushLog) {
		t.Errorf("ListPushLog(nobody) = %+v, want %+v", got, stray)
	}
}

func testPushLogFilters(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	es := []store.PushLogEntry{
		logEntry("p5", "bob", "c1", 1, "queued", 1),
		logEntry("p2", "bob", "c1", 1, "sent", 2),
		logEntry("p7", "carol", "c1", 1, "sent", 3),
		logEntry("p1", "bob", "c1", 2, "suppressed", 4),
		logEntry("p4", "bob", "c2", 1, "failed", 5),
		logEntry("p6", "carol", "c1", 2, "token_removed", 6),
		logEntry("p3", "carol", "c2", 1, "sent", 7),
	}
	es[4].DeviceID, es[4].Provider, es[4].Reason = "", "", ""
	must(t, a.AddPushLog(ctx, es), "AddPushLog")
	for _, tc := range []struct {
		q    store.PushLogQuery
		want []string
	}{
		{store.PushLogQuery{}, []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}},
		{store.PushLogQuery{UserID: "bob"}, []string{"p1", "p2", "p4", "p5"}},
		{store.PushLogQuery{ConvID: "c1"}, []string{"p1", "p2", "p5", "p6", "p7"}},
		{store.PushLogQuery{ConvID: "c1", Seq: 1}, []string{"p2", "p5", "p7"}},
		{store.PushLogQuery{UserID: "carol", ConvID: "c1"}, []string{"p6", "p7"}},
		{store.PushLogQuery{UserID: "bob", ConvID: "c1", Seq: 2}, []string{"p1"}},
		{store.PushLogQuery{UserID: "dave"}, nil},
		{store.PushLogQuery{ConvID: "c9"}, nil},
		{store.PushLogQuery{ConvID: "c2", Seq: 2}, nil},
	} {
		checkPaging(t, fmt.Sprintf("ListPushLog(%+v)", tc.q), tc.want, func(after string, limit int) ([]string, error) {
			q := tc.q
			q.After, q.Limit = after, limit
			got, err := a.ListPushLog(ctx, q)
			return pushLogIDs(got), err
		})
	}
	// Entries come back whole.
	if got := listPushLog(t, a, store.PushLogQuery{ConvID: "c2", UserID: "bob"}); !sameAll(got, es[4:5], normPushLog) {
		t.Errorf("ListPushLog(bob, c2) = %+v, want %+v", got, es[4:5])
	}
	for _, limit := range []int{0, -1} {
		if got, err := a.ListPushLog(ctx, store.PushLogQuery{UserID: "bob", Limit: limit}); err != nil || len(got) != 0 {
			t.Errorf("ListPushLog(limit %d) = %+v, %v, want none", limit, got, err)
		}
	}
}

func testPushSettings(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "bob", "carol")
	if got, err := a.GetPushSettings(ctx, "bob"); err != nil || got != (store.PushSettings{}) {
		t.Errorf("GetPushSettings(bob) before any = %+v, %v, want the zero value", got, err)
	}
	night := store.PushSettings{DNDStart: 22 * 60, DNDEnd: 7 * 60, TimeZone: "Europe/Paris", UpdatedAt: at(5)}
	off := store.PushSettings{Disabled: true, UpdatedAt: at(6)}
	for _, want := range []store.PushSettings{night, off} {
		must(t, a.PutPushSettings(ctx, "bob", want), "PutPushSettings(bob, %+v)", want)
		got, err := a.GetPushSettings(ctx, "bob")
		if err != nil || !same(got, want, normPushSettings) {
			t.Errorf("GetPushSettings(bob) = %+v, %v, want %+v", got, err, want)
		}
	}
	if got, err := a.GetPushSettings(ctx, "carol"); err != nil || got != (store.PushSettings{}) {
		t.Errorf("GetPushSettings(carol) = %+v, %v, want the zero value", got, err)
	}
	_, err := a.GetPushSettings(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "GetPushSettings(nobody)")
	wantErr(t, a.PutPushSettings(ctx, "nobody", night), store.ErrNotFound, "PutPushSettings(nobody)")
	// The refused put left nothing behind.
	createUsers(t, a, "nobody")
	if got, err := a.GetPushSettings(ctx, "nobody"); err != nil || got != (store.PushSettings{}) {
		t.Errorf("GetPushSettings(nobody, created after a refused put) = %+v, %v, want the zero value", got, err)
	}
}

func testConversationMuted(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "c1", 2)
	fill(t, a, "c2", 1)
	muted := func(user, conv string) bool {
		t.Helper()
		uc, err := a.GetUserConversation(ctx, user, conv)
		must(t, err, "GetUserConversation(%s, %s)", user, conv)
		if listed := userConv(t, a, user, conv); listed.Muted != uc.Muted {
			t.Errorf("%s's %s: Muted %v in ListUserConversations, %v in GetUserConversation", user, conv, listed.Muted, uc.Muted)
		}
		return uc.Muted
	}
	if muted("bob", "c1") {
		t.Errorf("bob's c1 is muted before any SetConversationMuted")
	}
	must(t, a.SetConversationMuted(ctx, "bob", "c1", true), "SetConversationMuted(bob, c1, true)")
	must(t, a.SetConversationMuted(ctx, "bob", "c1", true), "SetConversationMuted(bob, c1, true) again")
	if !muted("bob", "c1") || muted("bob", "c2") || muted("alice", "c1") {
		t.Errorf("after muting bob's c1: bob c1 %v, bob c2 %v, alice c1 %v, want true, false, false",
			muted("bob", "c1"), muted("bob", "c2"), muted("alice", "c1"))
	}
	// Messages, deliveries and reads leave the flag alone.
	appendAll(t, a, draft("c1", "alice", "m9", 9))
	_, err := a.AckDelivered(ctx, []store.DeliveryAck{ack("d1", "c1", 3)})
	must(t, err, "AckDelivered")
	_, _, err = a.MarkRead(ctx, "bob", "c1", 3)
	must(t, err, "MarkRead")
	if uc := userConv(t, a, "bob", "c1"); !uc.Muted || uc.ReadSeq != 3 || uc.MaxSeq != 3 {
		t.Errorf("bob's c1 after a message and a read = %+v, want muted, read and max seq 3", uc)
	}
	must(t, a.SetConversationMuted(ctx, "bob", "c1", false), "SetConversationMuted(bob, c1, false)")
	if muted("bob", "c1") {
		t.Errorf("bob's c1 still muted after clearing")
	}
	must(t, a.SetConversationMuted(ctx, "bob", "c1", false), "SetConversationMuted(bob, c1, false) again")
	wantErr(t, a.SetConversationMuted(ctx, "carol", "c1", true), store.ErrNotFound, "SetConversationMuted(carol, c1)")
	wantErr(t, a.SetConversationMuted(ctx, "bob", "c9", true), store.ErrNotFound, "SetConversationMuted(bob, c9)")
}

// testMessagePush checks that a message keeps its sender's push options,
// everywhere it is read, and loses them with its body.
func testMessagePush(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "alice", "bob")
	d1, d2, d3 := draft("c1", "alice", "m1", 1), draft("c1", "bob", "m2", 2), draft("c1", "alice", "m3", 3)
	d1.Push = []byte(`{"title":"Hi","silent":true}`)
	d3.Push = []byte(`{"collapse_id":"x","priority":"high"}`)
	res := appendAll(t, a, d1, d2, d3)
	want := []store.Message{stored(d1, 1), stored(d2, 2), stored(d3, 3)}
	checkAppended(t, res, want, []bool{false, false, false})
	got, err := a.ListMessages(ctx, "c1", store.Range{Limit: 10})
	if err != nil || !sameAll(got, want, normMessage) {
		t.Errorf("ListMessages(c1) = %+v, %v, want %+v", got, err, want)
	}
	// A duplicate returns the original's options, not the retry's.
	again := d1
	again.Push = []byte(`{"title":"changed"}`)
	checkAppended(t, appendAll(t, a, again), want[:1], []bool{true})

	recalled := want[0]
	recalled.Body, recalled.Push, recalled.RecalledAt = nil, nil, at(10)
	if got, err := a.RecallMessage(ctx, "c1", 1, at(10)); err != nil || !same(got, recalled, normMessage) {
		t.Errorf("RecallMessage(c1, 1) = %+v, %v, want %+v", got, err, recalled)
	}
	if got, err := a.GetMessage(ctx, "c1", 1); err != nil || !same(got, recalled, normMessage) {
		t.Errorf("GetMessage(c1, 1) after recall = %+v, %v, want %+v", got, err, recalled)
	}
	// Erasing alice's messages erases their options too.
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(20), EraseMessages: true}), "DeleteUser(alice, erase)")
	got3, err := a.GetMessage(ctx, "c1", 3)
	if err != nil || got3.Push != nil || got3.Body != nil {
		t.Errorf("GetMessage(c1, 3) after erasing alice = %+v, %v, want no body and no push", got3, err)
	}
	if got2, err := a.GetMessage(ctx, "c1", 2); err != nil || !same(got2, want[1], normMessage) {
		t.Errorf("GetMessage(c1, 2) after erasing alice = %+v, %v, want %+v", got2, err, want[1])
	}
}

func testOutboxBadgePayload(t *testing.T, s store.Store) {
	a := s.App("A")
	createUsers(t, a, "bob")
	rendered := outboxEntry("j1", "bob", 1, 10)
	rendered.Badge, rendered.Payload = 7, []byte(`{"aps":{"alert":{"title":"alice","body":"message 1 ✓"},"badge":7}}`)
	plain := outboxEntry("j2", "bob", 2, 11)
	addOutbox(t, a, rendered, plain)
	if got := listOutbox(t, a, "bob"); !sameAll(got, []store.OutboxEntry{rendered, plain}, normOutbox) {
		t.Errorf("ListOutbox(bob) = %+v, want %+v", got, []store.OutboxEntry{rendered, plain})
	}
}

// testPushDeleteUser checks that deleting a user deletes its devices,
// settings and log entries, and nothing of another user.
func testPushDeleteUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createUsers(t, a, "alice", "bob")
	for _, u := range []string{"alice", "bob"} {
		putDevices(t, a, device(u, "d1", u+"-t1", 10), device(u, "d2", u+"-t2", 10))
		must(t, a.PutPushSettings(ctx, u, store.PushSettings{Disabled: true, UpdatedAt: at(10)}), "PutPushSettings(%s)", u)
		must(t, a.AddPushLog(ctx, []store.PushLogEntry{
			logEntry(u+"-p1", u, "c1", 1, "sent", 10), logEntry(u+"-p2", u, "c1", 2, "sent", 10),
		}), "AddPushLog(%s)", u)
	}
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(20)}), "DeleteUser(alice)")
	if got := listDevices(t, a, "alice"); len(got) != 0 {
		t.Errorf("ListDevices(alice) after delete = %+v, want none", got)
	}
	_, err := a.GetPushSettings(ctx, "alice")
	wantErr(t, err, store.ErrNotFound, "GetPushSettings(alice) after delete")
	if got := pushLogIDs(listPushLog(t, a, store.PushLogQuery{})); !slices.Equal(got, []string{"bob-p1", "bob-p2"}) {
		t.Errorf("ListPushLog after deleting alice = %q, want bob's", got)
	}
	if got := deviceIDs(listDevices(t, a, "bob")); !slices.Equal(got, []string{"d1", "d2"}) {
		t.Errorf("ListDevices(bob) after deleting alice = %q, want [d1 d2]", got)
	}
	if got, err := a.GetPushSettings(ctx, "bob"); err != nil || !got.Disabled {
		t.Errorf("GetPushSettings(bob) after deleting alice = %+v, %v, want disabled", got, err)
	}

	// A new alice starts empty, and the tokens are free.
	createUsers(t, a, "alice")
	if got, err := a.GetPushSettings(ctx, "alice"); err != nil || got != (store.PushSettings{}) {
		t.Errorf("GetPushSettings(new alice) = %+v, %v, want the zero value", got, err)
	}
	if got := listDevices(t, a, "alice"); len(got) != 0 {
		t.Errorf("ListDevices(new alice) = %+v, want none", got)
	}
	must(t, a.PutDevice(ctx, device("alice", "d9", "alice-t1", 30), 1), "PutDevice(new alice, limit 1)")
}

// testPushLogExpire checks the sweep: log entries logged before the given
// time go, in every app, with the old outbox entries; the others stay.
func testPushLogExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, app := range []string{"A", "B"} {
		a := s.App(app)
		createUsers(t, a, "bob")
		must(t, a.AddPushLog(ctx, []store.PushLogEntry{
			logEntry("old", "bob", "c1", 1, "sent", 10), logEntry("edge", "bob", "c1", 2, "sent", 100),
			logEntry("new", "bob", "c1", 3, "sent", 500),
		}), "%s.AddPushLog", app)
	}
	addOutbox(t, s.App("A"), outboxEntry("j-old", "bob", 1, 50), outboxEntry("j-new", "bob", 2, 100))
	n, err := s.DeleteOutboxBefore(ctx, at(100))
	if err != nil || n != 3 {
		t.Fatalf("DeleteOutboxBefore = %d, %v, want 3 (two log entries, one outbox entry), nil", n, err)
	}
	for _, app := range []string{"A", "B"} {
		if got := pushLogIDs(listPushLog(t, s.App(app), store.PushLogQuery{})); !slices.Equal(got, []string{"edge", "new"}) {
			t.Errorf("%s.ListPushLog after the sweep = %q, want [edge new]", app, got)
		}
	}
	if got := outboxIDs(listOutbox(t, s.App("A"), "")); !slices.Equal(got, []string{"j-new"}) {
		t.Errorf("A.ListOutbox after the sweep = %q, want [j-new]", got)
	}
	if n, err := s.DeleteOutboxBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteOutboxBefore(nothing old) = %d, %v, want 0, nil", n, err)
	}
}

// testConcurrentTokenMoves has users register the same token at once: each
// call succeeds, and exactly one registration holds the token at the end.
func testConcurrentTokenMoves(t *testing.T, s store.Store) {
	const users, rounds = 4, 5
	a, ctx := s.App("A"), t.Context()
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("u%d", i)
	}
	createUsers(t, a, names...)
	for r := range rounds {
		token := fmt.Sprintf("tok%d", r)
		var wg sync.WaitGroup
		for i, u := range names {
			wg.Go(func() {
				// Half under a device id of their own, half under a shared one.
				id := fmt.Sprintf("d%d", i%2)
				if err := a.PutDevice(ctx, device(u, id, token, int64(r)), 0); err != nil {
					t.Errorf("PutDevice(%s/%s, %s): %v", u, id, token, err)
				}
			})
		}
		wg.Wait()
		holders := 0
		for _, u := range names {
			for _, d := range listDevices(t, a, u) {
				if d.Token == token {
					holders++
				}
			}
		}
		if holders != 1 {
			t.Errorf("round %d: %d registrations hold %s, want 1", r, holders, token)
		}
	}
}

// testTenancyPush proves that app B neither sees nor changes app A's push
// state under the same ids, and that a token is registered once per app:
// the same token in B is B's registration, and A's stays.
func testTenancyPush(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	createUsers(t, a, "bob")
	fill(t, a, "c1", 1)
	dev := device("bob", "d1", "shared-token", 10)
	cred := store.PushCredential{Provider: "apns", Sealed: []byte("A's key"), Info: map[string]string{"team_id": "A"},
		CreatedAt: at(1), UpdatedAt: at(1)}
	entry := logEntry("p1", "bob", "c1", 1, "sent", 10)
	prefs := store.PushSettings{DNDStart: 60, DNDEnd: 120, UpdatedAt: at(10)}
	putDevices(t, a, dev)
	must(t, a.PutPushCredential(ctx, cred), "A.PutPushCredential")
	must(t, a.AddPushLog(ctx, []store.PushLogEntry{entry}), "A.AddPushLog")
	must(t, a.PutPushSettings(ctx, "bob", prefs), "A.PutPushSettings")
	must(t, a.SetConversationMuted(ctx, "bob", "c1", true), "A.SetConversationMuted")

	// B has no bob, no devices, credentials or log.
	_, err := b.GetDevice(ctx, "bob", "d1")
	wantErr(t, err, store.ErrNotFound, "B.GetDevice(bob, d1)")
	if got := listDevices(t, b, "bob"); len(got) != 0 {
		t.Errorf("B.ListDevices(bob) = %+v, want none", got)
	}
	wantErr(t, b.DeleteDevice(ctx, "bob", "d1", ""), store.ErrNotFound, "B.DeleteDevice(bob, d1)")
	if n, err := b.DeleteDevices(ctx, "bob", at(1000)); err != nil || n != 0 {
		t.Errorf("B.DeleteDevices(bob) = %d, %v, want 0, nil", n, err)
	}
	wantErr(t, b.PutDevice(ctx, device("bob", "d2", "other", 20), 0), store.ErrNotFound, "B.PutDevice(bob, who is only in A)")
	if got, err := b.ListPushCredentials(ctx); err != nil || len(got) != 0 {
		t.Errorf("B.ListPushCredentials = %+v, %v, want none", got, err)
	}
	wantErr(t, b.DeletePushCredential(ctx, "apns"), store.ErrNotFound, "B.DeletePushCredential(apns)")
	must(t, b.AddPushLog(ctx, []store.PushLogEntry{logEntry("p9", "bob", "c1", 1, "sent", 20)}), "B.AddPushLog(bob, who is only in A)")
	for _, q := range []store.PushLogQuery{{}, {UserID: "bob"}, {ConvID: "c1", Seq: 1}} {
		if got := listPushLog(t, b, q); len(got) != 0 {
			t.Errorf("B.ListPushLog(%+v) = %+v, want none", q, got)
		}
	}
	_, err = b.GetPushSettings(ctx, "bob")
	wantErr(t, err, store.ErrNotFound, "B.GetPushSettings(bob)")
	wantErr(t, b.PutPushSettings(ctx, "bob", store.PushSettings{Disabled: true}), store.ErrNotFound, "B.PutPushSettings(bob)")
	wantErr(t, b.SetConversationMuted(ctx, "bob", "c1", false), store.ErrNotFound, "B.SetConversationMuted(bob, c1)")

	// B's own bob registers the same token, under the same ids: B's
	// registration, which takes nothing from A's. So with the rest.
	createUsers(t, b, "bob")
	devB := device("bob", "d1", "shared-token", 30)
	devB.Locale = "de-DE"
	must(t, b.PutDevice(ctx, devB, 1), "B.PutDevice(bob/d1, A's token)")
	checkDevices(t, b, "bob", devB)
	must(t, b.PutPushCredential(ctx, store.PushCredential{Provider: "apns", Sealed: []byte("B's key"), CreatedAt: at(30), UpdatedAt: at(30)}), "B.PutPushCredential")
	entryB := logEntry("p1", "bob", "c1", 1, "failed", 30)
	must(t, b.AddPushLog(ctx, []store.PushLogEntry{entryB}), "B.AddPushLog(p1)")
	if got := listPushLog(t, b, store.PushLogQuery{}); !sameAll(got, []store.PushLogEntry{entryB}, normPushLog) {
		t.Errorf("B.ListPushLog = %+v, want %+v", got, entryB)
	}
	must(t, b.PutPushSettings(ctx, "bob", store.PushSettings{Disabled: true, UpdatedAt: at(30)}), "B.PutPushSettings")
	must(t, b.DeletePushCredential(ctx, "apns"), "B.DeletePushCredential")
	must(t, b.DeleteDevice(ctx, "bob", "d1", "shared-token"), "B.DeleteDevice")
	must(t, b.DeleteUser(ctx, "bob", store.UserDeletion{At: at(40)}), "B.DeleteUser(bob)")

	checkDevices(t, a, "bob", dev)
	if got, err := a.ListPushCredentials(ctx); err != nil || !sameAll(got, []store.PushCredential{cred}, normCredential) {
		t.Errorf("A.ListPushCredentials after B's writes = %+v, %v, want %+v", got, err, cred)
	}
	if got := listPushLog(t, a, store.PushLogQuery{}); !sameAll(got, []store.PushLogEntry{entry}, normPushLog) {
		t.Errorf("A.ListPushLog after B's writes = %+v, want %+v", got, entry)
	}
	if got, err := a.GetPushSettings(ctx, "bob"); err != nil || !same(got, prefs, normPushSettings) {
		t.Errorf("A.GetPushSettings(bob) after B's writes = %+v, %v, want %+v", got, err, prefs)
	}
	if uc := userConv(t, a, "bob", "c1"); !uc.Muted {
		t.Errorf("A: bob's c1 not muted after B's writes")
	}
}
