// End-to-end tests of files against a real server (magpie dev): upload,
// a message referencing the file, a download URL for the peer, refusals.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { HTTPError, MagpieError, fileIdOf, fileRef } from "../src/index.js";
import { Env, next, within } from "./env.js";

test("a photo shared in a chat: upload, reference, URL, download, delete", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  const ann = e.client("ann", "ann-web");
  const bob = e.client("bob", "bob-web");
  const cat = e.client("cat", "cat-web");
  for (const c of [ann, bob, cat]) {
    c.run();
    await next(c, "connected");
  }
  const bytes = new Uint8Array(20_000).fill(7);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const photo = new Blob([bytes], { type: "image/png" });
  const f = await within(10_000, "upload", ann.c.uploadFile(photo, { convId: "p:ann:bob", name: "beach.png" }));
  assert.equal(f.convId, "p:ann:bob");
  assert.equal(f.contentType, "image/png");
  assert.equal(f.size, bytes.length);
  assert.match(f.url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/files\/f_[0-9a-f]{32}\/content\?/);

  const content = JSON.stringify({ url: fileRef(f.id), width: 10, height: 10, size: f.size, mime: f.contentType });
  await within(10_000, "send", ann.c.send("bob", "image", content));
  const m = await next(bob, "message");
  const id = fileIdOf((JSON.parse(m.content) as { url: string }).url);
  assert.equal(id, f.id);

  const link = await within(10_000, "file URL", bob.c.fileUrl(id, 60_000));
  assert.equal(link.name, "beach.png");
  assert.ok(link.urlExpiresAtMs <= Date.now() + 61_000);
  const res = await fetch(link.url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);

  await assert.rejects(cat.c.fileUrl(id), (err: unknown) => err instanceof MagpieError && err.code === "forbidden");
  await assert.rejects(
    cat.c.uploadFile(photo, { convId: "p:ann:bob" }),
    (err: unknown) => err instanceof HTTPError && err.status === 403 && err.code === "forbidden",
  );
  await assert.rejects(
    ann.c.uploadFile(new Blob(["%PDF-1.4 a document"], { type: "image/png" }), { convId: "p:ann:bob" }),
    (err: unknown) => err instanceof HTTPError && err.status === 415 && err.code === "file_type_mismatch",
  );

  await ann.c.deleteFile(f.id);
  assert.equal((await fetch(link.url)).status, 404);
});
