// Tests that need no server: request signing against the shared vectors,
// the documented client token, the codecs.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { canonicalQuery, mintToken, sign, stringToSign } from "./signing.js";
import { repoRoot } from "./env.js";
import { decodeFrame, encodeFrame } from "../src/codec.js";
import { newClientMsgId, randomHex } from "../src/ids.js";
import { connectURL, proto } from "../src/index.js";

interface Vector {
  note: string;
  method: string;
  request_target: string;
  body: string;
  timestamp: string;
  nonce: string;
  canonical_query: string;
  string_to_sign: string;
  signature: string;
}

test("request signing matches testdata/request-signing.json", () => {
  const file = JSON.parse(readFileSync(path.join(repoRoot, "testdata/request-signing.json"), "utf8")) as {
    app_secret: string;
    cases: Vector[];
  };
  assert.ok(file.cases.length >= 5);
  for (const v of file.cases) {
    const q = v.request_target.indexOf("?");
    assert.equal(canonicalQuery(q < 0 ? "" : v.request_target.slice(q + 1)), v.canonical_query, v.note);
    const sts = stringToSign(v.method, v.request_target, v.body, v.timestamp, v.nonce);
    assert.equal(sts, v.string_to_sign, v.note);
    assert.equal(sign(file.app_secret, sts), v.signature, v.note);
  }
});

test("canonical query of a canonical query is itself", () => {
  for (const q of ["a=1&b=2&cursor=YWJj%3D%3D&limit=20", "q=hello%20world&tag=a&tag=b", ""]) {
    assert.equal(canonicalQuery(q), q);
  }
  assert.equal(canonicalQuery("flag&&b=2"), "b=2&flag=");
  assert.throws(() => canonicalQuery("a=%zz"));
});

test("client token minting matches the documented example", () => {
  const tok = mintToken("msk_2f9c1e7a5b3d4c6e8f0a1b2c3d4e5f60", {
    iss: "mk_5f2e8c1a9b3d7e4f6a0c",
    sub: "alice",
    aud: "magpie",
    iat: 1767225600,
    exp: 1767229200,
    jti: "0123456789abcdef0123456789abcdef",
  });
  assert.equal(
    tok,
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJta181ZjJlOGMxYTliM2Q3ZTRmNmEwYyIsInN1YiI6ImFsaWNlIiwiYXVkIjoibWFncGllIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjkyMDAsImp0aSI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIn0.ZN5JIQ_R_hr6CKLJF0O4YnzLmMv2kF8QnkmKEzxnLAg",
  );
});

test("concatenated Deliver pushes decode as one Deliver with every message in order", () => {
  const push = (seq: number) =>
    toBinary(
      proto.FrameSchema,
      create(proto.FrameSchema, {
        body: {
          case: "deliver",
          value: create(proto.DeliverSchema, {
            messages: [create(proto.MessageSchema, { convId: "p:a:b", seq: BigInt(seq), content: `m${seq}` })],
          }),
        },
      }),
    );
  const parts = [push(1), push(2), push(3)];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const f = decodeFrame("proto", all.buffer);
  assert.equal(f.body.case, "deliver");
  assert.deepEqual(
    f.body.case === "deliver" ? f.body.value.messages.map((m) => m.content) : [],
    ["m1", "m2", "m3"],
  );
});

test("JSON frames use the proto field names, 64-bit ints as strings, and ignore unknown fields", () => {
  const f = create(proto.FrameSchema, {
    id: 2n,
    body: { case: "send", value: create(proto.SendSchema, { clientMsgId: "6f1e2a", toUserId: "bob", type: "text", content: "hi" }) },
  });
  const text = encodeFrame("json", f) as string;
  assert.deepEqual(JSON.parse(text), { id: "2", send: { client_msg_id: "6f1e2a", to_user_id: "bob", type: "text", content: "hi" } });
  const ack = decodeFrame(
    "json",
    '{"id":"2","send_ack":{"client_msg_id":"6f1e2a","conv_id":"p:alice:bob","seq":"6","server_time_ms":"1767225601000","future_field":1}}',
  );
  assert.equal(ack.body.case, "sendAck");
  assert.equal(ack.body.case === "sendAck" ? ack.body.value.seq : 0n, 6n);
  const receipt = decodeFrame("json", '{"receipt":{"kind":"KIND_DELIVERED","conv_id":"p:alice:bob","seq":"7","user_id":"bob"}}');
  assert.equal(receipt.body.case === "receipt" ? receipt.body.value.kind : -1, proto.Receipt_Kind.DELIVERED);
});

test("connect URL", () => {
  assert.equal(connectURL("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/v1/connect");
  assert.equal(connectURL("https://im.example.com/base/"), "wss://im.example.com/base/v1/connect");
  assert.equal(connectURL("wss://im.example.com/v1/connect"), "wss://im.example.com/v1/connect");
  assert.throws(() => connectURL("ftp://x"));
});

test("client message ids grow with time", () => {
  const start = 1_767_225_600_000;
  const seen = new Set<string>();
  let prev = "";
  for (let i = 0; i < 2000; i++) {
    const at = start + Math.floor(i / 4); // four per millisecond
    const id = newClientMsgId(at);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.ok(!seen.has(id), `id ${id} made twice`);
    seen.add(id);
    if (i % 4 === 0) assert.ok(id > prev, `id ${id} at ${at} sorts before ${prev}, made a millisecond earlier`);
    prev = id;
  }
  assert.equal(newClientMsgId(start).slice(0, 12), "019b76daa800"); // 1,767,225,600,000 ms in hex
  const before = newClientMsgId(Date.now() - 1);
  assert.ok(newClientMsgId() > before);
  assert.match(randomHex(10), /^[0-9a-f]{20}$/);
  assert.notEqual(randomHex(10), randomHex(10));
});
