// End-to-end tests of the client's guarantees through failures: a severed
// connection, a server restart, a send deadline, and a burst of pipelined
// sends.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CloseCode, CloseError, SendTimeoutError, type Message } from "../src/index.js";
import { Env, lines, next, nextMessages, receiptFrom, within } from "./env.js";

test("a connection severed mid-send still delivers everything once, in order", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const p = await e.proxy();
  const alice = e.client("alice", "alice-phone", p.url);
  const bob = e.client("bob", "bob-phone");
  alice.run();
  bob.run();
  await next(alice, "connected");
  await next(bob, "connected");

  // The server stores the messages (all five are in flight at once) but
  // their acks never reach alice; then the connection breaks.
  p.setBlackhole(true);
  const outs = [1, 2, 3, 4, 5].map((i) => alice.c.sendAsync("bob", "text", String(i)));
  assert.equal((await next(bob, "message")).content, "1");
  p.setBlackhole(false);
  p.sever();

  const results = await within(15_000, "the sends", Promise.all(outs.map((o) => o.result)));
  results.forEach((res, i) => {
    assert.equal(res.seq, i + 1, `send ${i + 1}`);
    assert.equal(res.clientMsgId, outs[i].clientMsgId);
  });
  assert.equal(results[0].duplicate, true, "the first send was stored before the cut: a duplicate");
  await within(10_000, "send", alice.c.send("bob", "text", "end"));
  assert.deepEqual(lines(await nextMessages(bob, 5)), ["2 alice 2", "3 alice 3", "4 alice 4", "5 alice 5", "6 alice end"]);
  const own = await nextMessages(alice, 6);
  assert.deepEqual(lines(own), ["1 alice 1", "2 alice 2", "3 alice 3", "4 alice 4", "5 alice 5", "6 alice end"]);
  assert.ok(own.every((m) => m.own));
});

test("a server restart between send and delivery loses nothing", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const p = await e.proxy();
  const alice = e.client("alice", "alice-phone");
  const bob = e.client("bob", "bob-phone", p.url);
  alice.run();
  bob.run();
  await next(alice, "connected");
  await next(bob, "connected");

  p.setDown(true); // bob is cut off, and keeps trying to reconnect
  await next(bob, "disconnected");
  await within(10_000, "send", alice.c.send("bob", "text", "before")); // durable once acknowledged
  let during: ReturnType<typeof alice.c.sendAsync> | undefined;
  await e.server.restart(() => {
    during = alice.c.sendAsync("bob", "text", "during");
  });
  const d = await next(alice, "disconnected");
  assert.ok(d.willRetry);
  assert.ok(d.error instanceof CloseError && d.error.code === CloseCode.ServerShutdown, String(d.error));
  const res = await within(15_000, "the send during the restart", during!.result);
  assert.equal(res.seq, 2);
  p.setDown(false);
  assert.deepEqual(lines(await nextMessages(bob, 2, 15_000)), ["1 alice before", "2 alice during"]);
  await receiptFrom(alice, "delivered", "bob", 2);
});

test("a send not acknowledged before its deadline fails with SendTimeoutError", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const p = await e.proxy();
  const alice = e.client("alice", "alice-phone", p.url, { sendDeadlineMs: 1500 });
  alice.run();
  await next(alice, "connected");
  p.setDown(true);
  await next(alice, "disconnected");
  const o = alice.c.sendAsync("bob", "text", "into the void");
  await assert.rejects(
    within(5_000, "the deadline", o.result),
    (err: unknown) => err instanceof SendTimeoutError && err.clientMsgId === o.clientMsgId,
  );
  assert.equal(alice.c.stats().pendingSends, 0);
});

test("a burst of 1,000 pipelined sends arrives complete and in order", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  await e.server.setSendLimit(5000, 5000);
  const alice = e.client("alice", "alice-phone");
  const bob = e.client("bob", "bob-phone");
  // Callbacks instead of the iterator: bob counts as he goes.
  const got: Message[] = [];
  let all!: () => void;
  const allIn = new Promise<void>((resolve) => (all = resolve));
  const n = 1000;
  bob.c.on("message", (m) => {
    got.push(m);
    if (got.length === n) all();
  });
  alice.run();
  bob.run();
  await next(alice, "connected");
  await next(bob, "connected");
  const outs = [];
  for (let i = 1; i <= n; i++) outs.push(alice.c.sendAsync("bob", "text", `burst ${i}`));
  const results = await within(60_000, "the acks", Promise.all(outs.map((o) => o.result)));
  results.forEach((r, i) => assert.equal(r.seq, i + 1));
  await within(60_000, "bob's messages", allIn);
  got.forEach((m, i) => {
    assert.equal(m.seq, i + 1);
    assert.equal(m.content, `burst ${i + 1}`);
  });
  await receiptFrom(alice, "delivered", "bob", n, 15_000);
});

test("the async iterator of the client sees events in order and ends at close", async (t) => {
  const e = await Env.start(t, "alice");
  const alice = e.client("alice", "alice-phone");
  const seen: string[] = [];
  const loop = (async () => {
    for await (const ev of alice.c) {
      seen.push(ev.type === "message" ? `message ${ev.value.content}` : ev.type);
      if (ev.type === "message" && ev.value.content === "2") break;
    }
  })();
  alice.run();
  await within(10_000, "send", alice.c.send("alice", "text", "1"));
  await within(10_000, "send", alice.c.send("alice", "text", "2"));
  await within(10_000, "the iterator", loop);
  assert.deepEqual(seen.filter((s) => s.startsWith("message") || s === "connected"), ["connected", "message 1", "message 2"]);
  await alice.c.close();
  const r = await within(5_000, "the end of the events", (async () => {
    const evs: string[] = [];
    for await (const ev of alice.it) evs.push(ev.type);
    return evs;
  })());
  assert.equal(r.at(-1), "disconnected");
});
