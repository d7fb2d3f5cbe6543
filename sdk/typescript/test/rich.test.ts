// End-to-end tests of rich messages against a real server (magpie dev):
// typed contents, edits, recalls and reactions, both ways, and refusals.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  ErrorCode,
  MagpieError,
  MessageType,
  decodeContent,
  encodeContent,
  type ImageContent,
  type TypedContent,
} from "../src/index.js";
import { Env, next, nextMessages, nextWhere, within, type TestClient } from "./env.js";

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test("typed contents: encoded with the wire's field names, decoded back, text and custom as they are", () => {
  const img: ImageContent = { type: "image", url: "https://cdn.example/a.png", width: 2, height: 3, size: 4, mime: "image/png", thumbnailUrl: "https://cdn.example/t.png" };
  const enc = encodeContent(img);
  assert.equal(enc.type, "image");
  assert.deepEqual(JSON.parse(enc.content), { url: "https://cdn.example/a.png", width: 2, height: 3, size: 4, mime: "image/png", thumbnail_url: "https://cdn.example/t.png" });
  assert.deepEqual(decodeContent(enc), img);
  const video = encodeContent({ type: "video", url: "https://v.example/a.mp4", durationMs: 1500, size: 9, mime: "video/mp4" });
  assert.deepEqual(JSON.parse(video.content), { url: "https://v.example/a.mp4", duration_ms: 1500, size: 9, mime: "video/mp4" });
  assert.deepEqual(encodeContent({ type: "text", text: "hi" }), { type: "text", content: "hi" });
  assert.deepEqual(encodeContent({ type: "custom", data: { kind: "poll", options: [1, 2] } }), {
    type: "custom",
    content: '{"kind":"poll","options":[1,2]}',
  });
  assert.deepEqual(decodeContent({ type: "custom", content: "[1]" }), { type: "custom", data: [1] });
  // A newer sender's field survives; what is not JSON, or not a known type, decodes to nothing.
  assert.deepEqual(decodeContent({ type: "location", content: '{"latitude":1,"longitude":2,"blur":"x"}' }), {
    type: "location",
    latitude: 1,
    longitude: 2,
    blur: "x",
  });
  assert.equal(decodeContent({ type: "image", content: "not json" }), undefined);
  assert.equal(decodeContent({ type: "notice", content: "{}" }), undefined);
  assert.throws(() => encodeContent({ type: "custom", data: undefined }), TypeError);
});

