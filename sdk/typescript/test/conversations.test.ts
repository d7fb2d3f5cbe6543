// End-to-end tests of conversation settings, typing, history and logout
// against a real server (magpie dev).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ClientClosedError, ErrorCode, MagpieError, directConvId, type Conversation } from "../src/index.js";
import { Env, lines, next, nextMessages, nextWhere, within, type TestClient } from "./env.js";

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** The user's conversation convId, from conversations(). */
async function conv(tc: TestClient, convId: string): Promise<Conversation> {
  const all = await within(10_000, "conversations", tc.c.conversations());
  const cv = all.find((x) => x.id === convId);
  assert.ok(cv, `no conversation ${convId} in ${all.map((x) => x.id).join(", ")}`);
  return cv;
}

test("conversation settings: pin and draft for the user's devices, clear history for the user alone, both ways", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  const [ann, bob, laptop] = [e.client("ann", "ann-phone"), e.client("bob", "bob-phone"), e.client("ann", "ann-laptop")];
  assert.throws(() => ann.c.convIdWith("bob"), /not logged in/);
  for (const c of [ann, bob, laptop]) c.run();
  for (const c of [ann, bob, laptop]) await next(c, "connected");
  const id = ann.c.convIdWith("bob");
  assert.equal(id, "p:ann:bob");
  assert.equal(bob.c.convIdWith("ann"), id);
  assert.equal(directConvId("bob", "ann"), id);

  for (const text of ["one", "two", "three"]) await ann.c.send("bob", "text", text);
  await nextMessages(bob, 3);

  // ann pins it and keeps a draft: the reply, the event, and her other device agree; bob's settings are his own.
  const pinned = await ann.c.setConversation(id, { pinned: true, draft: "half a thought" });
  assert.ok(pinned.pinnedAt instanceof Date);
  assert.equal(pinned.draft, "half a thought");
  assert.equal(pinned.maxSeq, 3);
  const ev = await next(ann, "conversationState");
  assert.equal(ev.id, id);
  assert.equal(ev.draft, "half a thought");
  const onLaptop = await conv(laptop, id);
  assert.equal(onLaptop.draft, "half a thought");
  assert.equal(onLaptop.pinnedAt?.getTime(), pinned.pinnedAt.getTime());
  assert.equal(onLaptop.lastMessage?.content, "three");
  assert.equal(onLaptop.lastMessage?.seq, 3);
  assert.deepEqual(onLaptop.members, ["ann", "bob"]);
  const bobs = await conv(bob, id);
  assert.equal(bobs.pinnedAt, undefined);
  assert.equal(bobs.draft, "");
  assert.equal(bobs.clearedSeq, 0);

  // Only what is given changes; unpinning and an empty draft drop them.
  const kept = await ann.c.setConversation(id, { draft: "a whole thought" });
  assert.equal(kept.pinnedAt?.getTime(), pinned.pinnedAt.getTime());
  const unpinned = await ann.c.setConversation(id, { pinned: false, draft: "" });
  assert.equal(unpinned.pinnedAt, undefined);
  assert.equal(unpinned.draft, "");

  // bob clears his history: gone for him (on every device), not for ann; new messages still come.
  const cleared = await bob.c.setConversation(id, { clearHistory: true, pinned: true });
  assert.equal(cleared.clearedSeq, 3);
  assert.ok(cleared.firstSeq > 3, `firstSeq ${cleared.firstSeq}`);
  assert.equal(cleared.unread, 0);
  assert.ok(cleared.pinnedAt);
  assert.equal((await next(bob, "conversationState")).clearedSeq, 3);
  assert.deepEqual((await bob.c.history(id)).messages, []);
  assert.deepEqual(lines((await ann.c.history(id)).messages), ["1 ann one", "2 ann two", "3 ann three"]);
  const four = await ann.c.send("bob", "text", "four");
  assert.equal((await next(bob, "message")).seq, four.seq);
  assert.deepEqual(lines((await bob.c.history(id)).messages), ["4 ann four"]);
  const bobPhone2 = e.client("bob", "bob-tablet");
  bobPhone2.run();
  assert.deepEqual(lines([await next(bobPhone2, "message")]), ["4 ann four"]);

  // ann clears hers the other way round.
  const annCleared = await ann.c.setConversation(id, { clearHistory: true });
  assert.equal(annCleared.clearedSeq, 4);
  assert.deepEqual((await ann.c.history(id)).messages, []);
  assert.deepEqual(lines((await bob.c.history(id)).messages), ["4 ann four"]);

  // Refusals: a conversation the user is not in, a draft over 4096 bytes, an empty id.
  await rejectsWith(bob.c.setConversation("p:ann:cat", { pinned: true }), ErrorCode.ConversationNotFound);
  await rejectsWith(bob.c.setConversation(id, { draft: "x".repeat(4097) }), ErrorCode.InvalidArgument);
  await assert.rejects(bob.c.setConversation("", { pinned: true }), TypeError);
});

