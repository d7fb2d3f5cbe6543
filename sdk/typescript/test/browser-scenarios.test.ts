// The core scenarios of e2e.test.ts and chaos.test.ts with the SDK running
// in headless Chromium on the browser's own WebSocket: one browser for the
// file, a page per client (reloaded and reused across tests), each page
// driven with page.evaluate (browser-page.ts). The server, its restarts,
// token revocations and the proxy that cuts connections stay in Node. Every
// scenario checks the complete list of messages each page reported: all of
// them, once, in seq order; and at its end World checks again what each
// page reported by then, late messages included (no repeat, no gap).
import { after, before, test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import type { Server as HTTPServer } from "node:http";
import type { Browser } from "playwright-core";
import { CloseCode } from "../src/index.js";
import { assertReady, launchChromium, lines, Pages, serveSDK, skipReason, World } from "./browser-env.js";
import { mintToken } from "./signing.js";

let browser: Browser | undefined;
let sdk: HTTPServer | undefined;
let pages: Pages | undefined;

before(async () => {
  if (skipReason !== false) return;
  try {
    assertReady();
  } catch {
    return; // each test fails on it
  }
  sdk = await serveSDK();
  browser = await launchChromium();
  pages = await Pages.open(browser, sdk);
});

after(async () => {
  await pages?.close();
  await browser?.close();
  sdk?.close();
});

/** Starts a test's world with users; fails if Chromium or the build is missing. */
function world(t: TestContext, ...users: string[]): Promise<World> {
  assertReady();
  assert.ok(pages, "Chromium did not start");
  return World.start(t, pages, ...users);
}

const opts = { skip: skipReason };

for (const encoding of ["proto", "json"] as const) {
  test(`browser: chat both ways in order (${encoding})`, opts, async (t) => {
    const w = await world(t, "alice", "bob");
    const alice = await w.running("alice", "alice-browser", { encoding });
    const bob = await w.running("bob", "bob-browser", { encoding });
    await alice.next("connected");
    await bob.next("connected");

    // Both send at once, without waiting for their acks.
    const [toBob, toAlice] = await Promise.all([
      alice.sendAsync("bob", ...[0, 1, 2, 3, 4].map((i) => `to bob #${i}`)),
      bob.sendAsync("alice", ...[0, 1, 2, 3, 4].map((i) => `to alice #${i}`)),
    ]);
    for (const outs of await Promise.all([alice.outcomes(toBob), bob.outcomes(toAlice)])) {
      for (const o of outs) assert.ok("ok" in o, `a send failed: ${JSON.stringify(o)}`);
    }
    const fromAlice = await alice.messages(10);
    const fromBob = await bob.messages(10);
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
    assert.equal(fromBob.filter((m) => m.own).length, 5);
  });
}

test("browser: an offline recipient gets everything once, then the next message", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const alice = await w.running("alice", "alice-browser");
  const n = 30;
  for (let i = 1; i <= n; i++) await alice.send("bob", String(i));
  await alice.receiptFrom("stored", "bob", 1);

  const bob = await w.running("bob", "bob-browser");
  const msgs = await bob.messages(n);
  assert.equal(msgs.length, n);
  msgs.forEach((m, i) => {
    assert.equal(m.seq, i + 1);
    assert.equal(m.content, String(i + 1));
    assert.equal(m.own, false);
  });
  await alice.send("bob", "last");
  const all = await bob.messages(n + 1);
  assert.deepEqual(lines(all.slice(n)), [`${n + 1} alice last`]);
  assert.equal(all.length, n + 1);
  await alice.receiptFrom("delivered", "bob", n + 1);
});

test("browser: a resend with the same client message id is stored once", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const alice = await w.running("alice", "alice-browser");
  const bob = await w.running("bob", "bob-browser");
  const first = await alice.send("bob", "once", "fixed-id-1");
  const again = await alice.send("bob", "once", "fixed-id-1");
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, first.seq);
  assert.equal(again.convId, first.convId);
  await alice.send("bob", "next");
  const want = ["1 alice once", "2 alice next"];
  assert.deepEqual(lines(await alice.messages(2)), want);
  assert.deepEqual(lines(await bob.messages(2)), want);
});

