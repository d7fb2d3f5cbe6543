package wire

import (
	"fmt"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// sample is one frame of each body type, shared by the round-trip tests, the
// fuzz seeds and the benchmarks.
type sample struct {
	name  string // the body's .proto name
	frame *magpiev1.Frame
}

func samples() []sample {
	msg := testMessage(7)
	return append([]sample{
		{"send", &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
			ClientMsgId: "c-0001", ToUserId: "bob", Type: "text", Content: "héllo, 世界 👋",
			Push: &magpiev1.PushOptions{
				Title: "Alice", Body: "a secret", Silent: true, CollapseId: "thread-7", Priority: "normal",
				HideContent: true, Data: map[string]string{"screen": "chat", "ref": "42"},
			},
		}}}},
		{"send_ack", &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_SendAck{SendAck: &magpiev1.SendAck{
			ClientMsgId: "c-0001", ConvId: "p:alice:bob", Seq: 42, ServerTimeMs: 1767225600000, Duplicate: true,
		}}}},
		{"deliver", &magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{
			Messages: []*magpiev1.Message{msg, {
				ConvId: "p:alice:carol", Seq: 1, SenderId: "carol", ClientMsgId: "c-9",
				Type: "custom", Content: `{"kind":"poke"}`, CreatedAtMs: 1767225600001,
				Recalled: true,
			}},
		}}}},
		{"deliver_ack", &magpiev1.Frame{Id: 2, Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
			Cursors: []*magpiev1.Cursor{{ConvId: "p:alice:bob", Seq: 42}, {ConvId: "p:alice:carol", Seq: 1}},
		}}}},
		{"ping", &magpiev1.Frame{Id: 3, Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}},
		{"pong", &magpiev1.Frame{Id: 3, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{ServerTimeMs: 1767225600002}}}},
		{"receipt", &magpiev1.Frame{Body: &magpiev1.Frame_Receipt{Receipt: &magpiev1.Receipt{
			Kind: magpiev1.Receipt_KIND_STORED, ConvId: "p:alice:bob", Seq: 42, UserId: "bob", AtMs: 1767225600003,
		}}}},
		{"read", &magpiev1.Frame{Id: 4, Body: &magpiev1.Frame_Read{Read: &magpiev1.Read{ConvId: "p:alice:bob", Seq: 40}}}},
		{"ok", &magpiev1.Frame{Id: 4, Body: &magpiev1.Frame_Ok{Ok: &magpiev1.Ok{}}}},
		{"error", ErrorFrame(5, CodeRateLimited, "slow down")},
		{"login", &magpiev1.Frame{Id: 6, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
			Token: "eyJhbGciOiJIUzI1NiJ9.e30.sig", DeviceId: "dev-1", Platform: "ios", SdkVersion: "magpie-go/0.1.0",
		}}}},
		{"login_result", &magpiev1.Frame{Id: 6, Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{
			UserId: "alice", SessionId: "s-1", ServerTimeMs: 1767225600004, HeartbeatIntervalMs: 25000, MaxMessageBytes: 16384,
		}}}},
		{"close", &magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{
			Code: int32(CloseKicked), Reason: "signed in on another device",
		}}}},
		{"sync_conversations", &magpiev1.Frame{Id: 7, Body: &magpiev1.Frame_SyncConversations{
			SyncConversations: &magpiev1.SyncConversations{Cursor: "opaque==", Limit: 50},
		}}},
		{"conversation_page", &magpiev1.Frame{Id: 7, Body: &magpiev1.Frame_ConversationPage{ConversationPage: &magpiev1.ConversationPage{
			Conversations: []*magpiev1.ConversationState{{
				ConvId: "p:alice:bob", Members: []string{"alice", "bob"}, MaxSeq: 42, ReadSeq: 40,
				DeliveredSeq: 42, PeerReadSeq: 41, PeerDeliveredSeq: 42, Unread: 2,
				UpdatedAtMs: 1767225600005, LastMessage: msg, FirstSeq: 1, Muted: true,
			}},
			NextCursor: "next==",
		}}}},
		{"sync_messages", &magpiev1.Frame{Id: 8, Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{
			ConvId: "p:alice:bob", FromSeq: 10, ToSeq: 20, Limit: 100, Desc: true,
		}}}},
		{"message_page", &magpiev1.Frame{Id: 8, Body: &magpiev1.Frame_MessagePage{MessagePage: &magpiev1.MessagePage{
			ConvId: "p:alice:bob", Messages: []*magpiev1.Message{msg}, HasMore: true,
		}}}},
		{"register_device", &magpiev1.Frame{Id: 9, Body: &magpiev1.Frame_RegisterDevice{RegisterDevice: &magpiev1.RegisterDevice{
			Platform: "ios", Provider: "apns", Token: "ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34",
			Topic: "im.example.app", Environment: "sandbox", Locale: "en-GB", TimeZone: "Europe/Paris",
		}}}},
		{"unregister_device", &magpiev1.Frame{Id: 10, Body: &magpiev1.Frame_UnregisterDevice{UnregisterDevice: &magpiev1.UnregisterDevice{}}}},
		{"set_push_settings", &magpiev1.Frame{Id: 11, Body: &magpiev1.Frame_SetPushSettings{SetPushSettings: &magpiev1.SetPushSettings{
			Disabled: true, DndStart: 1320, DndEnd: 420, TimeZone: "Asia/Tokyo",
		}}}},
		{"mute_conversation", &magpiev1.Frame{Id: 12, Body: &magpiev1.Frame_MuteConversation{MuteConversation: &magpiev1.MuteConversation{
			ConvId: "p:alice:bob", Muted: true,
		}}}},
	}, append(groupSamples(), contactSamples()...)...)
}

