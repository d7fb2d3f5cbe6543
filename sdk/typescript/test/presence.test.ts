// End-to-end test of presence subscriptions against a real server (magpie
// dev): a friend's state and its change, strangers refused, the
// subscription renewed by the client after a server restart.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ErrorCode, MagpieError } from "../src/index.js";
import { Env, next, within, type TestClient } from "./env.js";

test("presence: a friend's state and going offline; strangers refused; watched again after a restart", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  const [ann, bob] = ["ann", "bob"].map((u) => e.client(u, `${u}-phone`)) as [TestClient, TestClient];
  for (const c of [ann, bob]) c.run();
  for (const c of [ann, bob]) await next(c, "connected");
  await ann.c.sendFriendRequest("bob");
  await bob.c.acceptFriendRequest("ann");

  const sub = await ann.c.subscribePresence(["bob", "cat"]);
  assert.deepEqual(
    sub.users.map((p) => [p.userId, p.online, p.lastSeen]),
    [["bob", true, undefined]],
  );
  assert.deepEqual(sub.refused, ["cat"]); // no friend of ann's

  // bob leaves: after the server's debounce (5 s), ann is told, with his last seen time.
  await bob.c.close();
  const gone = await next(ann, "presence", 20_000);
  assert.deepEqual([gone.userId, gone.online], ["bob", false]);
  assert.ok(gone.lastSeen instanceof Date && gone.lastSeen.getTime() > 0, "a last seen time");

  // The server restarts: the client watches bob again by itself and reports his state.
  await e.server.restart(() => {});
  const again = await next(ann, "presence", 20_000);
  assert.deepEqual([again.userId, again.online, again.lastSeen?.getTime()], ["bob", false, gone.lastSeen.getTime()]);

  await ann.c.unsubscribePresence([], true);
  await assert.rejects(within(10_000, "an empty id", ann.c.subscribePresence([""])), (err: unknown) => {
    assert.ok(err instanceof MagpieError);
    assert.equal(err.code, ErrorCode.InvalidArgument);
    return true;
  });
});
