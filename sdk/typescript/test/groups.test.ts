// End-to-end tests of group chats against a real server (magpie dev): a
// three-member chat with pipelined sends, mentions, membership, and the
// group API over both encodings.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  GroupRole,
  JoinPolicy,
  MagpieError,
  groupConvId,
  isMentioned,
  systemConvId,
  type GroupSendOptions,
  type Message,
} from "../src/index.js";
import { Env, lines, next, nextWhere, within, type TestClient } from "./env.js";

/**
 * The next n messages of a conversation that are not notices (the server
 * posts those for membership changes).
 */
async function nextChat(tc: TestClient, convId: string, n: number, ms = 10_000): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const m = await next(tc, "message", Math.max(deadline - Date.now(), 1));
    if (m.convId === convId && m.type !== "notice") out.push(m);
  }
  return out;
}

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test("group chat: pipelined sends seen once and in order by every member, mentions, leave, dismiss", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat", "dan");
  const [ann, bob, cat, dan] = ["ann", "bob", "cat", "dan"].map((u) => e.client(u, `${u}-phone`)) as [
    TestClient,
    TestClient,
    TestClient,
    TestClient,
  ];
  for (const c of [ann, bob, cat, dan]) c.run();
  for (const c of [ann, bob, cat, dan]) await next(c, "connected");

  const g = await within(10_000, "createGroup", ann.c.createGroup({ name: "Crew", memberIds: ["bob", "cat"] }));
  assert.match(g.id, /^grp_[0-9a-f]{20}$/);
  assert.equal(g.ownerId, "ann");
  assert.equal(g.memberCount, 3);
  assert.equal(g.joinPolicy, JoinPolicy.Invite);
  assert.equal(g.convId, groupConvId(g.id));
  // Sent again (as after a lost reply), the creation finds the user's own group.
  const again = await ann.c.createGroup({ id: g.id, name: "Crew" });
  assert.equal(again.id, g.id);
  assert.equal(again.memberCount, 3);
  await rejectsWith(ann.c.createGroup({ id: g.id, name: "Other name" }), "group_exists");
  await rejectsWith(bob.c.createGroup({ id: g.id, name: "Crew" }), "group_exists");

  await rejectsWith(bob.c.sendToGroup(g.id, "text", "@all", { mentionAll: true }), "forbidden");
  await rejectsWith(dan.c.sendToGroup("no-such-group", "text", "hi"), "group_not_found");
  await rejectsWith(dan.c.sendToGroup(g.id, "text", "let me in"), "forbidden");
  const withMentions: GroupSendOptions = { mentions: ["bob"] };
  assert.throws(
    () => ann.c.sendAsync("bob", "text", "hi @bob", withMentions),
    (err: unknown) => err instanceof MagpieError && err.code === "invalid_argument",
  );
  assert.throws(
    () => ann.c.sendToGroupAsync(g.id, "text", "too many", { mentions: Array.from({ length: 101 }, (_, i) => `u${i}`) }),
    (err: unknown) => err instanceof MagpieError && err.code === "invalid_argument",
  );

  // All three send at once, without waiting for their acks, and a one-to-one
  // message in between that has its own queue.
  const per = 10;
  const outs = [];
  for (let i = 0; i < per; i++) {
    for (const c of [ann, bob, cat]) {
      const opts: GroupSendOptions = c === cat && i === 0 ? { mentions: ["bob"] } : {};
      outs.push(c.c.sendToGroupAsync(g.id, "text", String(i), opts));
    }
    if (i === per / 2) outs.push(ann.c.sendAsync("dan", "text", "meanwhile"));
  }
  const results = await within(10_000, "the sends", Promise.all(outs.map((o) => o.result)));
  const groupSeqs = results.filter((r) => r.convId === g.convId).map((r) => r.seq);
  assert.equal(groupSeqs.length, 3 * per);
  assert.equal(new Set(groupSeqs).size, 3 * per, "two sends got the same seq");
  assert.equal((await next(dan, "message")).content, "meanwhile");

  const seen: string[][] = [];
  let mentionSeq = 0;
  for (const [name, c] of [
    ["ann", ann],
    ["bob", bob],
    ["cat", cat],
  ] as const) {
    const msgs = await nextChat(c, g.convId, 3 * per);
    const bySender: Record<string, string[]> = { ann: [], bob: [], cat: [] };
    msgs.forEach((m, i) => {
      if (i > 0) assert.ok(m.seq > msgs[i - 1].seq, `${name}: seq ${m.seq} after ${msgs[i - 1].seq}`);
      assert.equal(m.convId, groupConvId(g.id), name);
      assert.equal(m.groupId, g.id, name);
      assert.deepEqual(m.members, [], name);
      assert.equal(m.own, m.senderId === name, `${name}: own of ${m.seq}`);
      bySender[m.senderId].push(m.content);
      const mentioning = m.senderId === "cat" && m.content === "0";
      assert.deepEqual(m.mentions, mentioning ? ["bob"] : [], `${name}: mentions of ${m.seq}`);
      assert.equal(m.mentionAll, false);
      assert.equal(isMentioned(m, "bob"), mentioning);
      assert.equal(isMentioned(m, "cat"), false);
      if (mentioning) mentionSeq = m.seq;
    });
    for (const s of ["ann", "bob", "cat"]) assert.deepEqual(bySender[s], Array.from({ length: per }, (_, i) => String(i)), `${name}: ${s}'s order`);
    assert.deepEqual(msgs.map((m) => m.seq).sort((a, b) => a - b), [...groupSeqs].sort((a, b) => a - b), name);
    seen.push(lines(msgs));
  }
  assert.deepEqual(seen[1], seen[0], "bob and ann disagree");
  assert.deepEqual(seen[2], seen[0], "cat and ann disagree");

  // The mention marked bob's conversation; a new one is unread until he
  // reads it.
  const convOf = async (c: TestClient) => (await c.c.conversations()).find((cv) => cv.groupId === g.id);
  let bobConv = await convOf(bob);
  assert.ok(bobConv, "bob's conversations lack the group");
  assert.equal(bobConv.id, g.convId);
  assert.deepEqual(bobConv.members, []);
  assert.equal(bobConv.mentionSeq, mentionSeq);
  assert.equal((await convOf(ann))!.mentionSeq, 0);
  const look = await cat.c.sendToGroup(g.id, "text", "look", { mentions: ["bob"] });
  const got = (await nextChat(bob, g.convId, 1))[0];
  assert.equal(got.seq, look.seq);
  assert.ok(isMentioned(got, "bob"));
  assert.equal((await nextChat(cat, g.convId, 1))[0].seq, look.seq);
  bobConv = (await convOf(bob))!;
  assert.equal(bobConv.mentionSeq, look.seq);
  assert.equal(bobConv.hasUnreadMention, true);
  await bob.c.markRead(bobConv.id, look.seq);
  assert.equal((await convOf(bob))!.hasUnreadMention, false);
  const reads = await ann.c.groupReads(g.id, [look.seq]);
  assert.equal(reads.length, 1);
  assert.equal(reads[0].seq, look.seq);
  assert.equal(reads[0].of, 3);
  assert.ok(reads[0].read >= 2, `read by ${reads[0].read}`); // cat (the sender) and bob

  // A device of cat that connects later catches up on the whole chat, once.
  const tablet = e.client("cat", "cat-tablet");
  tablet.run();
  assert.deepEqual(lines(await nextChat(tablet, g.convId, 3 * per + 1)), [...seen[0], `${look.seq} cat look`]);

  // Members: paged, roles as set.
  const admin = await ann.c.setGroupRole(g.id, "bob", GroupRole.Admin);
  assert.equal(admin.role, GroupRole.Admin);
  const p1 = await ann.c.groupMembers(g.id, "", 2);
  assert.deepEqual(p1.members.map((m) => [m.userId, m.role]), [
    ["ann", "owner"],
    ["bob", "admin"],
  ]);
  assert.notEqual(p1.nextCursor, "");
  const p2 = await ann.c.groupMembers(g.id, p1.nextCursor, 2);
  assert.deepEqual(p2.members.map((m) => m.userId), ["cat"]);
  assert.equal(p2.nextCursor, "");

  // bob leaves: nothing after reaches him, and he may not send.
  await bob.c.leaveGroup(g.id);
  await ann.c.sendToGroup(g.id, "text", "after bob");
  assert.equal((await nextChat(cat, g.convId, 1))[0].content, "after bob");
  assert.equal((await nextChat(tablet, g.convId, 1))[0].content, "after bob");
  await rejectsWith(bob.c.sendToGroup(g.id, "text", "still here?"), "forbidden");
  for (;;) {
    let m: Message;
    try {
      m = await next(bob, "message", 300);
    } catch {
      break; // nothing more for bob
    }
    assert.ok(m.convId !== g.convId || m.type === "notice", `bob got ${JSON.stringify(m)} after leaving`);
  }

  // Dismissal ends the group for everyone.
  await ann.c.dismissGroup(g.id);
  await rejectsWith(cat.c.sendToGroup(g.id, "text", "anyone?"), "group_not_found");
  await rejectsWith(ann.c.getGroup(g.id), "group_not_found");
});

