// The console's message search, Customer service and Chat rooms pages in
// headless Chromium against a real `magpie dev`: a user's messages found by
// keyword, in one conversation, a page at a time, and the API's error shown
// with its request id; agents added in the console, one online through a
// real WebSocket session, the queue and the open sessions as the router
// left them, a waiting visitor assigned and a session closed; rooms with
// their live member counts, one closed while a member's session sees it
// close. A viewer sees no write action and the API refuses them; a member
// of another tenant sees nothing; every page of the console loads in under
// a second and asks nothing of another origin. Screenshots go to the
// artifacts directory. Without Chromium the test is skipped, except in CI
// (CI=true), where it fails.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { artifacts, chromiumArgs, ensureDir, fastestLoad, findChromium, lowContrast, manageClient, serverClient, startMagpie, within } from "./env.mjs";

const exe = findChromium();
const inCI = process.env.CI === "true";

test("the console's search, customer service and chat rooms", { skip: exe || inCI ? false : "no Chromium found", timeout: 110_000 }, async (t) => {
  assert.ok(exe, "CI=true: no Chromium found (install Debian's chromium, or set MAGPIE_TEST_CHROMIUM)");
  const shots = ensureDir(artifacts);
  const srv = await startMagpie();
  t.after(() => srv.stop());
  const base = srv.api_url;
  const appId = srv.app_id;
  const op = await manageClient(base).login(srv.operator_email, srv.operator_password);
  const { body: tenants } = await op.call("GET", "/tenants");
  const tenant = tenants.tenants[0];
  const server = serverClient(base, srv.app_key, srv.app_secret);
  const must = async (what, p, status) => {
    const r = await p;
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  for (const id of ["ann", "bob", "carol", "v1", "v2"]) await must(`create ${id}`, server("POST", "/v1/users", { id, name: id }), 201);
  const send = (from, to, content) => must("send", server("POST", "/v1/messages", { from_user_id: from, to_user_id: to, type: "text", content }), 201);
  for (let i = 1; i <= 25; i++) await send("carol", "ann", `parcel ${i} is on its way`);
  const { message: annBob } = await send("bob", "ann", "the parcel came, thanks");
  await send("bob", "carol", "a parcel ann must never see");
  for (const id of ["lobby", "launch"]) await must(`create room ${id}`, server("POST", "/v1/rooms", { id, name: `Room ${id}` }), 201);
  const viewer = { email: "viewer@service.test", password: "viewer password 1" };
  await must("add the viewer", op.call("POST", `/tenants/${tenant.id}/members`, { ...viewer, role: "viewer" }), 201);

  const browser = await within(30_000, "Chromium to start", chromium.launch({ executablePath: exe, args: chromiumArgs }));
  t.after(() => browser.close());
  const problems = [];
  const wsBase = base.replace(/^http/, "ws") + "/";
  async function newTab(who) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const tab = await ctx.newPage();
    tab.setDefaultTimeout(10_000);
    tab.on("pageerror", (err) => problems.push(`${who}: page error: ${err}`));
    tab.on("console", (msg) => msg.type() === "error" && !/status of (4\d\d)/.test(msg.text()) && problems.push(`${who}: console: ${msg.text()}`));
    tab.on("request", (req) => !req.url().startsWith(base + "/") && !req.url().startsWith(wsBase) && problems.push(`${who}: request to another origin: ${req.url()}`));
    tab.on("websocket", (ws) => !ws.url().startsWith(wsBase) && problems.push(`${who}: websocket to another origin: ${ws.url()}`));
    return tab;
  }
  const shot = (tab, name) => tab.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
  async function signIn(tab, email, password) {
    await tab.goto(srv.console_url);
    await tab.getByLabel("Email", { exact: true }).fill(email);
    await tab.getByLabel("Password", { exact: true }).fill(password);
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.getByRole("heading", { level: 1, name: "Apps" }).waitFor();
  }
  const appURL = (p) => `${srv.console_url}#/apps/${appId}/${p}`;
  const tab = await newTab("operator");
  await signIn(tab, srv.operator_email, srv.operator_password);
  // A device: a tab that keeps real WebSocket sessions of app users open
  // while the console tab navigates.
  const device = await newTab("device");
  await device.goto(srv.console_url);
  const connect = async (user) => {
    const { token } = await must(`token of ${user}`, op.call("POST", `/apps/${appId}/users/${user}/tokens`), 201);
    assert.equal(await device.evaluate(openSession, { user, token }), user);
  };

  await t.test("search: a user's messages by keyword, in one conversation, a page at a time", async () => {
    await tab.goto(appURL("messages"));
    const form = tab.locator("form", { has: tab.getByRole("heading", { name: "Search messages" }) });
    await form.getByLabel("User id").fill("ann");
    await form.getByLabel("Keywords").fill("*");
    await form.getByRole("button", { name: "Search" }).click();
    const err = form.locator(".error");
    await err.waitFor();
    assert.match(await err.innerText(), /q needs a word[\s\S]*code validation_failed[\s\S]*request id/);
    await form.getByLabel("Keywords").fill("PARCEL");
    await form.getByRole("button", { name: "Search" }).click();
    const rows = () => form.locator("tr[data-result]").evaluateAll((trs) => trs.map((tr) => tr.dataset.result));
    await form.locator("tr[data-result]").nth(19).waitFor();
    let got = await rows();
    assert.equal(got.length, 20, "a page of 20");
    assert.equal(got[0], `${annBob.conv_id}#1`, "newest first");
    assert.equal(await err.count(), 0, "the error is gone");
    await form.getByRole("button", { name: "More results" }).click();
    await form.locator("tr[data-result]").nth(25).waitFor();
    got = await rows();
    assert.equal(got.length, 26, "bob's message and carol's 25");
    assert.equal(new Set(got).size, 26, "no message twice");
    assert.equal(await form.getByRole("button", { name: "More results" }).count(), 0);
    assert.ok(!(await form.innerText()).includes("must never see"), "only ann's conversations");
    await shot(tab, "30-search");
    // Within one conversation.
    await form.getByLabel("In conversation").fill(annBob.conv_id);
    await form.getByRole("button", { name: "Search" }).click();
    await form.locator("tr[data-result]").nth(1).waitFor({ state: "detached" });
    assert.deepEqual(await rows(), [`${annBob.conv_id}#1`]);
    // A result links to its conversation.
    await form.getByRole("link", { name: annBob.conv_id }).click();
    await tab.locator("#conv-title", { hasText: annBob.conv_id }).waitFor();
    await tab.locator('tr[data-seq="1"]').waitFor();
  });

  await t.test("customer service: agents, online state, the queue, assign, close", async () => {
    await tab.goto(appURL("support"));
    await tab.getByRole("heading", { level: 1, name: "Customer service" }).waitFor();
    await tab.getByText("No agents yet.").waitFor();
    const form = tab.locator("form", { has: tab.getByRole("heading", { name: "Add or change an agent" }) });
    await form.getByLabel("Agent user id").fill("ann");
    await form.getByLabel("Skills").fill("billing");
    await form.getByLabel("Capacity").fill("0");
    await form.getByRole("button", { name: "Save agent" }).click();
    assert.match(await form.locator(".error").innerText(), /capacity[\s\S]*request id/);
    assert.equal(await form.getByLabel("Capacity").getAttribute("aria-invalid"), "true");
    await form.getByLabel("Capacity").fill("1");
    await form.getByRole("button", { name: "Save agent" }).click();
    await tab.locator('tr[data-agent="ann"]').waitFor();
    await form.getByLabel("Agent user id").fill("bob");
    await form.getByLabel("Skills").fill("billing, vip");
    await form.getByLabel("Capacity").fill("2");
    await form.getByRole("button", { name: "Save agent" }).click();
    await tab.locator('tr[data-agent="bob"]').waitFor();
    assert.equal(await tab.locator('[data-online="ann"]').innerText(), "offline");
    // Ann comes online on a device; the page shows it after a refresh.
    await connect("ann");
    await tab.getByRole("button", { name: "Refresh" }).click();
    await tab.locator('[data-online="ann"]', { hasText: /^online$/ }).waitFor();
    assert.equal(await tab.locator('[data-online="bob"]').innerText(), "offline");

    // Two visitors: the online agent takes the first, the second waits.
    const { session: s1 } = await must("open v1", server("POST", "/v1/support/sessions", { visitor_id: "v1", skill: "billing" }), 201);
    const { session: s2 } = await must("open v2", server("POST", "/v1/support/sessions", { visitor_id: "v2", skill: "billing" }), 201);
    assert.deepEqual([s1.state, s1.agent_id, s2.state], ["active", "ann", "waiting"]);
    await tab.getByRole("button", { name: "Refresh" }).click();
    const queued = tab.locator(`tr[data-session="${s2.id}"]`);
    await queued.waitFor();
    assert.match(await queued.innerText(), /^1\s/);
    assert.equal(await tab.locator(`[data-agent-of="${s1.id}"]`).innerText(), "ann");
    assert.equal(await tab.locator('[data-load="ann"]').innerText(), "1 of 1");
    await shot(tab, "31-support");

    // Assign the waiting visitor to bob; close ann's session.
    await queued.getByLabel(`Transfer session ${s2.id} to`).selectOption("agent:bob");
    await queued.getByRole("button", { name: "Assign" }).click();
    await tab.locator(`[data-agent-of="${s2.id}"]`, { hasText: "bob" }).waitFor();
    await tab.getByText("Nobody is waiting.").waitFor();
    const open1 = tab.locator(`tr[data-session="${s1.id}"]`);
    await open1.getByRole("button", { name: "Close" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Close session" }).click();
    await open1.waitFor({ state: "detached" });
    assert.equal(await tab.locator('[data-load="ann"]').innerText(), "0 of 1");
    const { session: after1 } = await must("get s1", server("GET", `/v1/support/sessions/${s1.id}`), 200);
    const { session: after2 } = await must("get s2", server("GET", `/v1/support/sessions/${s2.id}`), 200);
    assert.equal(after1.state, "closed");
    assert.deepEqual([after2.state, after2.agent_id], ["active", "bob"]);
    // Transferring it back to the queue of billing gives it to ann, the
    // online agent with room.
    const open2 = tab.locator(`tr[data-session="${s2.id}"]`);
    await open2.getByLabel(`Transfer session ${s2.id} to`).selectOption("skill:billing");
    await open2.getByRole("button", { name: "Transfer" }).click();
    await tab.locator(`[data-agent-of="${s2.id}"]`, { hasText: "ann" }).waitFor();
    await shot(tab, "32-support-after");
  });

  await t.test("chat rooms: live member counts; closing one makes its member leave", async () => {
    assert.equal(Number(await within(10_000, "the room join", device.evaluate(joinRoom, "lobby"))), 1);
    await tab.goto(appURL("rooms"));
    await tab.getByRole("heading", { level: 1, name: "Chat rooms" }).waitFor();
    assert.equal(await tab.locator('[data-members="lobby"]').innerText(), "1");
    assert.equal(await tab.locator('[data-members="launch"]').innerText(), "0");
    await shot(tab, "33-rooms");
    await tab.locator('tr[data-room="lobby"]').getByRole("button", { name: "Close room" }).click();
    const dlg = tab.getByRole("dialog");
    assert.match(await dlg.innerText(), /1 connected member leave/);
    await dlg.getByRole("button", { name: "Close room" }).click();
    await tab.locator('tr[data-room="lobby"]').waitFor({ state: "detached" });
    assert.equal(await within(10_000, "the member to leave the room", device.evaluate(() => window.__roomLeft)), "REASON_CLOSED");
    await must("the closed room", server("GET", "/v1/rooms/lobby"), 404);
    await must("the other room", server("GET", "/v1/rooms/launch"), 200);
  });

  await t.test("a viewer sees no write action on these pages, and the API refuses them", async () => {
    const vt = await newTab("viewer");
    await signIn(vt, viewer.email, viewer.password);
    await vt.goto(appURL("support"));
    await vt.locator('tr[data-agent="bob"]').waitFor();
    assert.deepEqual(await vt.locator("main button").allTextContents(), ["Refresh"]);
    assert.equal(await vt.locator("main select, main input").count(), 0);
    await shot(vt, "34-viewer-support");
    await vt.goto(appURL("rooms"));
    await vt.locator('tr[data-room="launch"]').waitFor();
    assert.deepEqual(await vt.locator("main button").allTextContents(), ["Refresh"]);
    // A viewer may search.
    await vt.goto(appURL("messages"));
    const form = vt.locator("form", { has: vt.getByRole("heading", { name: "Search messages" }) });
    await form.getByLabel("User id").fill("ann");
    await form.getByLabel("Keywords").fill("thanks");
    await form.getByRole("button", { name: "Search" }).click();
    await form.locator(`tr[data-result="${annBob.conv_id}#1"]`).waitFor();

    const { session: open } = await must("open v1 again", server("POST", "/v1/support/sessions", { visitor_id: "v1" }), 201);
    const v = await manageClient(base).login(viewer.email, viewer.password);
    for (const [method, p, body] of [
      ["PUT", `/apps/${appId}/support/agents/carol`, { capacity: 1, available: true }],
      ["DELETE", `/apps/${appId}/support/agents/bob`, undefined],
      ["POST", `/apps/${appId}/support/sessions/${open.id}:close`, undefined],
      ["POST", `/apps/${appId}/support/sessions/${open.id}:transfer`, { agent_id: "bob" }],
      ["DELETE", `/apps/${appId}/rooms/launch`, undefined],
    ]) {
      const r = await v.call(method, p, body);
      assert.equal(r.status, 403, `${method} ${p} as viewer: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "forbidden");
    }
    await must("the room, still there", server("GET", "/v1/rooms/launch"), 200);
    const { agents } = await must("agents", server("GET", "/v1/support/agents"), 200);
    assert.deepEqual(agents.map((a) => a.user_id), ["ann", "bob"]);
    await vt.context().close();
  });

  await t.test("a member of another tenant sees nothing of these pages", async () => {
    const { tenant: other } = await must("other tenant", op.call("POST", "/tenants", { name: "Elsewhere" }), 201);
    const owner = { email: "owner@elsewhere.test", password: "elsewhere owner 1" };
    await must("its owner", op.call("POST", `/tenants/${other.id}/members`, { ...owner, role: "owner" }), 201);
    const ot = await newTab("other tenant");
    await signIn(ot, owner.email, owner.password);
    for (const page of ["support", "rooms", "messages"]) {
      await ot.goto(appURL(page));
      assert.match(await ot.getByRole("alert").innerText(), /no such app/);
    }
    await shot(ot, "35-other-tenant-support");
    const o = await manageClient(base).login(owner.email, owner.password);
    for (const [method, p, body] of [
      ["GET", `/apps/${appId}/users/ann/messages/search?q=parcel`],
      ["GET", `/apps/${appId}/support/agents`],
      ["GET", `/apps/${appId}/support/sessions?state=waiting`],
      ["PUT", `/apps/${appId}/support/agents/carol`, { capacity: 1 }],
      ["GET", `/apps/${appId}/rooms`],
      ["DELETE", `/apps/${appId}/rooms/launch`],
    ]) {
      const r = await o.call(method, p, body);
      assert.equal(r.status, 404, `${method} ${p} from another tenant: ${JSON.stringify(r.body)}`);
    }
    await must("the room, still there", server("GET", "/v1/rooms/launch"), 200);
    await ot.context().close();
  });

  await t.test("every page loads in under a second, from its own origin only", async () => {
    const pages = ["#/apps", `#/apps/${appId}`, ...["users", "users/ann", "messages", `messages/${encodeURIComponent(annBob.conv_id)}`, "webhooks", "push", "support", "rooms", "usage"].map((p) => `#/apps/${appId}/${p}`), "#/members", "#/account", "#/tenants"];
    const origins = new Set();
    tab.on("request", (req) => origins.add(new URL(req.url()).origin));
    const times = {};
    for (const page of pages) {
      // A full load (from another document, not a change of the hash): the
      // shell, every module, the session and the page's API calls; the
      // page's h1 is drawn once its data is in.
      times[page] = await fastestLoad(tab, `${srv.console_url}${page}`, () => tab.locator("main h1").waitFor());
      await tab.waitForLoadState("networkidle");
    }
    const slow = Object.entries(times).filter(([, ms]) => ms >= 1000);
    assert.deepEqual(slow, [], `pages slower than a second (the fastest of 3 loads): ${JSON.stringify(times)}`);
    t.diagnostic(`load times (ms): ${JSON.stringify(times)}`);
    assert.deepEqual([...origins], [base]);
  });

  await t.test("keyboard, contrast and no stray null on the new pages", async () => {
    await tab.goto(appURL("support"));
    await tab.getByRole("heading", { level: 1, name: "Customer service" }).waitFor();
    await tab.waitForLoadState("networkidle");
    const seen = new Set();
    for (let i = 0; i < 50; i++) {
      await tab.keyboard.press("Tab");
      const f = await tab.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const st = getComputedStyle(el);
        return { tag: el.tagName.toLowerCase(), text: (el.textContent || el.getAttribute("name") || "").trim().slice(0, 30), outline: st.outlineStyle !== "none" && parseFloat(st.outlineWidth) >= 2 };
      });
      if (!f) continue;
      assert.ok(["a", "button", "input", "select", "textarea"].includes(f.tag), `focus stop ${f.tag} "${f.text}" is not a control`);
      assert.ok(f.outline, `focus on ${f.tag} "${f.text}" has no visible outline`);
      seen.add(`${f.tag}:${f.text}`);
    }
    for (const want of ["button:Refresh", "button:Edit", "button:Save agent", "button:Assign", "button:Transfer", "button:Close"]) {
      assert.ok(seen.has(want), `Tab never reached ${want}: ${[...seen].join(", ")}`);
    }
    assert.ok([...seen].some((s) => s.startsWith("select:")), `Tab never reached a transfer choice: ${[...seen].join(", ")}`);
    for (const page of ["support", "rooms", "messages"]) {
      await tab.goto(appURL(page));
      await tab.locator("main h1").waitFor();
      await tab.waitForLoadState("networkidle");
      assert.deepEqual(await tab.evaluate(lowContrast), [], `${page}: text below AA contrast`);
      const text = await tab.locator("body").innerText();
      assert.doesNotMatch(text, /\b(null|undefined|NaN|\[object Object\])\b/, `${page}: ${text}`);
    }
  });

  assert.deepEqual(problems, []);
});

/**
 * Runs in the page: opens a WebSocket session of a user with a client
 * token on the JSON subprotocol (kept in window.__ws), resolves to the
 * user id of its login result.
 */
function openSession({ user, token }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/v1/connect", "magpie.v1.json");
    window.__ws = ws;
    window.__frames = [];
    window.__roomLeft = new Promise((res) =>
      ws.addEventListener("message", (ev) => {
        const f = JSON.parse(ev.data);
        if (f.room_left) res(f.room_left.reason);
      }),
    );
    ws.addEventListener("open", () => ws.send(JSON.stringify({ id: "1", login: { token, device_id: "e2e-" + user, platform: "web" } })));
    ws.addEventListener("message", (ev) => {
      const f = JSON.parse(ev.data);
      if (f.login_result) resolve(f.login_result.user_id);
      else if (f.close || (f.error && f.id === "1")) reject(new Error(ev.data));
    });
    ws.addEventListener("error", () => reject(new Error("websocket error")));
  });
}

/** Runs in the page: joins a room on window.__ws (request id 7); resolves to its member count. */
function joinRoom(room) {
  return new Promise((resolve, reject) => {
    const ws = window.__ws;
    const onMessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.error) reject(new Error(ev.data));
      if (f.id !== "7") return;
      ws.removeEventListener("message", onMessage);
      if (f.room_joined) resolve(f.room_joined.room.member_count);
      else reject(new Error(ev.data));
    };
    ws.addEventListener("message", onMessage);
    ws.send(JSON.stringify({ id: "7", join_room: { room_id: room } }));
  });
}