test("history pages backwards; typing reaches the other member both ways and a stranger is refused", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  // ann speaks JSON frames, the others binary ones.
  const [ann, bob, cat] = ["ann", "bob", "cat"].map((u) =>
    e.client(u, `${u}-phone`, "", { encoding: u === "ann" ? "json" : "proto" }),
  ) as [TestClient, TestClient, TestClient];
  for (const c of [ann, bob, cat]) c.run();
  for (const c of [ann, bob, cat]) await next(c, "connected");
  for (let i = 1; i <= 5; i++) await (i % 2 ? ann : bob).c.send(i % 2 ? "bob" : "ann", "text", `m${i}`);
  const id = ann.c.convIdWith("bob");

  const newest = await ann.c.history(id, 0, 2);
  assert.deepEqual(lines(newest.messages), ["4 bob m4", "5 ann m5"]);
  assert.equal(newest.hasMore, true);
  assert.deepEqual(newest.messages.map((m) => m.own), [false, true]);
  const older = await bob.c.history(id, 4, 10);
  assert.deepEqual(lines(older.messages), ["1 ann m1", "2 bob m2", "3 ann m3"]);
  assert.equal(older.hasMore, false);
  assert.deepEqual(await ann.c.history(id, 1), { messages: [], hasMore: false });
  await rejectsWith(cat.c.history(id), ErrorCode.Forbidden);

  await ann.c.setTyping(id, true);
  const typing = await next(bob, "typing");
  assert.deepEqual([typing.convId, typing.userId, typing.typing], [id, "ann", true]);
  assert.ok(typing.at.getTime() > 0);
  await bob.c.setTyping(id, true);
  assert.deepEqual((await next(ann, "typing")).userId, "bob");
  await bob.c.setTyping(id, false);
  const stopped = await next(ann, "typing");
  assert.deepEqual([stopped.userId, stopped.typing], ["bob", false]);
  await rejectsWith(cat.c.setTyping(id, true), ErrorCode.Forbidden);
  await assert.rejects(cat.c.setTyping("", true), TypeError);

  // In a group, every other member sees it.
  const g = await ann.c.createGroup({ name: "Typists", memberIds: ["bob", "cat"] });
  await cat.c.setTyping(g.convId, true);
  for (const c of [ann, bob]) {
    const ty = await nextWhere(c, "typing", (x) => x.convId === g.convId);
    assert.deepEqual([ty.userId, ty.typing], ["cat", true]);
  }
});

test("logout removes the device's push registration and closes the client; close alone keeps it", async (t) => {
  const e = await Env.start(t, "ann");
  const devices = async () =>
    ((await e.server.api.call("GET", "/v1/users/ann/devices")) as { devices?: unknown[] }).devices ?? [];
  const first = e.client("ann", "ann-phone");
  first.run();
  await next(first, "connected");
  await first.c.registerDevice({ platform: "android", provider: "fcm", token: "fcm-token-1" });
  await first.c.close();
  assert.equal((await devices()).length, 1);

  // A later run of the app, which registered nothing, logs the user out.
  const second = e.client("ann", "ann-phone");
  second.run();
  await second.c.logout(AbortSignal.timeout(10_000));
  assert.deepEqual(await devices(), []);
  assert.equal(await within(10_000, "run to end", second.done), undefined);
  await assert.rejects(second.c.markRead("p:ann:bob", 1), ClientClosedError);
  await assert.rejects(second.c.logout(), ClientClosedError); // again: closed, nothing to unregister on
});
