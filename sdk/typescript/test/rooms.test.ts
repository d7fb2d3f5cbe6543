// End-to-end tests of chat rooms against a real server (magpie dev): join
// with history, messages both ways, member counts, leave, rejoin after a
// restart, kick and close.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ErrorCode, MagpieError, RoomBannedError, RoomLeftReason } from "../src/index.js";
import { Env, next, nextWhere, within, type Server } from "./env.js";

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Polls the server API until the room has n members, for at most 10 s. */
async function waitMembers(server: Server, room: string, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = (await server.api.call("GET", `/v1/rooms/${room}`)) as { room: { member_count?: number } };
    if ((r.room.member_count ?? 0) === n) return;
    if (Date.now() > deadline) throw new Error(`room ${room} has ${r.room.member_count} members, want ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 20)); // poll interval, not synchronisation
  }
}

test("chat rooms: history on join, messages both ways, member counts, leave, refusals", async (t) => {
  const e = await Env.start(t, "ann", "bob");
  await e.server.api.call("POST", "/v1/rooms", { id: "live", name: "Live", owner_id: "ann" });
  await e.server.api.call("POST", "/v1/rooms/live/messages", { content: "welcome" });
  // bob speaks JSON frames, ann binary ones.
  const [ann, bob] = [e.client("ann", "ann-phone"), e.client("bob", "bob-phone", "", { encoding: "json" })];
  for (const c of [ann, bob]) c.run();
  for (const c of [ann, bob]) await next(c, "connected");

  const j = await ann.c.joinRoom("live");
  assert.deepEqual(j.room, { id: "live", name: "Live", ownerId: "ann", memberCount: 1 });
  assert.deepEqual(
    j.messages.map((m) => [m.seq, m.senderId, m.content, m.priority]),
    [[1, "", "welcome", true]],
  );
  const jb = await bob.c.joinRoom("live", 1);
  assert.equal(jb.room.memberCount, 2);
  assert.equal(jb.messages.length, 1);
  assert.equal((await nextWhere(ann, "roomMemberCount", (x) => x.count === 2)).roomId, "live");
  await rejectsWith(bob.c.joinRoom("nope"), ErrorCode.RoomNotFound);
  await rejectsWith(bob.c.sendToRoom("nope", "text", "x"), ErrorCode.RoomNotFound);

  // bob to the room: both get it (the sender too), once.
  const a = await bob.c.sendToRoom("live", "text", "hi all");
  assert.deepEqual([a.roomId, a.seq, a.duplicate], ["live", 2, false]);
  assert.ok(a.clientMsgId);
  for (const c of [ann, bob]) {
    const m = await next(c, "roomMessage");
    assert.deepEqual([m.roomId, m.seq, m.senderId, m.content, m.priority], ["live", 2, "bob", "hi all", false]);
  }
  // And the owner back: priority.
  await ann.c.sendToRoom("live", "text", "hello bob");
  const back = await next(bob, "roomMessage");
  assert.deepEqual([back.seq, back.senderId, back.content, back.priority], [3, "ann", "hello bob", true]);
  assert.equal((await next(ann, "roomMessage")).seq, 3);

  // bob leaves: his sends are refused and he gets nothing more.
  await bob.c.leaveRoom("live");
  await bob.c.leaveRoom("live"); // again: not an error
  await rejectsWith(bob.c.sendToRoom("live", "text", "still here?"), ErrorCode.RoomNotFound);
  await ann.c.sendToRoom("live", "text", "after bob left");
  assert.equal((await next(ann, "roomMessage")).content, "after bob left");
  await waitMembers(e.server, "live", 1);
  // Joining again, he finds it in the history, not as an event: the next event is the next message.
  const again = await bob.c.joinRoom("live");
  assert.equal(again.messages.at(-1)?.content, "after bob left");
  await ann.c.sendToRoom("live", "text", "welcome back");
  assert.equal((await next(bob, "roomMessage")).content, "welcome back");
});

test("chat rooms: joined again by themselves after a restart; kicked and closed rooms are left", async (t) => {
  const e = await Env.start(t, "ann", "bob");
  await e.server.api.call("POST", "/v1/rooms", { id: "live", owner_id: "ann" });
  const [ann, bob] = [e.client("ann", "ann-phone"), e.client("bob", "bob-phone")];
  for (const c of [ann, bob]) c.run();
  for (const c of [ann, bob]) await next(c, "connected");
  await ann.c.joinRoom("live");
  await bob.c.joinRoom("live");
  await bob.c.sendToRoom("live", "text", "before");
  for (const c of [ann, bob]) assert.equal((await next(c, "roomMessage")).content, "before");

  await e.server.restart(() => {});
  for (const c of [ann, bob]) await next(c, "connected", 30_000);
  await waitMembers(e.server, "live", 2);
  await e.server.api.call("POST", "/v1/rooms/live/messages", { sender_id: "ann", content: "we are back" });
  for (const c of [ann, bob]) {
    const m = await nextWhere(c, "roomMessage", (x) => x.content !== "before");
    assert.deepEqual([m.content, m.priority], ["we are back", true]);
  }

  await e.server.api.call("DELETE", "/v1/rooms/live/members/bob");
  assert.deepEqual(await next(bob, "roomLeft"), { roomId: "live", reason: RoomLeftReason.Kicked });
  await rejectsWith(bob.c.sendToRoom("live", "text", "let me back"), ErrorCode.RoomNotFound);
  await e.server.api.call("DELETE", "/v1/rooms/live");
  assert.deepEqual(await next(ann, "roomLeft"), { roomId: "live", reason: RoomLeftReason.Closed });
});

test("chat rooms: a ban takes the user out, refuses its joins with RoomBannedError across a restart, until lifted", async (t) => {
  const e = await Env.start(t, "ann", "bob");
  await e.server.api.call("POST", "/v1/rooms", { id: "live" });
  // bob speaks JSON frames, ann binary ones.
  const [ann, bob] = [e.client("ann", "ann-phone"), e.client("bob", "bob-phone", "", { encoding: "json" })];
  for (const c of [ann, bob]) c.run();
  for (const c of [ann, bob]) await next(c, "connected");
  await ann.c.joinRoom("live");
  await bob.c.joinRoom("live");

  const { ban } = (await e.server.api.call("PUT", "/v1/rooms/live/bans/bob", { reason: "spam" })) as {
    ban: { user_id: string; reason: string };
  };
  assert.deepEqual([ban.user_id, ban.reason], ["bob", "spam"]);
  assert.deepEqual(await next(bob, "roomLeft"), { roomId: "live", reason: RoomLeftReason.Banned });
  await rejectsWith(bob.c.sendToRoom("live", "text", "still here?"), ErrorCode.RoomNotFound);
  const refused = async (): Promise<void> => {
    await assert.rejects(within(10_000, "joinRoom", bob.c.joinRoom("live")), (err: unknown) => {
      assert.ok(err instanceof RoomBannedError, `${String(err)} is not a RoomBannedError`);
      assert.ok(err instanceof MagpieError);
      assert.equal(err.code, ErrorCode.RoomBanned);
      assert.equal(err.retryable, false);
      return true;
    });
  };
  await refused();

  // The ban is stored: a restart does not lift it, and only ann is joined again by her client.
  await e.server.restart(() => {});
  for (const c of [ann, bob]) await next(c, "connected", 30_000);
  await waitMembers(e.server, "live", 1);
  await refused();

  await e.server.api.call("DELETE", "/v1/rooms/live/bans/bob");
  await bob.c.joinRoom("live");
  await bob.c.sendToRoom("live", "text", "back");
  const m = await nextWhere(ann, "roomMessage", (x) => x.senderId === "bob");
  assert.equal(m.content, "back");
});
