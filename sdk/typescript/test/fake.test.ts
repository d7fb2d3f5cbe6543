// Tests against a scripted fake server, for what a real server rarely does on
// cue: a push past a gap, a seq that does not exist, a duplicate push, slow
// acknowledgements, a silent connection, a retryable error for a send.
import { test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { CloseCode, CloseError, MagpieClient, proto, type Message } from "../src/index.js";
import { within } from "./env.js";

type Frame = proto.Frame;

/** A fake gateway for one connection at a time; handle answers the client's requests. */
class FakeServer {
  readonly wss: WebSocketServer;
  sock: WsSocket | undefined;
  readonly acks: number[] = [];
  /** When each DeliverAck arrived (Date.now()). */
  readonly ackTimes: number[] = [];
  /** Answer DeliverAck late. */
  slowAcks = false;
  /** The heartbeat interval announced at login. */
  heartbeatMs = 25000;
  /** Handles a frame instead of the defaults when it returns true. */
  intercept: ((f: Frame, conn: number) => boolean) | undefined;
  /** Logins so far; conn numbers the connections from 1. */
  logins = 0;
  private loginWaiters: [number, () => void][] = [];
  /** The highest cursor acknowledged, by conversation. */
  readonly cursors = new Map<string, number>();
  private cursorWaiters: [number, () => void][] = [];
  private ackWaiters: [number, () => void][] = [];
  readonly syncs: [number, number][] = [];
  /** The messages of p:alice:bob the server holds, by seq. */
  readonly stored = new Map<number, string>();
  private connected!: () => void;
  readonly ready = new Promise<void>((resolve) => (this.connected = resolve));

  constructor() {
    this.wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => (protocols.has("magpie.v1.proto") ? "magpie.v1.proto" : false),
    });
    this.wss.on("connection", (sock) => {
      this.sock = sock;
      const conn = this.logins + 1;
      sock.on("message", (data) => {
        const f = fromBinary(proto.FrameSchema, new Uint8Array(data as Buffer));
        if (this.intercept?.(f, conn)) return;
        this.handle(f);
      });
    });
  }

  get url(): string {
    const a = this.wss.address() as { port: number };
    return `http://127.0.0.1:${a.port}`;
  }

  write(f: Frame): void {
    this.sock!.send(toBinary(proto.FrameSchema, f));
  }

  reply(id: bigint, body: Frame["body"]): void {
    this.write(create(proto.FrameSchema, { id, body }));
  }

  push(...seqs: number[]): void {
    this.pushIn("p:alice:bob", ...seqs);
  }

  pushIn(convId: string, ...seqs: number[]): void {
    const messages = seqs.map((seq) =>
      create(proto.MessageSchema, { convId, seq: BigInt(seq), senderId: "alice", type: "text", content: `m${seq}` }),
    );
    this.write(create(proto.FrameSchema, { body: { case: "deliver", value: create(proto.DeliverSchema, { messages }) } }));
  }

  private handle(f: Frame): void {
    switch (f.body.case) {
      case "login":
        this.logins++;
        this.loginWaiters = this.loginWaiters.filter(([n, fn]) => (this.logins >= n ? (fn(), false) : true));
        this.reply(f.id, {
          case: "loginResult",
          value: create(proto.LoginResultSchema, {
            userId: "bob",
            sessionId: "ses_fake",
            heartbeatIntervalMs: BigInt(this.heartbeatMs),
            maxMessageBytes: 65536n,
          }),
        });
        return;
      case "syncConversations": {
        const conversations = [
          create(proto.ConversationStateSchema, { convId: "p:alice:bob", members: ["alice", "bob"], maxSeq: 0n }),
        ];
        this.reply(f.id, { case: "conversationPage", value: create(proto.ConversationPageSchema, { conversations }) });
        this.connected();
        return;
      }
      case "syncMessages": {
        const { fromSeq, toSeq } = f.body.value;
        this.syncs.push([Number(fromSeq), Number(toSeq)]);
        const messages = [];
        for (let seq = Number(fromSeq); seq <= Number(toSeq); seq++) {
          const content = this.stored.get(seq);
          if (content !== undefined) {
            messages.push(create(proto.MessageSchema, { convId: "p:alice:bob", seq: BigInt(seq), senderId: "alice", type: "text", content }));
          }
        }
        this.reply(f.id, { case: "messagePage", value: create(proto.MessagePageSchema, { convId: "p:alice:bob", messages }) });
        return;
      }
      case "deliverAck":
        this.ackTimes.push(Date.now());
        for (const c of f.body.value.cursors) {
          this.acks.push(Number(c.seq));
          this.cursors.set(c.convId, Math.max(this.cursors.get(c.convId) ?? 0, Number(c.seq)));
        }
        this.cursorWaiters = this.cursorWaiters.filter(([n, fn]) => (this.cursors.size >= n ? (fn(), false) : true));
        this.ackWaiters = this.ackWaiters.filter(([seq, fn]) => (this.acks.at(-1)! >= seq ? (fn(), false) : true));
        // A slow store: the client keeps reporting while acks wait for their Ok.
        if (this.slowAcks) setTimeout(() => this.reply(f.id, { case: "ok", value: create(proto.OkSchema) }), 50);
        else this.reply(f.id, { case: "ok", value: create(proto.OkSchema) });
        return;
      case "ping":
        this.reply(f.id, { case: "pong", value: create(proto.PongSchema) });
        return;
    }
  }

  /** Resolves once the client acknowledged seq or more. */
  acked(seq: number): Promise<void> {
    return new Promise((resolve) => {
      if ((this.acks.at(-1) ?? 0) >= seq) resolve();
      else this.ackWaiters.push([seq, resolve]);
    });
  }

  /** Resolves at the nth login. */
  loggedIn(n: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.logins >= n) resolve();
      else this.loginWaiters.push([n, resolve]);
    });
  }

  /** Resolves once the client acknowledged cursors in n conversations. */
  ackedConvs(n: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.cursors.size >= n) resolve();
      else this.cursorWaiters.push([n, resolve]);
    });
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