// groupSamples are the group frames' samples.
func groupSamples() []sample {
	name, policy, mute, secs := "Hikers", "approval", true, int64(3600)
	group := &magpiev1.Group{Id: "hikers", Name: name, AvatarUrl: "https://example.com/h.png", Notice: "Sunday 8:00",
		Metadata: map[string]string{"city": "Lyon"}, OwnerId: "alice", JoinPolicy: policy, MuteAll: true,
		HistoryVisible: true, MemberCount: 3, CreatedAtMs: 1767225600000, UpdatedAtMs: 1767225600001}
	return []sample{
		{"create_group", &magpiev1.Frame{Id: 20, Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
			Id: "hikers", Name: name, Notice: "hi", Metadata: map[string]string{"k": "v"}, JoinPolicy: "open",
			HistoryVisible: true, MemberIds: []string{"bob", "carol"},
		}}}},
		{"group_info", &magpiev1.Frame{Id: 20, Body: &magpiev1.Frame_GroupInfo{GroupInfo: group}}},
		{"get_group", &magpiev1.Frame{Id: 21, Body: &magpiev1.Frame_GetGroup{GetGroup: &magpiev1.GetGroup{GroupId: "hikers"}}}},
		{"update_group", &magpiev1.Frame{Id: 22, Body: &magpiev1.Frame_UpdateGroup{UpdateGroup: &magpiev1.UpdateGroup{
			GroupId: "hikers", Name: &name, JoinPolicy: &policy, MuteAll: &mute, SetMetadata: true,
			Metadata: map[string]string{"city": "Lyon"},
		}}}},
		{"dismiss_group", &magpiev1.Frame{Id: 23, Body: &magpiev1.Frame_DismissGroup{DismissGroup: &magpiev1.DismissGroup{GroupId: "hikers"}}}},
		{"add_group_members", &magpiev1.Frame{Id: 24, Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{
			GroupId: "hikers", UserIds: []string{"dave", "erin"},
		}}}},
		{"group_members_result", &magpiev1.Frame{Id: 24, Body: &magpiev1.Frame_GroupMembersResult{GroupMembersResult: &magpiev1.GroupMembersResult{
			GroupId: "hikers", Added: []string{"dave"}, Pending: []string{"erin"}, Removed: []string{"frank"},
		}}}},
		{"remove_group_members", &magpiev1.Frame{Id: 25, Body: &magpiev1.Frame_RemoveGroupMembers{RemoveGroupMembers: &magpiev1.RemoveGroupMembers{
			GroupId: "hikers", UserIds: []string{"frank"},
		}}}},
		{"join_group", &magpiev1.Frame{Id: 26, Body: &magpiev1.Frame_JoinGroup{JoinGroup: &magpiev1.JoinGroup{GroupId: "hikers", Message: "hello"}}}},
		{"leave_group", &magpiev1.Frame{Id: 27, Body: &magpiev1.Frame_LeaveGroup{LeaveGroup: &magpiev1.LeaveGroup{GroupId: "hikers"}}}},
		{"list_group_members", &magpiev1.Frame{Id: 28, Body: &magpiev1.Frame_ListGroupMembers{ListGroupMembers: &magpiev1.ListGroupMembers{
			GroupId: "hikers", Cursor: "Ym9i", Limit: 50,
		}}}},
		{"group_member_page", &magpiev1.Frame{Id: 28, Body: &magpiev1.Frame_GroupMemberPage{GroupMemberPage: &magpiev1.GroupMemberPage{
			GroupId: "hikers", NextCursor: "Y2Fyb2w",
			Members: []*magpiev1.GroupMember{{UserId: "alice", Role: "owner", JoinedAtMs: 1767225600000},
				{UserId: "bob", Role: "member", MutedUntilMs: 1767229200000, JoinedAtMs: 1767225600000}},
		}}}},
		{"set_group_member", &magpiev1.Frame{Id: 29, Body: &magpiev1.Frame_SetGroupMember{SetGroupMember: &magpiev1.SetGroupMember{
			GroupId: "hikers", UserId: "bob", MuteSeconds: &secs,
		}}}},
		{"group_member", &magpiev1.Frame{Id: 29, Body: &magpiev1.Frame_GroupMember{GroupMember: &magpiev1.GroupMember{
			UserId: "bob", Role: "admin", JoinedAtMs: 1767225600000,
		}}}},
		{"transfer_group", &magpiev1.Frame{Id: 30, Body: &magpiev1.Frame_TransferGroup{TransferGroup: &magpiev1.TransferGroup{GroupId: "hikers", UserId: "bob"}}}},
		{"list_join_requests", &magpiev1.Frame{Id: 31, Body: &magpiev1.Frame_ListJoinRequests{ListJoinRequests: &magpiev1.ListJoinRequests{GroupId: "hikers", Limit: 10}}}},
		{"join_request_page", &magpiev1.Frame{Id: 31, Body: &magpiev1.Frame_JoinRequestPage{JoinRequestPage: &magpiev1.JoinRequestPage{
			GroupId: "hikers", Requests: []*magpiev1.JoinRequest{{UserId: "erin", InviterId: "bob", Message: "my sister", CreatedAtMs: 1767225600000}},
		}}}},
		{"resolve_join_request", &magpiev1.Frame{Id: 32, Body: &magpiev1.Frame_ResolveJoinRequest{ResolveJoinRequest: &magpiev1.ResolveJoinRequest{
			GroupId: "hikers", UserId: "erin", Approve: true,
		}}}},
		{"get_group_reads", &magpiev1.Frame{Id: 33, Body: &magpiev1.Frame_GetGroupReads{GetGroupReads: &magpiev1.GetGroupReads{GroupId: "hikers", Seqs: []int64{1, 2}}}}},
		{"group_read_counts", &magpiev1.Frame{Id: 33, Body: &magpiev1.Frame_GroupReadCounts{GroupReadCounts: &magpiev1.GroupReadCounts{
			GroupId: "hikers", Reads: []*magpiev1.GroupReads{{Seq: 1, Read: 2, Of: 3}, {Seq: 2, Read: 0, Of: 3}},
		}}}},
		{"set_conversation", &magpiev1.Frame{Id: 35, Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{
			ConvId: "p:alice:bob", Pinned: &mute, Draft: &name, ClearHistory: true,
		}}}},
		{"conversation_state", &magpiev1.Frame{Id: 35, Body: &magpiev1.Frame_ConversationState{ConversationState: &magpiev1.ConversationState{
			ConvId: "p:alice:bob", Members: []string{"alice", "bob"}, MaxSeq: 9, ReadSeq: 9, FirstSeq: 10, ClearedSeq: 9,
			PinnedAtMs: 1767225600000, Draft: "see you", MentionSeq: 3,
		}}}},
		{"open_support_session", &magpiev1.Frame{Id: 36, Body: &magpiev1.Frame_OpenSupportSession{OpenSupportSession: &magpiev1.OpenSupportSession{Skill: "billing"}}}},
		{"support_session", &magpiev1.Frame{Id: 36, Body: &magpiev1.Frame_SupportSession{SupportSession: &magpiev1.SupportSession{
			Id: "ss_1", VisitorId: "bob", Skill: "billing", AgentId: "ann", State: "closed", CreatedAtMs: 1767225600000,
			AssignedAtMs: 1767225600001, ClosedAtMs: 1767225600002, Rating: 5,
		}}}},
		{"close_support_session", &magpiev1.Frame{Id: 37, Body: &magpiev1.Frame_CloseSupportSession{CloseSupportSession: &magpiev1.CloseSupportSession{SessionId: "ss_1"}}}},
		{"rate_support_session", &magpiev1.Frame{Id: 38, Body: &magpiev1.Frame_RateSupportSession{RateSupportSession: &magpiev1.RateSupportSession{
			SessionId: "ss_1", Rating: 5, Comment: "quick",
		}}}},
		{"typing", &magpiev1.Frame{Id: 34, Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: "g:hikers", Typing: true}}}},
		{"typing_event", &magpiev1.Frame{Body: &magpiev1.Frame_TypingEvent{TypingEvent: &magpiev1.TypingEvent{
			ConvId: "g:hikers", UserId: "bob", Typing: true, AtMs: 1767225600000,
		}}}},
		{"recall_message", &magpiev1.Frame{Id: 90, Body: &magpiev1.Frame_RecallMessage{RecallMessage: &magpiev1.RecallMessage{ConvId: "p:alice:bob", Seq: 7}}}},
		{"message", &magpiev1.Frame{Id: 91, Body: &magpiev1.Frame_Message{Message: &magpiev1.Message{
			ConvId: "p:alice:bob", Seq: 7, SenderId: "alice", ClientMsgId: "c7", Type: "text", Content: "See you at nine",
			CreatedAtMs: 1767225600000, EditedAtMs: 1767225630000,
		}}}},
		{"edit_message", &magpiev1.Frame{Id: 91, Body: &magpiev1.Frame_EditMessage{EditMessage: &magpiev1.EditMessage{ConvId: "p:alice:bob", Seq: 7, Content: "See you at nine"}}}},
		{"add_reaction", &magpiev1.Frame{Id: 92, Body: &magpiev1.Frame_AddReaction{AddReaction: &magpiev1.AddReaction{ConvId: "g:hikers", Seq: 3, Emoji: "👍"}}}},
		{"remove_reaction", &magpiev1.Frame{Id: 93, Body: &magpiev1.Frame_RemoveReaction{RemoveReaction: &magpiev1.RemoveReaction{ConvId: "g:hikers", Seq: 3, Emoji: "👍"}}}},
		{"reaction_update", &magpiev1.Frame{Body: &magpiev1.Frame_ReactionUpdate{ReactionUpdate: &magpiev1.ReactionUpdate{
			ConvId: "g:hikers", Seq: 3, Emoji: "👍", Count: 2, UserId: "bob", Added: true, AtMs: 1767225600000,
		}}}},
		{"get_file_url", &magpiev1.Frame{Id: 120, Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: "f_0123456789abcdef0123456789abcdef", TtlSeconds: 600}}}},
		{"file_link", &magpiev1.Frame{Id: 120, Body: &magpiev1.Frame_FileLink{FileLink: &magpiev1.FileLink{
			FileId: "f_0123456789abcdef0123456789abcdef", ConvId: "g:hikers", UploaderId: "ann", Name: "summit é.jpg",
			ContentType: "image/jpeg", Size: 123456, Sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			CreatedAtMs: 1767225600000, Url: "/v1/files/f_0123456789abcdef0123456789abcdef/content?app=app_1&expires=1767229200&sig=abc",
			UrlExpiresAtMs: 1767229200000,
		}}}},
		{"delete_file", &magpiev1.Frame{Id: 121, Body: &magpiev1.Frame_DeleteFile{DeleteFile: &magpiev1.DeleteFile{FileId: "f_0123456789abcdef0123456789abcdef"}}}},
		{"get_reactions", &magpiev1.Frame{Id: 94, Body: &magpiev1.Frame_GetReactions{GetReactions: &magpiev1.GetReactions{ConvId: "g:hikers", Seqs: []int64{3, 4}}}}},
		{"reaction_page", &magpiev1.Frame{Id: 94, Body: &magpiev1.Frame_ReactionPage{ReactionPage: &magpiev1.ReactionPage{
			ConvId: "g:hikers", Messages: []*magpiev1.MessageReactions{{Seq: 3, Reactions: []*magpiev1.ReactionCount{
				{Emoji: "👍", Count: 2, Reacted: true}, {Emoji: "🎉", Count: 1},
			}}},
		}}}},
		{"search_messages", &magpiev1.Frame{Id: 125, Body: &magpiev1.Frame_SearchMessages{SearchMessages: &magpiev1.SearchMessages{
			Query: `station "tickets" 车站`, ConvId: "p:alice:bob", SenderId: "alice", Types: []string{"text", "file"},
			FromMs: 1767225600000, ToMs: 1767225700000, Cursor: "czEsMTc2NzIyNTYwMDAwMSwxLHA6YWxpY2U6Ym9i", Limit: 20,
		}}}},
		{"search_result", &magpiev1.Frame{Id: 125, Body: &magpiev1.Frame_SearchResult{SearchResult: &magpiev1.SearchResult{
			Messages: []*magpiev1.Message{testMessage(2), testMessage(1)}, NextCursor: "czEsMTc2NzIyNTYwMDAwMSwxLHA6YWxpY2U6Ym9i",
		}}}},
		{"join_room", &magpiev1.Frame{Id: 130, Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: "live-1", HistoryLimit: 20}}}},
		{"room_joined", &magpiev1.Frame{Id: 130, Body: &magpiev1.Frame_RoomJoined{RoomJoined: &magpiev1.RoomJoined{
			Room:     &magpiev1.RoomInfo{Id: "live-1", Name: "Launch", OwnerId: "ann", MemberCount: 12000},
			Messages: []*magpiev1.RoomMessage{{RoomId: "live-1", Seq: 41, SenderId: "bob", ClientMsgId: "c1", Type: "text", Content: "hi", CreatedAtMs: 1767225600000}},
		}}}},
		{"leave_room", &magpiev1.Frame{Id: 131, Body: &magpiev1.Frame_LeaveRoom{LeaveRoom: &magpiev1.LeaveRoom{RoomId: "live-1"}}}},
		{"send_room_message", &magpiev1.Frame{Id: 132, Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
			RoomId: "live-1", ClientMsgId: "c2", Type: "text", Content: "hello",
		}}}},
		{"room_send_ack", &magpiev1.Frame{Id: 132, Body: &magpiev1.Frame_RoomSendAck{RoomSendAck: &magpiev1.RoomSendAck{
			RoomId: "live-1", ClientMsgId: "c2", Seq: 42, ServerTimeMs: 1767225600000,
		}}}},
		{"room_messages", &magpiev1.Frame{Body: &magpiev1.Frame_RoomMessages{RoomMessages: &magpiev1.RoomMessages{
			Messages: []*magpiev1.RoomMessage{{RoomId: "live-1", Seq: 43, SenderId: "ann", ClientMsgId: "c9", Type: "text", Content: "welcome", CreatedAtMs: 1767225600000, Priority: true}},
		}}}},
		{"room_member_count", &magpiev1.Frame{Body: &magpiev1.Frame_RoomMemberCount{RoomMemberCount: &magpiev1.RoomMemberCount{RoomId: "live-1", Count: 12001}}}},
		{"room_left", &magpiev1.Frame{Body: &magpiev1.Frame_RoomLeft{RoomLeft: &magpiev1.RoomLeft{RoomId: "live-1", Reason: magpiev1.RoomLeft_REASON_KICKED}}}},
		{"subscribe_presence", &magpiev1.Frame{Id: 30, Body: &magpiev1.Frame_SubscribePresence{SubscribePresence: &magpiev1.SubscribePresence{
			UserIds: []string{"bob", "dan"}, Friends: true}}}},
		{"presence_page", &magpiev1.Frame{Id: 30, Body: &magpiev1.Frame_PresencePage{PresencePage: &magpiev1.PresencePage{
			Users: []*magpiev1.UserPresence{{UserId: "bob", LastSeenMs: 1767225600000, AtMs: 1767229200000}}, Refused: []string{"dan"}}}}},
		{"unsubscribe_presence", &magpiev1.Frame{Id: 31, Body: &magpiev1.Frame_UnsubscribePresence{UnsubscribePresence: &magpiev1.UnsubscribePresence{
			UserIds: []string{"bob"}}}}},
		{"user_presence", &magpiev1.Frame{Body: &magpiev1.Frame_UserPresence{UserPresence: &magpiev1.UserPresence{
			UserId: "bob", Online: true, AtMs: 1767229260000}}}},
	}
}

// testMessage returns a typical text message with the given seq.
func testMessage(seq int64) *magpiev1.Message {
	return &magpiev1.Message{
		ConvId:      "p:alice:bob",
		Seq:         seq,
		SenderId:    "alice",
		ClientMsgId: fmt.Sprintf("0190f8a4-7c2e-7d41-9b6a-%012d", seq),
		Type:        "text",
		Content:     "See you at the station at eight, I will bring the tickets.",
		CreatedAtMs: 1767225600000 + seq,
	}
}

// deliverFrame returns a Deliver push of n messages.
func deliverFrame(n int) *magpiev1.Frame {
	msgs := make([]*magpiev1.Message, n)
	for i := range msgs {
		msgs[i] = testMessage(int64(i + 1))
	}
	return &magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{Messages: msgs}}}
}

// codecs returns both codecs.
func codecs() []Codec { return []Codec{ProtoCodec{}, JSONCodec{}} }
