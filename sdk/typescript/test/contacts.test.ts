// End-to-end tests of contacts against a real server (magpie dev): friend
// requests and their notices, friends with remarks, pages, blocks, and the
// typed errors of refused sends.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  BlockedError,
  ErrorCode,
  FriendStatus,
  MagpieError,
  NotFriendsError,
  systemConvId,
} from "../src/index.js";
import { Env, next, nextWhere, setAppSettings, within, type TestClient } from "./env.js";

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test("contacts: requests and their notices both ways, friends paged with remarks, decline, cancel, remove", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  const [ann, bob, cat] = ["ann", "bob", "cat"].map((u) => e.client(u, `${u}-phone`)) as [TestClient, TestClient, TestClient];
  for (const c of [ann, bob, cat]) c.run();
  for (const c of [ann, bob, cat]) await next(c, "connected");

  assert.equal(await ann.c.sendFriendRequest("bob", "hi bob"), FriendStatus.Requested);
  // bob learns live: the notice as a message of his system conversation, then as a contact event.
  const m = await next(bob, "message");
  assert.equal(m.convId, systemConvId("bob"));
  assert.equal(m.type, "notice");
  const n = await next(bob, "contact");
  assert.deepEqual([n.event, n.userId, n.message, n.convId, n.seq], ["friend.requested", "ann", "hi bob", "s:bob", m.seq]);
  const incoming = await bob.c.friendRequests();
  assert.deepEqual(
    incoming.requests.map((r) => [r.fromId, r.toId, r.message]),
    [["ann", "bob", "hi bob"]],
  );
  assert.equal(incoming.nextCursor, "");
  const outgoing = await ann.c.friendRequests(true);
  assert.deepEqual(outgoing.requests.map((r) => r.toId), ["bob"]);
  assert.ok(outgoing.requests[0].createdAt.getTime() > 0);

  await bob.c.acceptFriendRequest("ann");
  const accepted = await next(ann, "contact");
  assert.deepEqual([accepted.event, accepted.userId], ["friend.accepted", "bob"]);
  const f = await ann.c.setFriendRemark("bob", "Bobby");
  assert.deepEqual([f.userId, f.remark], ["bob", "Bobby"]);
  const bobs = await bob.c.friends();
  assert.deepEqual(bobs.friends.map((x) => [x.userId, x.remark]), [["ann", ""]]);

  // The other way: cat asks ann, and ann's crossing request befriends at once.
  assert.equal(await cat.c.sendFriendRequest("ann"), FriendStatus.Requested);
  assert.equal((await next(ann, "contact")).event, "friend.requested");
  assert.equal(await ann.c.sendFriendRequest("cat"), FriendStatus.Friends);
  assert.deepEqual(
    [(await next(cat, "contact")).event],
    ["friend.accepted"],
  );
  const p1 = await ann.c.friends("", 1);
  assert.deepEqual(p1.friends.map((x) => [x.userId, x.remark]), [["bob", "Bobby"]]);
  assert.notEqual(p1.nextCursor, "");
  const p2 = await ann.c.friends(p1.nextCursor, 1);
  assert.deepEqual(p2.friends.map((x) => x.userId), ["cat"]);

  // Declined and cancelled requests are gone, and nobody is told.
  await bob.c.sendFriendRequest("cat", "");
  assert.equal((await next(cat, "contact")).event, "friend.requested");
  await cat.c.declineFriendRequest("bob");
  await bob.c.sendFriendRequest("cat", "again");
  assert.equal((await next(cat, "contact")).message, "again");
  await bob.c.cancelFriendRequest("cat");
  assert.equal((await bob.c.friendRequests(true)).requests.length, 0);
  assert.equal((await cat.c.friendRequests(false)).requests.length, 0);
  await rejectsWith(cat.c.declineFriendRequest("bob"), ErrorCode.NotFound);
  await rejectsWith(bob.c.cancelFriendRequest("cat"), ErrorCode.NotFound);

  // Removal ends both sides and tells the other.
  await bob.c.removeFriend("ann");
  const removed = await next(ann, "contact");
  assert.deepEqual([removed.event, removed.userId], ["friend.removed", "bob"]);
  assert.deepEqual((await ann.c.friends()).friends.map((x) => x.userId), ["cat"]);
  await rejectsWith(bob.c.removeFriend("ann"), ErrorCode.NotFound);
  await rejectsWith(ann.c.setFriendRemark("bob", "x"), ErrorCode.NotFound);
  await rejectsWith(ann.c.sendFriendRequest("nobody"), ErrorCode.UserNotFound);
  await rejectsWith(ann.c.sendFriendRequest("ann"), ErrorCode.InvalidArgument);

  // A device that was not running reports the notices it syncs as contact events too.
  const later = e.client("cat", "cat-laptop");
  await ann.c.removeFriend("cat");
  later.run();
  const offline = await nextWhere(later, "contact", (x) => x.event === "friend.removed");
  assert.equal(offline.userId, "ann");
});