test("pushes past a gap wait for the gap to be filled; missing seqs are skipped; duplicates dropped", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  const client = new MagpieClient({
    url: srv.url,
    deviceId: "bob-phone",
    tokenProvider: () => "fake-token",
    // No WebSocket option: on Node 20 the client finds the ws package itself.
    ackDelayMs: 5,
  });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  const got: Message[] = [];
  const waiters: [number, () => void][] = [];
  client.on("message", (m) => {
    got.push(m);
    for (const [n, fn] of waiters) if (got.length >= n) fn();
  });
  const count = (n: number) =>
    within(5_000, `${n} messages`, new Promise<void>((resolve) => (got.length >= n ? resolve() : waiters.push([n, resolve]))));
  client.start();
  await within(5_000, "the resync", srv.ready);

  // Seq 3 arrives first: 1 and 2 are fetched, then 3 follows them.
  for (const seq of [1, 2, 3]) srv.stored.set(seq, `m${seq}`);
  srv.push(3);
  await count(3);
  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3]);
  assert.deepEqual(srv.syncs, [[1, 2]]);

  // Seq 6 arrives; the server has 5 but not 4 (a failed send): 4 is skipped.
  srv.stored.set(5, "m5");
  srv.stored.set(6, "m6");
  srv.push(6);
  await count(5);
  // A duplicate push of 2 and 6 changes nothing; 7 follows.
  srv.push(2, 6, 7);
  await count(6);
  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 5, 6, 7]);
  assert.deepEqual(got.map((m) => m.content), ["m1", "m2", "m3", "m5", "m6", "m7"]);
  assert.deepEqual(srv.syncs, [[1, 2], [4, 5]]);

  // Acks only ever name seqs the client reported, in order.
  await within(5_000, "the last ack", srv.acked(7));
  assert.equal(srv.acks.at(-1), 7);
  for (let i = 1; i < srv.acks.length; i++) assert.ok(srv.acks[i] > srv.acks[i - 1], `acks ${srv.acks.join()}`);
  assert.ok(srv.acks.every((seq) => [1, 2, 3, 5, 6, 7].includes(seq)), `acks ${srv.acks.join()}`);
});