test("rich messages: every typed content both ways, edit, reactions and recall seen by the other side, and refused to others", async (t) => {
  const e = await Env.start(t, "ann", "bob", "cat");
  // bob speaks JSON frames, the others binary ones.
  const [ann, bob, cat] = ["ann", "bob", "cat"].map((u) =>
    e.client(u, `${u}-phone`, "", { encoding: u === "bob" ? "json" : "proto" }),
  ) as [TestClient, TestClient, TestClient];
  for (const c of [ann, bob, cat]) c.run();
  for (const c of [ann, bob, cat]) await next(c, "connected");

  const contents: TypedContent[] = [
    { type: "text", text: "plain" },
    { type: "custom", data: { poll: "lunch?", options: ["yes", "no"] } },
    { type: "image", url: "https://cdn.example/cat.png", width: 640, height: 480, size: 12345, mime: "image/png" },
    { type: "file", url: "https://cdn.example/a.pdf", name: "a.pdf", size: 10, mime: "application/pdf" },
    { type: "audio", url: "https://cdn.example/a.ogg", durationMs: 3000, size: 11, mime: "audio/ogg" },
    { type: "video", url: "https://cdn.example/a.mp4", durationMs: 4000, width: 320, height: 240, size: 12, mime: "video/mp4" },
    { type: "location", latitude: 48.8584, longitude: 2.2945, name: "Eiffel Tower" },
  ];
  for (const c of contents) await within(10_000, `sendTyped ${c.type}`, ann.c.sendTyped("bob", c));
  const got = await nextMessages(bob, contents.length);
  assert.deepEqual(
    got.map((m) => decodeContent(m)),
    contents,
  );
  // And the other way, to a group too.
  const g = await bob.c.createGroup({ name: "Pics", memberIds: ["ann"] });
  const loc: TypedContent = { type: "location", latitude: -33.86, longitude: 151.21 };
  await bob.c.sendTypedToGroup(g.id, loc);
  const inGroup = await nextWhere(ann, "message", (m) => m.convId === g.convId && m.type !== MessageType.Notice);
  assert.deepEqual(decodeContent(inGroup), loc);
  const back = await bob.c.sendTyped("ann", { type: "image", url: "https://cdn.example/dog.png", width: 1, height: 1, size: 1, mime: "image/png" });
  assert.equal((await nextWhere(ann, "message", (m) => m.seq === back.seq && m.convId === back.convId)).type, "image");
  await rejectsWith(ann.c.sendTyped("bob", { type: "image", url: "ftp://nope", width: 1, height: 1, size: 1, mime: "image/png" }), ErrorCode.InvalidMessage);

  // Edit: ann edits her text; bob gets the new version as an edit event.
  const txt = await ann.c.sendTyped("bob", { type: "text", text: "helo" });
  await nextWhere(bob, "message", (m) => m.seq === txt.seq);
  const edited = await ann.c.editMessage(txt.convId, txt.seq, "hello");
  assert.equal(edited.content, "hello");
  assert.ok(edited.editedAt instanceof Date);
  assert.equal(edited.seq, txt.seq);
  const ed = await next(bob, "edit");
  assert.equal(ed.message.seq, txt.seq);
  assert.equal(ed.message.content, "hello");
  assert.ok(ed.message.editedAt);
  assert.deepEqual(ed.message.members, ["ann", "bob"]);
  // And bob edits his own, seen by ann.
  await bob.c.editMessage(back.convId, back.seq, "{}").then(
    () => assert.fail("editing an image succeeded"),
    (err: unknown) => assert.ok(err instanceof MagpieError && err.code === ErrorCode.InvalidMessage, String(err)),
  );
  const bobTxt = await bob.c.send("ann", "text", "typo");
  await nextWhere(ann, "message", (m) => m.seq === bobTxt.seq && m.convId === bobTxt.convId);
  await bob.c.editMessage(bobTxt.convId, bobTxt.seq, "fixed");
  assert.equal((await nextWhere(ann, "edit", (x) => x.message.seq === bobTxt.seq)).message.content, "fixed");
  // Someone else's message may not be edited.
  await rejectsWith(bob.c.editMessage(txt.convId, txt.seq, "mine now"), ErrorCode.Forbidden);
  await rejectsWith(cat.c.editMessage(txt.convId, txt.seq, "not even a member"), ErrorCode.Forbidden);

  // Reactions both ways; the actor's own device gets no event, the other side does.
  const r = await bob.c.addReaction(txt.convId, txt.seq, "❤️");
  assert.equal(r.count, 1);
  assert.equal(r.added, true);
  assert.equal(r.userId, "bob");
  const seen = await next(ann, "reaction");
  assert.deepEqual([seen.emoji, seen.count, seen.userId, seen.seq, seen.added], ["❤️", 1, "bob", txt.seq, true]);
  const r2 = await ann.c.addReaction(txt.convId, txt.seq, "❤️");
  assert.equal(r2.count, 2);
  assert.equal((await next(bob, "reaction")).count, 2);
  await rejectsWith(bob.c.addReaction(txt.convId, txt.seq, "not an emoji"), ErrorCode.InvalidArgument);
  await rejectsWith(cat.c.addReaction(txt.convId, txt.seq, "👍"), ErrorCode.Forbidden);
  const rs = await ann.c.reactions(txt.convId, [txt.seq, txt.seq - 1]);
  assert.deepEqual([...rs.entries()], [[txt.seq, [{ emoji: "❤️", count: 2, reacted: true }]]]);
  const removed = await bob.c.removeReaction(txt.convId, txt.seq, "❤️");
  assert.deepEqual([removed.count, removed.added], [1, false]);
  const gone = await next(ann, "reaction");
  assert.deepEqual([gone.count, gone.added, gone.userId], [1, false, "bob"]);

  // Recall: refused to a non-sender; the sender's recall reaches both sides.
  const img = got[2];
  await rejectsWith(bob.c.recallMessage(img.convId, img.seq), ErrorCode.Forbidden);
  await rejectsWith(ann.c.recallMessage(img.convId, 9999), ErrorCode.MessageNotFound);
  const rec = await ann.c.recallMessage(img.convId, img.seq);
  assert.equal(rec.recalled, true);
  assert.equal(rec.content, "");
  assert.deepEqual(await next(bob, "recall"), { convId: img.convId, seq: img.seq });
  assert.deepEqual(await nextWhere(ann, "recall", (x) => x.seq === img.seq), { convId: img.convId, seq: img.seq });
  // A recalled message takes no reaction and no edit.
  await rejectsWith(bob.c.addReaction(img.convId, img.seq, "👍"), ErrorCode.MessageRecalled);
  const hist = await bob.c.history(img.convId, img.seq + 1, 1);
  assert.equal(hist.messages[0].recalled, true);
});
