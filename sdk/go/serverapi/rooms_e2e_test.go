package serverapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// TestRooms drives the room methods against a real embedded server, and
// checks that another app's rooms answer room_not_found.
func TestRooms(t *testing.T) {
	s := startServer(t)
	a, b := newApp(t, s, "rooms-a"), newApp(t, s, "rooms-b")
	ctx := t.Context()
	createUsers(t, a.api, "ann", "bob")
	r, err := a.api.CreateRoom(ctx, serverapi.RoomInput{ID: "live", Name: "Live", OwnerID: "ann", HistorySize: 10})
	if err != nil || r.ID != "live" || r.OwnerID != "ann" || r.HistorySize != 10 || r.RateLimit != 100 || r.MemberCount != 0 {
		t.Fatalf("CreateRoom = %+v, %v", r, err)
	}
	_, err = a.api.CreateRoom(ctx, serverapi.RoomInput{ID: "live"})
	wantAPIError(t, "CreateRoom(live) again", err, http.StatusConflict, "room_exists")
	auto, err := a.api.CreateRoom(ctx, serverapi.RoomInput{})
	if err != nil || auto.ID == "" || auto.HistorySize != 50 {
		t.Fatalf("CreateRoom without id = %+v, %v", auto, err)
	}
	rs, next, err := a.api.ListRooms(ctx, "", 1)
	if err != nil || len(rs) != 1 || next == "" {
		t.Fatalf("ListRooms(1) = %+v, %q, %v", rs, next, err)
	}
	rest, next, err := a.api.ListRooms(ctx, next, 0)
	if err != nil || len(rest) != 1 || next != "" || rest[0].ID == rs[0].ID {
		t.Fatalf("ListRooms(page 2) = %+v, %q, %v", rest, next, err)
	}
	ack, err := a.api.SendRoomMessage(ctx, "live", serverapi.RoomMessageInput{Content: "welcome"})
	if err != nil || ack.Seq != 1 || ack.RoomID != "live" || ack.ClientMsgID == "" || ack.Duplicate {
		t.Fatalf("SendRoomMessage = %+v, %v", ack, err)
	}
	again, err := a.api.SendRoomMessage(ctx, "live", serverapi.RoomMessageInput{ClientMsgID: ack.ClientMsgID, Content: "welcome"})
	if err != nil || !again.Duplicate || again.Seq != 1 {
		t.Errorf("SendRoomMessage resend = %+v, %v", again, err)
	}
	muted, err := a.api.SetRoomMute(ctx, "live", "bob", true)
	if err != nil || !slices.Equal(muted.Muted, []string{"bob"}) {
		t.Errorf("SetRoomMute = %+v, %v", muted, err)
	}
	if got, err := a.api.SetRoomMute(ctx, "live", "bob", false); err != nil || len(got.Muted) != 0 {
		t.Errorf("SetRoomMute(false) = %+v, %v", got, err)
	}
	if err := a.api.KickRoomMember(ctx, "live", "bob"); err != nil {
		t.Errorf("KickRoomMember = %v", err)
	}
	got, err := a.api.GetRoom(ctx, "live")
	if err != nil || got.Name != "Live" || got.MemberCount != 0 {
		t.Errorf("GetRoom = %+v, %v", got, err)
	}
	name, rate := "Live now", 2.5
	up, err := a.api.UpdateRoom(ctx, "live", serverapi.RoomUpdate{Name: &name, RateLimit: &rate})
	if err != nil || up.Name != "Live now" || up.RateLimit != 2.5 || up.OwnerID != "ann" || up.HistorySize != 10 {
		t.Errorf("UpdateRoom = %+v, %v", up, err)
	}
	none := ""
	if up, err := a.api.UpdateRoom(ctx, "live", serverapi.RoomUpdate{OwnerID: &none}); err != nil || up.OwnerID != "" || up.Name != "Live now" {
		t.Errorf("UpdateRoom(no owner) = %+v, %v", up, err)
	}
	ghost := "ghost"
	_, err = a.api.UpdateRoom(ctx, "live", serverapi.RoomUpdate{OwnerID: &ghost})
	wantAPIError(t, "UpdateRoom(owner ghost)", err, http.StatusNotFound, "user_not_found")
	ban, err := a.api.BanRoomUser(ctx, "live", "bob", "spam")
	if err != nil || ban.UserID != "bob" || ban.RoomID != "live" || ban.Reason != "spam" || ban.CreatedAt.IsZero() {
		t.Errorf("BanRoomUser = %+v, %v", ban, err)
	}
	if _, err := a.api.BanRoomUser(ctx, "live", "ann", ""); err != nil {
		t.Errorf("BanRoomUser without reason = %v", err)
	}
	bans, next, err := a.api.ListRoomBans(ctx, "live", "", 1)
	if err != nil || len(bans) != 1 || bans[0].UserID != "ann" || next == "" {
		t.Errorf("ListRoomBans(1) = %+v, %q, %v", bans, next, err)
	}
	if bans, next, err = a.api.ListRoomBans(ctx, "live", next, 0); err != nil || len(bans) != 1 || bans[0].UserID != "bob" || next != "" {
		t.Errorf("ListRoomBans(page 2) = %+v, %q, %v", bans, next, err)
	}
	if err := a.api.UnbanRoomUser(ctx, "live", "ann"); err != nil {
		t.Errorf("UnbanRoomUser = %v", err)
	}
	if err := a.api.UnbanRoomUser(ctx, "live", "ann"); err != nil {
		t.Errorf("UnbanRoomUser again = %v", err)
	}
	_, err = a.api.BanRoomUser(ctx, "live", "ghost", "")
	wantAPIError(t, "BanRoomUser(ghost)", err, http.StatusNotFound, "user_not_found")

	// App B sees none of it.
	_, err = b.api.GetRoom(ctx, "live")
	wantAPIError(t, "GetRoom from app B", err, http.StatusNotFound, "room_not_found")
	_, err = b.api.SendRoomMessage(ctx, "live", serverapi.RoomMessageInput{Content: "x"})
	wantAPIError(t, "SendRoomMessage from app B", err, http.StatusNotFound, "room_not_found")
	_, err = b.api.SetRoomMute(ctx, "live", "bob", true)
	wantAPIError(t, "SetRoomMute from app B", err, http.StatusNotFound, "room_not_found")
	wantAPIError(t, "KickRoomMember from app B", b.api.KickRoomMember(ctx, "live", "bob"), http.StatusNotFound, "room_not_found")
	wantAPIError(t, "DestroyRoom from app B", b.api.DestroyRoom(ctx, "live"), http.StatusNotFound, "room_not_found")
	_, err = b.api.UpdateRoom(ctx, "live", serverapi.RoomUpdate{Name: &name})
	wantAPIError(t, "UpdateRoom from app B", err, http.StatusNotFound, "room_not_found")
	_, err = b.api.BanRoomUser(ctx, "live", "bob", "")
	wantAPIError(t, "BanRoomUser from app B", err, http.StatusNotFound, "room_not_found")
	wantAPIError(t, "UnbanRoomUser from app B", b.api.UnbanRoomUser(ctx, "live", "bob"), http.StatusNotFound, "room_not_found")
	_, _, err = b.api.ListRoomBans(ctx, "live", "", 0)
	wantAPIError(t, "ListRoomBans from app B", err, http.StatusNotFound, "room_not_found")
	if bans, _, err := a.api.ListRoomBans(ctx, "live", "", 0); err != nil || len(bans) != 1 || bans[0].Reason != "spam" {
		t.Errorf("A's bans after B's calls = %+v, %v", bans, err)
	}
	if rs, _, err := b.api.ListRooms(ctx, "", 0); err != nil || len(rs) != 0 {
		t.Errorf("ListRooms from app B = %+v, %v", rs, err)
	}

	if err := a.api.DestroyRoom(ctx, "live"); err != nil {
		t.Fatalf("DestroyRoom = %v", err)
	}
	_, err = a.api.GetRoom(ctx, "live")
	wantAPIError(t, "GetRoom after DestroyRoom", err, http.StatusNotFound, "room_not_found")
	if _, err := a.api.GetRoom(ctx, ""); err == nil {
		t.Error("GetRoom(\"\") = nil, want a local error")
	}
}
