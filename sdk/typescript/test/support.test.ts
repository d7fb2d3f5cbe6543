// End-to-end tests of customer service against a real server (magpie dev):
// a visitor opens a session that goes to an agent, the two talk, either
// closes it, the visitor rates it; refusals for others' sessions.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ErrorCode, MagpieError, SupportState } from "../src/index.js";
import { Env, next, nextWhere, within, type TestClient } from "./env.js";

/** Asserts that p rejects with a MagpieError of code. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(within(10_000, code, p), (err: unknown) => {
    assert.ok(err instanceof MagpieError, `${String(err)} is not a MagpieError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/**
 * The `support` object of the next support notice of event in the user's
 * system conversation (the visitor and the agent each get their own copy).
 */
async function supportNotice(tc: TestClient, user: string, event: string): Promise<Record<string, unknown>> {
  const m = await nextWhere(tc, "message", (x) => x.convId === `s:${user}` && x.content.includes(`"${event}"`));
  assert.equal(m.type, "custom");
  return (JSON.parse(m.content) as { support: Record<string, unknown> }).support;
}

test("customer service: open, talk both ways, close by the agent or the visitor, rate; others refused", async (t) => {
  const e = await Env.start(t, "ann", "vic", "wes", "eve");
  const [ann, vic, wes, eve] = ["ann", "vic", "wes", "eve"].map((u) => e.client(u, `${u}-phone`)) as [
    TestClient,
    TestClient,
    TestClient,
    TestClient,
  ];
  for (const c of [ann, vic, wes, eve]) c.run();
  for (const c of [ann, vic, wes, eve]) await next(c, "connected");
  await e.server.api.call("PUT", "/v1/support/agents/ann", { skills: ["billing"], capacity: 1, available: true });

  const s = await vic.c.openSupportSession("billing");
  assert.deepEqual([s.visitorId, s.skill, s.agentId, s.state, s.rating], ["vic", "billing", "ann", SupportState.Active, 0]);
  assert.ok(s.id);
  assert.ok(s.assignedAt instanceof Date);
  assert.equal(s.closedAt, undefined);
  assert.equal((await supportNotice(vic, "vic", "assigned")).session_id, s.id);
  assert.equal((await supportNotice(ann, "ann", "assigned")).session_id, s.id);
  // Opened again (as after a lost reply): the same session.
  assert.equal((await vic.c.openSupportSession("billing")).id, s.id);

  // The agent is full: the next visitor waits.
  const w = await wes.c.openSupportSession("billing");
  assert.deepEqual([w.state, w.agentId, w.assignedAt], [SupportState.Waiting, "", undefined]);
  assert.equal((await supportNotice(wes, "wes", "queued")).position, 1);

  // The two talk over their one-to-one conversation, both ways.
  await ann.c.send("vic", "text", "How can I help?");
  assert.equal((await nextWhere(vic, "message", (m) => m.senderId === "ann")).content, "How can I help?");
  await vic.c.send("ann", "text", "My bill");
  assert.equal((await nextWhere(ann, "message", (m) => m.senderId === "vic")).content, "My bill");

  // Others may not touch it; an open session is not rated.
  await rejectsWith(eve.c.closeSupportSession(s.id), ErrorCode.NotFound);
  await rejectsWith(eve.c.rateSupportSession(s.id, 5), ErrorCode.NotFound);
  await rejectsWith(ann.c.rateSupportSession(s.id, 5), ErrorCode.NotFound); // the agent does not rate
  await rejectsWith(vic.c.rateSupportSession(s.id, 5), ErrorCode.Conflict);

  // The agent closes it; the waiting visitor gets the agent; the visitor rates, once.
  const closed = await ann.c.closeSupportSession(s.id);
  assert.equal(closed.state, SupportState.Closed);
  assert.ok(closed.closedAt instanceof Date);
  assert.equal((await supportNotice(vic, "vic", "closed")).session_id, s.id);
  assert.equal((await supportNotice(ann, "ann", "closed")).session_id, s.id);
  assert.equal((await supportNotice(wes, "wes", "assigned")).agent_id, "ann");
  await rejectsWith(vic.c.rateSupportSession(s.id, 6), ErrorCode.InvalidArgument);
  const rated = await vic.c.rateSupportSession(s.id, 5, "quick and kind");
  assert.equal(rated.rating, 5);
  await rejectsWith(vic.c.rateSupportSession(s.id, 4), ErrorCode.Conflict);

  // The visitor closes its own.
  const wClosed = await wes.c.closeSupportSession(w.id);
  assert.deepEqual([wClosed.state, wClosed.agentId], [SupportState.Closed, "ann"]);
  assert.equal((await supportNotice(wes, "wes", "closed")).session_id, w.id);
});