test("a device receiving a stream acknowledges at most once per ackIntervalMs", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  const interval = 300;
  const client = new MagpieClient({
    url: srv.url,
    deviceId: "bob-phone",
    tokenProvider: () => "fake-token",
    ackDelayMs: 5,
    ackIntervalMs: interval,
  });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  client.start();
  await within(5_000, "the resync", srv.ready);
  for (const seq of [1, 2, 3]) {
    srv.stored.set(seq, `m${seq}`);
    srv.push(seq);
    await within(5_000, `the ack of ${seq}`, srv.acked(seq));
  }
  assert.equal(srv.ackTimes.length, 3, `acks ${srv.acks.join()}`);
  // Each report began at least interval after the one before, which the
  // server got a moment after it began.
  for (let i = 1; i < srv.ackTimes.length; i++) {
    const gap = srv.ackTimes[i] - srv.ackTimes[i - 1];
    assert.ok(gap >= interval - 50, `DeliverAck ${i + 1} came ${gap} ms after the one before`);
  }
});

test("acknowledgements of many conversations at once are batched and all arrive", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  srv.slowAcks = true;
  const client = new MagpieClient({ url: srv.url, deviceId: "bob-phone", tokenProvider: () => "fake-token", ackDelayMs: 5 });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  let n = 0;
  client.on("message", () => n++);
  client.start();
  await within(5_000, "the resync", srv.ready);
  // Conversations the client has not seen: it fetches their states, then reports their messages.
  const convs = 300;
  for (let i = 0; i < convs; i++) srv.pushIn(`g:${i}`, 1);
  await within(10_000, `acks of ${convs} conversations`, srv.ackedConvs(convs));
  assert.equal(n, convs);
  assert.ok([...srv.cursors.values()].every((seq) => seq === 1));
});

test("a connection that goes silent is dropped after a heartbeat goes unanswered, and the client reconnects", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  srv.heartbeatMs = 50;
  let pings = 0;
  srv.intercept = (f, conn) => {
    if (f.body.case !== "ping") return false;
    pings++;
    return conn === 1 && pings > 3; // the first connection answers three pings, then nothing
  };
  const client = new MagpieClient({ url: srv.url, deviceId: "bob-phone", tokenProvider: () => "fake-token", requestTimeoutMs: 300, backoffMinMs: 5, backoffMaxMs: 20 });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  const it = client.events();
  client.start();
  await within(5_000, "the second login", srv.loggedIn(2));
  assert.ok(pings > 3, `pings ${pings}`);
  const seen: string[] = [];
  for await (const ev of it) {
    seen.push(ev.type === "disconnected" ? `disconnected ${ev.value.willRetry}` : ev.type);
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, ["connected", "disconnected true", "connected"]);
});

