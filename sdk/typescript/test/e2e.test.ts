// End-to-end tests against a real server (magpie dev): chat, offline sync,
// duplicates, devices, receipts, tokens.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CloseCode, CloseError, MagpieError } from "../src/index.js";
import { Env, lines, next, nextMessages, receiptFrom, within } from "./env.js";
import { mintToken } from "./signing.js";

for (const encoding of ["proto", "json"] as const) {
  test(`chat both ways in order (${encoding})`, async (t) => {
    const e = await Env.start(t, "alice", "bob");
    const alice = e.client("alice", "alice-phone", "", { encoding });
    const bob = e.client("bob", "bob-phone", "", { encoding });
    alice.run();
    bob.run();
    await next(alice, "connected");
    await next(bob, "connected");

    // Both send at once, without waiting for their acks.
    const outs = [];
    for (let i = 0; i < 5; i++) {
      outs.push(alice.c.sendAsync("bob", "text", `to bob #${i}`));
      outs.push(bob.c.sendAsync("alice", "text", `to alice #${i}`));
    }
    await within(10_000, "the sends", Promise.all(outs.map((o) => o.result)));
    const fromAlice = await nextMessages(alice, 10);
    const fromBob = await nextMessages(bob, 10);
    assert.deepEqual(lines(fromAlice), lines(fromBob), "the two sides disagree");
    const sent: Record<string, string[]> = { alice: [], bob: [] };
    fromAlice.forEach((m, i) => {
      assert.equal(m.seq, i + 1);
      assert.equal(m.convId, "p:alice:bob");
      assert.equal(m.own, m.senderId === "alice");
      assert.deepEqual(m.members, ["alice", "bob"]);
      sent[m.senderId].push(m.content);
    });
    assert.deepEqual(sent.alice, [0, 1, 2, 3, 4].map((i) => `to bob #${i}`));
    assert.deepEqual(sent.bob, [0, 1, 2, 3, 4].map((i) => `to alice #${i}`));
  });
}

test("an offline recipient gets everything once, then the next message", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const alice = e.client("alice", "alice-phone");
  alice.run();
  const n = 30;
  for (let i = 1; i <= n; i++) await within(10_000, "send", alice.c.send("bob", "text", String(i)));
  await receiptFrom(alice, "stored", "bob", 1);

  const bob = e.client("bob", "bob-phone");
  bob.run();
  const msgs = await nextMessages(bob, n);
  msgs.forEach((m, i) => {
    assert.equal(m.seq, i + 1);
    assert.equal(m.content, String(i + 1));
    assert.equal(m.own, false);
  });
  await alice.c.send("bob", "text", "last");
  const m = await next(bob, "message");
  assert.equal(m.seq, n + 1);
  assert.equal(m.content, "last");
  await receiptFrom(alice, "delivered", "bob", n + 1);
});

test("a resend with the same client message id is stored once", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const alice = e.client("alice", "alice-phone");
  const bob = e.client("bob", "bob-phone");
  alice.run();
  bob.run();
  const first = await within(10_000, "send", alice.c.send("bob", "text", "once", { clientMsgId: "fixed-id-1" }));
  const again = await within(10_000, "send", alice.c.send("bob", "text", "once", { clientMsgId: "fixed-id-1" }));
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, first.seq);
  assert.equal(again.convId, first.convId);
  await alice.c.send("bob", "text", "next");
  const want = ["1 alice once", "2 alice next"];
  assert.deepEqual(lines(await nextMessages(alice, 2)), want);
  assert.deepEqual(lines(await nextMessages(bob, 2)), want);
});

test("a refused send fails alone with a typed error", async (t) => {
  const e = await Env.start(t, "alice");
  const alice = e.client("alice", "alice-phone");
  alice.run();
  await next(alice, "connected");
  const bad = alice.c.sendAsync("nobody", "text", "hello?");
  const good = alice.c.sendAsync("alice", "text", "note to self");
  await assert.rejects(bad.result, (err: unknown) => err instanceof MagpieError && err.code === "user_not_found" && !err.retryable);
  const res = await within(10_000, "send", good.result);
  assert.equal(res.seq, 1);
  assert.throws(() => alice.c.sendAsync("bob", "text", "x".repeat(70_000)), (err: unknown) => err instanceof MagpieError && err.code === "message_too_large");
  await assert.rejects(alice.c.markRead("p:alice:zed", 1), (err: unknown) => err instanceof MagpieError);
});

test("two devices of one user see the same timeline, own messages included", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const phone = e.client("alice", "alice-phone");
  const laptop = e.client("alice", "alice-laptop");
  const bob = e.client("bob", "bob-phone");
  for (const c of [phone, laptop, bob]) {
    c.run();
    await next(c, "connected");
  }
  const steps: [typeof phone, string, string][] = [
    [phone, "bob", "x1"],
    [bob, "alice", "y1"],
    [laptop, "bob", "x2"],
    [phone, "bob", "x3"],
  ];
  for (const [from, to, text] of steps) await within(10_000, "send", from.c.send(to, "text", text));
  const want = ["1 alice x1", "2 bob y1", "3 alice x2", "4 alice x3"];
  for (const [name, c, me] of [
    ["phone", phone, "alice"],
    ["laptop", laptop, "alice"],
    ["bob", bob, "bob"],
  ] as const) {
    const msgs = await nextMessages(c, want.length);
    assert.deepEqual(lines(msgs), want, name);
    for (const m of msgs) {
      assert.equal(m.own, m.senderId === me, `${name}: own of ${m.seq}`);
      assert.deepEqual(m.members, ["alice", "bob"], `${name}: members of ${m.seq}`);
    }
  }
});