test("contacts: a blocked sender's messages fail with BlockedError, not_friends with NotFriendsError, both ways", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  const [ann, bob] = ["ann", "bob"].map((u) => e.client(u, `${u}-phone`)) as [TestClient, TestClient];
  for (const c of [ann, bob]) c.run();
  for (const c of [ann, bob]) await next(c, "connected");

  await ann.c.block("bob");
  await ann.c.block("bob"); // again: no change
  await assert.rejects(within(10_000, "blocked send", bob.c.send("ann", "text", "hello?")), (err: unknown) => {
    assert.ok(err instanceof BlockedError, String(err));
    assert.ok(err instanceof MagpieError);
    assert.equal(err.code, ErrorCode.Blocked);
    assert.equal(err.retryable, false);
    return true;
  });
  // The refusal fails that send alone, at once, not after a deadline.
  assert.equal(bob.c.stats().pendingSends, 0);
  await assert.rejects(bob.c.sendTyped("ann", { type: "text", text: "typed" }), BlockedError);
  // The blocker still writes, and friend requests between the two are refused.
  const mine = await ann.c.send("bob", "text", "I can still write");
  assert.equal((await nextWhere(bob, "message", (m) => m.seq === mine.seq)).content, "I can still write");
  await rejectsWith(bob.c.sendFriendRequest("ann"), ErrorCode.Forbidden);
  const bl = await ann.c.blocked();
  assert.deepEqual(bl.users.map((u) => u.userId), ["bob"]);
  assert.equal(bl.nextCursor, "");
  assert.deepEqual((await bob.c.blocked()).users, []);
  await ann.c.unblock("bob");
  await rejectsWith(ann.c.unblock("bob"), ErrorCode.NotFound);
  const ok = await bob.c.send("ann", "text", "hello again");
  assert.equal((await nextWhere(ann, "message", (m) => m.seq === ok.seq && !m.own)).content, "hello again");

  // Only friends may message: strangers are refused both ways, friends are not.
  await setAppSettings(e.server, { only_friends_message: true });
  const cat = e.client("cat", "cat-phone");
  cat.run();
  await next(cat, "connected");
  const refused = (p: Promise<unknown>) =>
    assert.rejects(within(10_000, "not_friends", p), (err: unknown) => {
      assert.ok(err instanceof NotFriendsError, String(err));
      assert.equal(err.code, ErrorCode.NotFriends);
      return true;
    });
  await refused(cat.c.send("ann", "text", "hi stranger"));
  await refused(ann.c.send("cat", "text", "who are you?"));
  await cat.c.sendFriendRequest("ann");
  await ann.c.acceptFriendRequest("cat");
  const now = await cat.c.send("ann", "text", "friends now");
  assert.equal((await nextWhere(ann, "message", (m) => m.seq === now.seq && m.senderId === "cat")).content, "friends now");
});