test("a retryable error for a send is retried with the same id, in order", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  const stored = new Map<string, number>(); // client message id -> seq
  const sends: string[] = []; // "conn:content" of every Send frame
  const failed = new Set<string>();
  const ids = new Map<string, Set<string>>(); // content -> the client message ids it was sent with
  srv.intercept = (f, conn) => {
    if (f.body.case !== "send") return false;
    const send = f.body.value;
    sends.push(`${conn}:${send.content}`);
    ids.set(send.content, (ids.get(send.content) ?? new Set()).add(send.clientMsgId));
    // "a" fails once, alone in flight; "b" fails once with "c" in flight behind it, and "c" gets no answer on that connection.
    if ((send.content === "a" || send.content === "b") && !failed.has(send.content)) {
      failed.add(send.content);
      srv.reply(f.id, { case: "error", value: create(proto.ErrorSchema, { code: "unavailable", message: "try again", retryable: true }) });
      return true;
    }
    if (send.content === "c" && conn === 1) return true;
    const duplicate = stored.has(send.clientMsgId);
    if (!duplicate) stored.set(send.clientMsgId, stored.size + 1);
    srv.reply(f.id, {
      case: "sendAck",
      value: create(proto.SendAckSchema, { clientMsgId: send.clientMsgId, convId: "p:alice:bob", seq: BigInt(stored.get(send.clientMsgId)!), duplicate }),
    });
    return true;
  };
  const client = new MagpieClient({ url: srv.url, deviceId: "bob-phone", tokenProvider: () => "fake-token", backoffMinMs: 5, backoffMaxMs: 20 });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  client.start();
  const a = client.sendAsync("alice", "text", "a");
  assert.equal((await within(5_000, "a", a.result)).seq, 1);
  const b = client.sendAsync("alice", "text", "b");
  const c = client.sendAsync("alice", "text", "c");
  const [rb, rc] = await within(5_000, "b and c", Promise.all([b.result, c.result]));
  assert.deepEqual([rb.seq, rc.seq], [2, 3]);
  assert.equal(srv.logins, 2, "the error with c in flight behind b ends the connection");
  assert.deepEqual(sends, ["1:a", "1:a", "1:b", "1:c", "2:b", "2:c"]);
  assert.deepEqual([...ids.values()].map((set) => set.size), [1, 1, 1], "every retransmission keeps its id");
  assert.deepEqual([a.clientMsgId, b.clientMsgId, c.clientMsgId], [...ids.values()].map((set) => [...set][0]));
});

test("a group's sends have a queue of their own, apart from a user's of the same name, and carry the group id and mentions", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  const sends: proto.Send[] = [];
  const held: Frame[] = [];
  const seqs = new Map<string, number>(); // conversation -> last seq
  const ack = (f: Frame) => {
    if (f.body.case !== "send") return;
    const send = f.body.value;
    const convId = send.toGroupId ? `g:${send.toGroupId}` : `p:bob:${send.toUserId}`;
    const seq = (seqs.get(convId) ?? 0) + 1;
    seqs.set(convId, seq);
    srv.reply(f.id, { case: "sendAck", value: create(proto.SendAckSchema, { clientMsgId: send.clientMsgId, convId, seq: BigInt(seq) }) });
  };
  srv.intercept = (f) => {
    if (f.body.case !== "send") return false;
    sends.push(f.body.value);
    // No answer until the heads of both queues are in flight: one queue would send one at a time.
    if (held.length < 2) {
      held.push(f);
      if (held.length === 2) for (const h of held) ack(h);
      return true;
    }
    ack(f);
    return true;
  };
  const client = new MagpieClient({ url: srv.url, deviceId: "bob-phone", tokenProvider: () => "fake-token", sendWindow: 1 });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  const own: Message[] = [];
  client.on("message", (m) => own.push(m));
  client.start();
  await within(5_000, "the resync", srv.ready);
  const outs = [
    client.sendAsync("crew", "text", "u1"),
    client.sendToGroupAsync("crew", "text", "g1", { mentions: ["alice"] }),
    client.sendAsync("crew", "text", "u2"),
    client.sendToGroupAsync("crew", "text", "g2", { mentionAll: true }),
  ];
  const res = await within(5_000, "the sends", Promise.all(outs.map((o) => o.result)));
  assert.deepEqual(res.map((r) => `${r.convId} ${r.seq}`), ["p:bob:crew 1", "g:crew 1", "p:bob:crew 2", "g:crew 2"]);
  assert.deepEqual(
    sends.slice(0, 2).map((s) => [s.content, s.toUserId, s.toGroupId, s.mentions, s.mentionAll]),
    [
      ["u1", "crew", "", [], false],
      ["g1", "", "crew", ["alice"], false],
    ],
  );
  assert.deepEqual(sends.map((s) => s.content).sort(), ["g1", "g2", "u1", "u2"]);
  assert.deepEqual(sends.find((s) => s.content === "g2")!.mentionAll, true);
  // The client reports its own acknowledged messages, the group's with their mentions.
  const groupMsgs = own.filter((m) => m.convId === "g:crew");
  assert.deepEqual(groupMsgs.map((m) => [m.seq, m.content, m.groupId, m.mentions, m.mentionAll, m.own, m.members]), [
    [1, "g1", "crew", ["alice"], false, true, []],
    [2, "g2", "crew", [], true, true, []],
  ]);
  assert.deepEqual(own.filter((m) => m.convId === "p:bob:crew").map((m) => [m.content, m.groupId, m.members]), [
    ["u1", "", ["bob", "crew"]],
    ["u2", "", ["bob", "crew"]],
  ]);
});