test("read receipts reach the peer and the reader's other devices; mute", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const alice = e.client("alice", "alice-phone");
  const bobPhone = e.client("bob", "bob-phone");
  const bobLaptop = e.client("bob", "bob-laptop");
  for (const c of [alice, bobPhone, bobLaptop]) {
    c.run();
    await next(c, "connected");
  }
  for (let i = 0; i < 3; i++) await within(10_000, "send", alice.c.send("bob", "text", String(i)));
  const msgs = await nextMessages(bobPhone, 3);
  await receiptFrom(alice, "delivered", "bob", 3);

  await bobPhone.c.markRead(msgs[2].convId, msgs[2].seq);
  const r = await receiptFrom(alice, "read", "bob", 3);
  assert.equal(r.convId, "p:alice:bob");
  assert.ok(r.at instanceof Date);
  await receiptFrom(bobLaptop, "read", "bob", 3);

  const convs = await alice.c.conversations();
  assert.equal(convs.length, 1);
  assert.equal(convs[0].peerReadSeq, 3);
  assert.equal(convs[0].maxSeq, 3);

  await bobPhone.c.muteConversation("p:alice:bob", true);
  const bobConvs = await bobLaptop.c.conversations();
  assert.equal(bobConvs[0].muted, true);
  await assert.rejects(bobPhone.c.muteConversation("p:bob:zed", true), (err: unknown) => err instanceof MagpieError && err.code === "not_found");

  const h = await alice.c.history("p:alice:bob", 3, 2);
  assert.deepEqual(h.messages.map((m) => m.seq), [1, 2]);
});

test("a revoked token ends run until a fresh token", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const alice = e.client("alice", "alice-phone");
  alice.run();
  const bob = e.client("bob", "bob-phone");
  bob.run();
  await next(bob, "connected");
  await e.server.api.revokeTokens("bob");
  const err = await within(10_000, "run to end", bob.done);
  assert.ok(err instanceof CloseError && err.code === CloseCode.TokenRevoked, `run ended with ${String(err)}`);
  const d = await next(bob, "disconnected");
  assert.equal(d.willRetry, false);

  // Sent while bob is out; the token provider issues a token dated after
  // the revocation, so a new run connects and catches up.
  await within(10_000, "send", alice.c.send("bob", "text", "welcome back"));
  bob.run();
  await next(bob, "connected");
  assert.equal((await next(bob, "message")).content, "welcome back");
  await bob.c.close();
  assert.equal(await within(10_000, "run to end", bob.done), undefined);
});

test("expired tokens: refused at login (4101) and ended in session (4006) get fresh ones", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const { key, secret } = e.server;
  let calls = 0;
  const now = () => Math.floor(Date.now() / 1000);
  const bob = e.client("bob", "bob-phone", "", {
    tokenProvider: () => {
      calls++;
      const t0 = now();
      if (calls === 1) return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0 - 20, exp: t0 - 10 });
      if (calls === 2) return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0, exp: t0 + 2 });
      return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0, exp: t0 + 3600 });
    },
  });
  const alice = e.client("alice", "alice-phone");
  alice.run();
  bob.run();
  const d1 = await next(bob, "disconnected");
  assert.ok(d1.error instanceof CloseError && d1.error.code === CloseCode.TokenExpired, String(d1.error));
  assert.equal(d1.willRetry, true);
  await next(bob, "connected");
  await within(10_000, "send", alice.c.send("bob", "text", "one"));
  assert.equal((await next(bob, "message")).content, "one");
  const d2 = await next(bob, "disconnected", 15_000);
  assert.ok(d2.error instanceof CloseError && d2.error.code === CloseCode.Reauthenticate, String(d2.error));
  assert.equal(d2.willRetry, true);
  await within(10_000, "send", alice.c.send("bob", "text", "two"));
  await next(bob, "connected");
  const m = await next(bob, "message");
  assert.equal(m.content, "two");
  assert.equal(m.seq, 2);
  assert.equal(calls, 3);
});

test("search finds the user's messages by keyword, page by page", async (t) => {
  const e = await Env.start(t, "alice", "bob");
  const alice = e.client("alice", "alice-phone");
  const bob = e.client("bob", "bob-phone");
  alice.run();
  bob.run();
  for (const text of ["Train at 9", "the train is late", "火车晚点了", "see you"]) {
    await within(10_000, "send", alice.c.send("bob", "text", text));
  }
  const found: string[] = [];
  let cursor = "";
  for (let i = 0; i < 5; i++) {
    const page = await bob.c.searchMessages("TRAIN", { limit: 1, cursor });
    found.push(...page.messages.map((m) => m.content));
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  assert.deepEqual(found, ["the train is late", "Train at 9"]);
  const cjk = await bob.c.searchMessages("火车", { types: ["text"], senderId: "alice" });
  assert.deepEqual(cjk.messages.map((m) => m.content), ["火车晚点了"]);
  await assert.rejects(bob.c.searchMessages(`"*"`), (err: unknown) => err instanceof MagpieError && err.code === "invalid_argument");
});