test("browser: a connection cut mid-send still delivers everything once, in order", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const p = await w.env.proxy();
  const alice = await w.running("alice", "alice-browser", { url: p.url });
  const bob = await w.running("bob", "bob-browser");
  await alice.next("connected");
  await bob.next("connected");

  // The server stores the messages (all five are in flight at once) but
  // their acks never reach the browser; then the connection breaks.
  p.setBlackhole(true);
  const ids = await alice.sendAsync("bob", "1", "2", "3", "4", "5");
  assert.deepEqual(lines(await bob.messages(1)).slice(0, 1), ["1 alice 1"]);
  p.setBlackhole(false);
  p.sever();
  const d = await alice.next("disconnected");
  assert.equal(d.willRetry, true);

  const outs = await alice.outcomes(ids);
  outs.forEach((o, i) => {
    assert.ok("ok" in o, `send ${i + 1} failed: ${JSON.stringify(o)}`);
    assert.equal(o.ok.seq, i + 1, `send ${i + 1}`);
    assert.equal(o.ok.clientMsgId, ids[i]);
  });
  assert.ok("ok" in outs[0] && outs[0].ok.duplicate, "the first send was stored before the cut: a duplicate");
  await alice.send("bob", "end");
  const want = ["1 alice 1", "2 alice 2", "3 alice 3", "4 alice 4", "5 alice 5", "6 alice end"];
  assert.deepEqual(lines(await bob.messages(6)), want);
  const own = await alice.messages(6);
  assert.deepEqual(lines(own), want);
  assert.ok(own.every((m) => m.own));
});

test("browser: a server restart between send and delivery loses nothing", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const p = await w.env.proxy();
  const alice = await w.running("alice", "alice-browser");
  const bob = await w.running("bob", "bob-browser", { url: p.url });
  await alice.next("connected");
  await bob.next("connected");

  p.setDown(true); // bob is cut off, and keeps trying to reconnect
  await bob.next("disconnected");
  await alice.send("bob", "before"); // durable once acknowledged
  let during: string[] = [];
  await w.server.restart(async () => {
    during = await alice.sendAsync("bob", "during");
  });
  const d = await alice.next("disconnected");
  assert.ok(d.willRetry);
  assert.equal(d.error.name, "CloseError");
  assert.equal(d.error.code, CloseCode.ServerShutdown);
  const [res] = await alice.outcomes(during);
  assert.ok(res && "ok" in res, `the send during the restart: ${JSON.stringify(res)}`);
  assert.equal(res.ok.seq, 2);
  p.setDown(false);
  assert.deepEqual(lines(await bob.messages(2, 15_000)), ["1 alice before", "2 alice during"]);
  await alice.receiptFrom("delivered", "bob", 2);
  assert.deepEqual(lines(await alice.messages(2)), ["1 alice before", "2 alice during"]);
});

test("browser: two devices of one user see the same timeline, own messages included", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const phone = await w.running("alice", "alice-phone");
  const laptop = await w.running("alice", "alice-laptop");
  const bob = await w.running("bob", "bob-browser");
  for (const c of [phone, laptop, bob]) await c.next("connected");
  const steps = [
    [phone, "bob", "x1"],
    [bob, "alice", "y1"],
    [laptop, "bob", "x2"],
    [phone, "bob", "x3"],
  ] as const;
  for (const [from, to, text] of steps) await from.send(to, text);
  const want = ["1 alice x1", "2 bob y1", "3 alice x2", "4 alice x3"];
  for (const [name, c, me] of [
    ["phone", phone, "alice"],
    ["laptop", laptop, "alice"],
    ["bob", bob, "bob"],
  ] as const) {
    const msgs = await c.messages(want.length);
    assert.deepEqual(lines(msgs), want, name);
    for (const m of msgs) {
      assert.equal(m.own, m.senderId === me, `${name}: own of ${m.seq}`);
      assert.deepEqual(m.members, ["alice", "bob"], `${name}: members of ${m.seq}`);
    }
  }
});

