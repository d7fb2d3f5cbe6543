package wire

import magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"

// contactSamples are the contact frames' samples.
func contactSamples() []sample {
	return []sample{
		{"send_friend_request", &magpiev1.Frame{Id: 40, Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "bob", Message: "We met at the meetup."}}}},
		{"friend_request_result", &magpiev1.Frame{Id: 40, Body: &magpiev1.Frame_FriendRequestResult{FriendRequestResult: &magpiev1.FriendRequestResult{UserId: "bob", Status: "requested"}}}},
		{"answer_friend_request", &magpiev1.Frame{Id: 41, Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{UserId: "alice", Accept: true}}}},
		{"cancel_friend_request", &magpiev1.Frame{Id: 42, Body: &magpiev1.Frame_CancelFriendRequest{CancelFriendRequest: &magpiev1.CancelFriendRequest{UserId: "bob"}}}},
		{"list_friend_requests", &magpiev1.Frame{Id: 43, Body: &magpiev1.Frame_ListFriendRequests{ListFriendRequests: &magpiev1.ListFriendRequests{Outgoing: true, Cursor: "Ym9i", Limit: 20}}}},
		{"friend_request_page", &magpiev1.Frame{Id: 43, Body: &magpiev1.Frame_FriendRequestPage{FriendRequestPage: &magpiev1.FriendRequestPage{
			Requests:   []*magpiev1.FriendRequest{{FromId: "alice", ToId: "bob", Message: "hi", CreatedAtMs: 1767225600000}},
			NextCursor: "Ym9i",
		}}}},
		{"list_friends", &magpiev1.Frame{Id: 44, Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{Limit: 50}}}},
		{"friend_page", &magpiev1.Frame{Id: 44, Body: &magpiev1.Frame_FriendPage{FriendPage: &magpiev1.FriendPage{
			Friends: []*magpiev1.Friend{{UserId: "bob", Remark: "Bobby", CreatedAtMs: 1767225600000}, {UserId: "carol", CreatedAtMs: 1767225600001}},
		}}}},
		{"set_friend_remark", &magpiev1.Frame{Id: 45, Body: &magpiev1.Frame_SetFriendRemark{SetFriendRemark: &magpiev1.SetFriendRemark{UserId: "bob", Remark: "Bobby"}}}},
		{"friend_info", &magpiev1.Frame{Id: 45, Body: &magpiev1.Frame_FriendInfo{FriendInfo: &magpiev1.Friend{UserId: "bob", Remark: "Bobby", CreatedAtMs: 1767225600000}}}},
		{"remove_friend", &magpiev1.Frame{Id: 46, Body: &magpiev1.Frame_RemoveFriend{RemoveFriend: &magpiev1.RemoveFriend{UserId: "bob"}}}},
		{"block_user", &magpiev1.Frame{Id: 47, Body: &magpiev1.Frame_BlockUser{BlockUser: &magpiev1.BlockUser{UserId: "mallory"}}}},
		{"unblock_user", &magpiev1.Frame{Id: 48, Body: &magpiev1.Frame_UnblockUser{UnblockUser: &magpiev1.UnblockUser{UserId: "mallory"}}}},
		{"list_blocked", &magpiev1.Frame{Id: 49, Body: &magpiev1.Frame_ListBlocked{ListBlocked: &magpiev1.ListBlocked{Limit: 100}}}},
		{"blocked_page", &magpiev1.Frame{Id: 49, Body: &magpiev1.Frame_BlockedPage{BlockedPage: &magpiev1.BlockedPage{
			Users: []*magpiev1.Blocked{{UserId: "mallory", CreatedAtMs: 1767225600000}},
		}}}},
	}
}