test("an overload refusal with a retry hint goes back to the refused send on the same connection", async (t) => {
  const srv = new FakeServer();
  await new Promise<void>((resolve) => srv.wss.once("listening", resolve));
  const stored = new Map<string, number>(); // client message id -> seq
  let goBack = ""; // the refused client message id, as the server keeps it
  let refusals = 0;
  srv.intercept = (f) => {
    if (f.body.case !== "send") return false;
    const send = f.body.value;
    const refuse = () => {
      refusals++;
      srv.reply(f.id, { case: "error", value: create(proto.ErrorSchema, { code: "unavailable", message: "overloaded", retryable: true, retryAfterMs: 20 }) });
      return true;
    };
    if (goBack !== "" && send.clientMsgId !== goBack) return refuse();
    if (goBack !== "") goBack = "";
    else if (send.content === "2" && refusals === 0) {
      goBack = send.clientMsgId;
      return refuse();
    }
    const duplicate = stored.has(send.clientMsgId);
    if (!duplicate) stored.set(send.clientMsgId, stored.size + 1);
    srv.reply(f.id, {
      case: "sendAck",
      value: create(proto.SendAckSchema, { clientMsgId: send.clientMsgId, convId: "p:alice:bob", seq: BigInt(stored.get(send.clientMsgId)!), duplicate }),
    });
    return true;
  };
  const client = new MagpieClient({ url: srv.url, deviceId: "bob-phone", tokenProvider: () => "fake-token", backoffMinMs: 5, backoffMaxMs: 20 });
  t.after(async () => {
    await client.close();
    await srv.close();
  });
  client.start();
  const sends = ["1", "2", "3", "4", "5"].map((c) => client.sendAsync("alice", "text", c));
  const results = await within(5_000, "the five sends", Promise.all(sends.map((s) => s.result)));
  assert.deepEqual(
    results.map((r) => [r.seq, r.duplicate]),
    [1, 2, 3, 4, 5].map((n) => [n, false]),
  );
  assert.equal(srv.logins, 1, "the connection is kept");
  assert.ok(refusals > 0 && goBack === "", `refusals ${refusals}, waiting for ${goBack}`);
});

/**
 * A scripted socket in place of the platform's WebSocket: it answers the
 * client's requests like FakeServer, and at the second login it pushes a
 * message in the same turn of the event loop as the login's answer, as a
 * real socket does when both arrive in one read (the server writes what it
 * has for a new session at once).
 */
class BurstSocket {
  static sockets: BurstSocket[] = [];
  protocol = "";
  readyState = 0;
  binaryType = "arraybuffer";
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly n: number;

  constructor(_url: string, protocols?: string | string[]) {
    BurstSocket.sockets.push(this);
    this.n = BurstSocket.sockets.length;
    setTimeout(() => {
      this.protocol = ([] as string[]).concat(protocols ?? [])[0] ?? "";
      this.readyState = 1;
      this.onopen?.({});
    }, 0);
  }

  private deliver(id: bigint, body: Frame["body"]): void {
    this.onmessage?.({ data: toBinary(proto.FrameSchema, create(proto.FrameSchema, { id, body })) });
  }