test("group administration over JSON frames: settings, join requests, mutes, transfer", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat", "dan");
  const [ann, bob, dan] = ["ann", "bob", "dan"].map((u) => e.client(u, `${u}-phone`, "", { encoding: "json" })) as [
    TestClient,
    TestClient,
    TestClient,
  ];
  for (const c of [ann, bob, dan]) c.run();
  for (const c of [ann, bob, dan]) await next(c, "connected");

  const g = await within(
    10_000,
    "createGroup",
    ann.c.createGroup({
      id: "club",
      name: "Club",
      notice: "Welcome",
      metadata: { topic: "birds" },
      joinPolicy: JoinPolicy.Approval,
      historyVisible: true,
    }),
  );
  assert.equal(g.id, "club");
  assert.deepEqual(g.metadata, { topic: "birds" });
  assert.equal(g.notice, "Welcome");
  assert.equal(g.historyVisible, true);
  assert.equal(g.memberCount, 1);
  assert.ok(g.createdAt.getTime() > 0);

  const u = await ann.c.updateGroup("club", { name: "Bird club", metadata: {} });
  assert.equal(u.name, "Bird club");
  assert.deepEqual(u.metadata, {});
  assert.equal(u.notice, "Welcome", "a field left out stays");
  assert.equal(u.joinPolicy, JoinPolicy.Approval);

  // Under approval, a join waits for an admin.
  const asked = await bob.c.joinGroup("club", "let me in");
  assert.deepEqual(asked.pending, ["bob"]);
  assert.deepEqual(asked.added, []);
  // The owner is told in her system conversation, as a notice message of this shape.
  const told = await nextWhere(ann, "message", (m) => m.convId === systemConvId("ann"));
  assert.equal(told.type, "notice");
  assert.equal(told.senderId, "");
  assert.deepEqual(JSON.parse(told.content), {
    event: "join.requested",
    by: "bob",
    user_ids: ["bob"],
    message: "let me in",
    group_id: "club",
  });
  const reqs = await ann.c.joinRequests("club");
  assert.deepEqual(reqs.requests.map((r) => [r.userId, r.inviterId, r.message]), [["bob", "", "let me in"]]);
  assert.equal(reqs.nextCursor, "");
  assert.deepEqual((await ann.c.resolveJoinRequest("club", "bob", true)).added, ["bob"]);
  await rejectsWith(ann.c.resolveJoinRequest("club", "bob", true), "not_found");
  assert.deepEqual((await ann.c.addGroupMembers("club", ["cat"])).added, ["cat"]);
  assert.deepEqual((await ann.c.removeGroupMembers("club", ["cat"])).removed, ["cat"]);

  // Mutes: the whole group for plain members, then one member.
  await ann.c.updateGroup("club", { muteAll: true });
  await rejectsWith(bob.c.sendToGroup("club", "text", "hello?"), "group_muted");
  const all = await ann.c.sendToGroup("club", "text", "quiet please", { mentionAll: true });
  const m = (await nextChat(bob, g.convId, 1))[0];
  assert.equal(m.seq, all.seq);
  assert.equal(m.mentionAll, true);
  assert.equal(isMentioned(m, "bob"), true);
  await ann.c.updateGroup("club", { muteAll: false });
  const muted = await ann.c.muteGroupMember("club", "bob", 60_000);
  assert.ok(muted.mutedUntil && muted.mutedUntil.getTime() > Date.now() + 30_000);
  await rejectsWith(bob.c.sendToGroup("club", "text", "hello?"), "member_muted");
  const unmuted = await ann.c.muteGroupMember("club", "bob", 0);
  assert.equal(unmuted.mutedUntil, undefined);
  await bob.c.sendToGroup("club", "text", "thanks");

  // The owner hands the group over, then leaves; an invite-only group refuses joins.
  const moved = await ann.c.transferGroup("club", "bob");
  assert.equal(moved.ownerId, "bob");
  await ann.c.leaveGroup("club");
  await bob.c.updateGroup("club", { joinPolicy: JoinPolicy.Invite });
  await rejectsWith(dan.c.joinGroup("club"), "forbidden");
  await rejectsWith(ann.c.dismissGroup("club"), "forbidden");
  await bob.c.dismissGroup("club");
  await rejectsWith(bob.c.getGroup("club"), "group_not_found");
});