test("browser: read receipts reach the peer and the reader's other devices", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const alice = await w.running("alice", "alice-browser");
  const bobPhone = await w.running("bob", "bob-phone");
  const bobLaptop = await w.running("bob", "bob-laptop");
  for (const c of [alice, bobPhone, bobLaptop]) await c.next("connected");
  for (let i = 0; i < 3; i++) await alice.send("bob", String(i));
  const want = ["1 alice 0", "2 alice 1", "3 alice 2"];
  const msgs = await bobPhone.messages(3);
  assert.deepEqual(lines(msgs), want);
  await alice.receiptFrom("delivered", "bob", 3);

  await bobPhone.call("markRead", msgs[2].convId, msgs[2].seq);
  const r = await alice.receiptFrom("read", "bob", 3);
  assert.equal(r.convId, "p:alice:bob");
  assert.equal(typeof r.at, "number");
  await bobLaptop.receiptFrom("read", "bob", 3);
  assert.deepEqual(await alice.call("conversations"), [{ convId: "p:alice:bob", maxSeq: 3, peerReadSeq: 3 }]);
  assert.deepEqual(lines(await bobLaptop.messages(3)), want);
  assert.deepEqual(lines(await alice.messages(3)), want);
});

test("browser: a revoked token ends run until a fresh token", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const alice = await w.running("alice", "alice-browser");
  const bob = await w.running("bob", "bob-browser");
  await bob.next("connected");
  await w.server.api.revokeTokens("bob");
  const err = await bob.done();
  assert.equal(err?.name, "CloseError", `run ended with ${JSON.stringify(err)}`);
  assert.equal(err.code, CloseCode.TokenRevoked);
  const d = await bob.next("disconnected");
  assert.equal(d.willRetry, false);

  // Sent while bob is out; the token provider issues a token dated after
  // the revocation, so a new run connects and catches up.
  await alice.send("bob", "welcome back");
  await bob.run();
  await bob.next("connected");
  assert.deepEqual(lines(await bob.messages(1)), ["1 alice welcome back"]);
  await bob.call("close");
  assert.equal(await bob.done(), null);
  assert.deepEqual(lines(await bob.messages(1)), ["1 alice welcome back"]);
});

test("browser: expired tokens, refused at login (4101) and ended in session (4006), get fresh ones", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  const { key, secret } = w.server;
  const alice = await w.running("alice", "alice-browser");
  const bob = await w.client("bob", "bob-browser");
  let calls = 0;
  bob.tokens = () => {
    calls++;
    const t0 = Math.floor(Date.now() / 1000);
    if (calls === 1) return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0 - 20, exp: t0 - 10 });
    if (calls === 2) return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0, exp: t0 + 2 });
    return mintToken(secret, { iss: key, sub: "bob", aud: "magpie", iat: t0, exp: t0 + 3600 });
  };
  await bob.run();
  const d1 = await bob.next("disconnected");
  assert.equal(d1.error.code, CloseCode.TokenExpired, JSON.stringify(d1.error));
  assert.equal(d1.willRetry, true);
  await bob.next("connected");
  await alice.send("bob", "one");
  assert.deepEqual(lines(await bob.messages(1)), ["1 alice one"]);
  const d2 = await bob.next("disconnected", 15_000);
  assert.equal(d2.error.code, CloseCode.Reauthenticate, JSON.stringify(d2.error));
  assert.equal(d2.willRetry, true);
  await alice.send("bob", "two");
  await bob.next("connected");
  assert.deepEqual(lines(await bob.messages(2)), ["1 alice one", "2 alice two"]);
  assert.equal(calls, 3);
});

test("browser: a burst of 1,000 pipelined sends arrives complete and in order", opts, async (t) => {
  const w = await world(t, "alice", "bob");
  await w.server.setSendLimit(5000, 5000);
  const alice = await w.running("alice", "alice-browser");
  const bob = await w.running("bob", "bob-browser");
  await alice.next("connected");
  await bob.next("connected");
  const n = 1000;
  const ids = await alice.sendAsync("bob", ...Array.from({ length: n }, (_, i) => `burst ${i + 1}`));
  const outs = await alice.outcomes(ids, 60_000);
  outs.forEach((o, i) => assert.ok("ok" in o && o.ok.seq === i + 1, `send ${i + 1}: ${JSON.stringify(o)}`));
  const got = await bob.messages(n, 60_000);
  assert.equal(got.length, n);
  got.forEach((m, i) => {
    assert.equal(m.seq, i + 1);
    assert.equal(m.content, `burst ${i + 1}`);
  });
  await alice.receiptFrom("delivered", "bob", n, 15_000);
  const own = await alice.messages(n);
  assert.equal(own.length, n);
  own.forEach((m, i) => assert.ok(m.own && m.seq === i + 1 && m.content === `burst ${i + 1}`, `own message ${i + 1}`));
});