  push(seq: number): void {
    const messages = [create(proto.MessageSchema, { convId: "p:alice:bob", seq: BigInt(seq), senderId: "alice", type: "text", content: `m${seq}` })];
    this.deliver(0n, { case: "deliver", value: create(proto.DeliverSchema, { messages }) });
  }

  send(data: string | Uint8Array): void {
    const f = fromBinary(proto.FrameSchema, data as Uint8Array);
    switch (f.body.case) {
      case "login":
        this.deliver(f.id, {
          case: "loginResult",
          value: create(proto.LoginResultSchema, { userId: "bob", sessionId: `ses_${this.n}`, heartbeatIntervalMs: 25000n, maxMessageBytes: 65536n }),
        });
        if (this.n === 2) this.push(2); // in the same turn: no microtask runs in between
        return;
      case "syncConversations": {
        const conversations = [
          create(proto.ConversationStateSchema, { convId: "p:alice:bob", members: ["alice", "bob"], maxSeq: BigInt(this.n - 1) }),
        ];
        setTimeout(() => this.deliver(f.id, { case: "conversationPage", value: create(proto.ConversationPageSchema, { conversations }) }), 0);
        return;
      }
      default:
        setTimeout(() => this.deliver(f.id, { case: "ok", value: create(proto.OkSchema) }), 0);
    }
  }

  /** Delivers the server's Close frame and leaves the socket closing, its close event not yet fired. */
  announceClose(code: number, reason: string): void {
    this.deliver(0n, { case: "close", value: create(proto.CloseSchema, { code, reason }) });
    this.readyState = 2;
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** A client of bob's on BurstSockets (the list emptied), closed after the test. */
function burstClient(t: TestContext): MagpieClient {
  BurstSocket.sockets = [];
  const client = new MagpieClient({
    url: "http://127.0.0.1:1",
    deviceId: "bob-phone",
    tokenProvider: () => "fake-token",
    WebSocket: BurstSocket,
    backoffMinMs: 5,
    backoffMaxMs: 20,
  });
  t.after(() => client.close());
  return client;
}

test("a push that comes with the login's answer is reported after the connected event", async (t) => {
  const client = burstClient(t);
  const events: string[] = [];
  let done!: () => void;
  const second = new Promise<void>((resolve) => (done = resolve));
  client.on("connected", (c) => events.push(`connected ${c.session.sessionId}`));
  client.on("message", (m) => {
    events.push(`message ${m.seq}`);
    if (m.seq === 2) done();
  });
  const firstMessage = new Promise<void>((resolve) => client.on("message", () => resolve()));
  client.start();
  // The first session learns the conversation, gets seq 1 and ends.
  await within(10_000, "the first session", new Promise<void>((resolve) => client.on("connected", () => resolve())));
  const [first] = BurstSocket.sockets;
  assert.ok(first);
  first.push(1);
  await within(10_000, "seq 1", firstMessage);
  first.close(1011, "going away");
  await within(10_000, "seq 2 on the second session", second);
  assert.deepEqual(events, ["connected ses_1", "message 1", "connected ses_2", "message 2"]);
});

test("a send on a socket closing after the server's Close frame reports the server's close code", async (t) => {
  const client = burstClient(t);
  const connected = new Promise<void>((resolve) => client.on("connected", () => resolve()));
  const disconnected = new Promise<{ error: unknown; willRetry: boolean }>((resolve) => client.on("disconnected", (d) => resolve(d)));
  client.start();
  await within(10_000, "the session", connected);
  const [sock] = BurstSocket.sockets;
  assert.ok(sock);
  // The server shuts down: its Close frame arrives, then, before the
  // socket's close event, the app sends.
  sock.announceClose(CloseCode.ServerShutdown, "server shutting down");
  void client.sendAsync("alice", "text", "during").result.catch(() => undefined);
  const d = await within(10_000, "the disconnected event", disconnected);
  assert.ok(d.error instanceof CloseError && d.error.code === CloseCode.ServerShutdown, String(d.error));
  assert.ok(d.willRetry);
});
