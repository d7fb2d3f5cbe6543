// Tests of the API parity helpers that need no server: typed errors, the
// room tracker, contact notices, conversation ids.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  BlockedError,
  ErrorCode,
  MagpieError,
  NotFriendsError,
  RoomBannedError,
  directConvId,
  errorFromCode,
  systemConvId,
  type Message,
  type RoomMessage,
} from "../src/index.js";
import { contactNoticeOf } from "../src/contacts.js";
import { Rooms } from "../src/rooms.js";

test("errorFromCode: blocked, not_friends and room_banned are typed, other codes plain MagpieErrors", () => {
  const b = errorFromCode("blocked", "the recipient blocks you");
  assert.ok(b instanceof BlockedError && b instanceof MagpieError);
  assert.deepEqual([b.code, b.detail, b.retryable, b.name], [ErrorCode.Blocked, "the recipient blocks you", false, "BlockedError"]);
  const n = errorFromCode("not_friends", "x");
  assert.ok(n instanceof NotFriendsError);
  assert.equal(n.code, ErrorCode.NotFriends);
  const r = errorFromCode("room_banned", "you are banned from room \"live\"");
  assert.ok(r instanceof RoomBannedError && r instanceof MagpieError);
  assert.deepEqual([r.code, r.retryable, r.name], [ErrorCode.RoomBanned, false, "RoomBannedError"]);
  assert.ok(!(errorFromCode("room_full", "full") instanceof RoomBannedError));
  const o = errorFromCode("message_rejected", "no", false, "keyword_blocked");
  assert.ok(!(o instanceof BlockedError) && !(o instanceof NotFriendsError) && !(o instanceof RoomBannedError));
  assert.deepEqual([o.code, o.reason], ["message_rejected", "keyword_blocked"]);
  assert.equal(errorFromCode("unavailable", "busy", true).retryable, true);
});

test("conversation ids: one-to-one sorted, system", () => {
  assert.equal(directConvId("bob", "ann"), "p:ann:bob");
  assert.equal(directConvId("ann", "bob"), "p:ann:bob");
  assert.equal(directConvId("ann", "ann"), "p:ann:ann");
  assert.equal(systemConvId("ann"), "s:ann");
});

function roomMsg(roomId: string, seq: number): RoomMessage {
  return { roomId, seq, senderId: "", clientMsgId: `c${seq}`, type: "text", content: `m${seq}`, createdAt: new Date(0), priority: false };
}

test("rooms: each seq once and never an older one, only joined rooms, seqs taken afresh after a restart", () => {
  const r = new Rooms();
  assert.deepEqual(r.fresh([roomMsg("a", 1)]), []); // not joined
  r.join("a");
  r.saw("a", [roomMsg("a", 1), roomMsg("a", 2)]);
  assert.deepEqual(r.fresh([roomMsg("a", 2), roomMsg("a", 3), roomMsg("a", 3), roomMsg("a", 5), roomMsg("a", 4)]).map((m) => m.seq), [3, 5]);
  r.join("a"); // again: keeps what it saw
  assert.deepEqual(r.fresh([roomMsg("a", 5)]), []);
  r.restarted("a", [roomMsg("a", 6)]); // the history reaches past what was seen: no restart
  assert.deepEqual(r.fresh([roomMsg("a", 6)]).map((m) => m.seq), [6]);
  r.restarted("a", [roomMsg("a", 1)]); // the room's last message is older than one seen: seqs started again
  assert.deepEqual(r.fresh([roomMsg("a", 1), roomMsg("a", 2)]).map((m) => m.seq), [1, 2]);
  r.forget("a");
  assert.equal(r.has("a"), false);
  assert.deepEqual(r.fresh([roomMsg("a", 9)]), []);
  assert.deepEqual(r.ids(), []);
});

function notice(convId: string, content: string, type = "notice"): Message {
  return {
    convId, seq: 4, senderId: "", clientMsgId: "n", type, content, createdAt: new Date(5), recalled: false,
    members: [], own: false, groupId: "", mentions: [], mentionAll: false,
  };
}

test("contact notices: friend events of the user's own system conversation only", () => {
  assert.deepEqual(contactNoticeOf(notice("s:bob", '{"event":"friend.requested","user_id":"ann","message":"hi"}'), "bob"), {
    event: "friend.requested", userId: "ann", message: "hi", convId: "s:bob", seq: 4, at: new Date(5),
  });
  assert.equal(contactNoticeOf(notice("s:bob", '{"event":"friend.removed","user_id":"ann"}'), "bob")?.message, "");
  assert.equal(contactNoticeOf(notice("s:bob", '{"event":"members.removed","group_id":"g"}'), "bob"), undefined);
  assert.equal(contactNoticeOf(notice("s:ann", '{"event":"friend.accepted","user_id":"x"}'), "bob"), undefined);
  assert.equal(contactNoticeOf(notice("s:bob", '{"event":"friend.accepted"}', "text"), "bob"), undefined);
  assert.equal(contactNoticeOf(notice("s:bob", "not json"), "bob"), undefined);
  assert.equal(contactNoticeOf(notice("s:bob", "null"), "bob"), undefined);
});
