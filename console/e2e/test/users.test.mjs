// The console's Users and Messages pages in headless Chromium against a real
// `magpie dev`: find a user (paging and search), a test token shown once,
// block the user and see their live WebSocket session closed, revoke their
// tokens and see another closed, delete a user with the erasure choice, look
// up a conversation and page it both ways, recall a message, send a system
// message; a viewer sees no write action and the API refuses them anyway.
// Screenshots go to the artifacts directory. Without Chromium the test is
// skipped, except in CI (CI=true), where it fails.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { artifacts, chromiumArgs, ensureDir, findChromium, lowContrast, manageClient, serverClient, startMagpie, within } from "./env.mjs";

const exe = findChromium();
const inCI = process.env.CI === "true";

test("the console's users and messages", { skip: exe || inCI ? false : "no Chromium found", timeout: 90_000 }, async (t) => {
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

  // Users through the signed server API: enough for two pages.
  const ids = ["alice", "alicia", "bob", "carol", ...Array.from({ length: 20 }, (_, i) => `user${String(i).padStart(2, "0")}`)];
  for (const id of ids) {
    const r = await server("POST", "/v1/users", { id, name: id[0].toUpperCase() + id.slice(1) });
    assert.equal(r.status, 201, `create ${id}: ${JSON.stringify(r.body)}`);
  }
  // 25 messages from carol to bob.
  let conv;
  for (let i = 1; i <= 25; i++) {
    const r = await server("POST", "/v1/messages", { from_user_id: "carol", to_user_id: "bob", type: "text", content: `message ${i}` });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    conv = r.body.message.conv_id;
  }
  // user19 sends one message, erased with the user below.
  const sent19 = await server("POST", "/v1/messages", { from_user_id: "user19", to_user_id: "bob", type: "text", content: "erase me" });
  assert.equal(sent19.status, 201, JSON.stringify(sent19.body));
  const erasedConv = sent19.body.message.conv_id;
  const viewer = { email: "viewer@users.test", password: "viewer password 1" };
  assert.equal((await op.call("POST", `/tenants/${tenant.id}/members`, { ...viewer, role: "viewer" })).status, 201);

  const browser = await within(30_000, "Chromium to start", chromium.launch({ executablePath: exe, args: chromiumArgs }));
  t.after(() => browser.close());
  const problems = [];
  async function newTab(who) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const tab = await ctx.newPage();
    tab.setDefaultTimeout(10_000);
    tab.on("pageerror", (err) => problems.push(`${who}: page error: ${err}`));
    tab.on("console", (msg) => msg.type() === "error" && !/status of (4\d\d)/.test(msg.text()) && problems.push(`${who}: console: ${msg.text()}`));
    tab.on("request", (req) => !req.url().startsWith(base + "/") && !req.url().startsWith(base.replace(/^http/, "ws") + "/") && problems.push(`${who}: request to another origin: ${req.url()}`));
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
  const usersURL = `${srv.console_url}#/apps/${appId}/users`;
  const rows = (tab) => tab.locator("tr[data-user]").evaluateAll((trs) => trs.map((tr) => tr.dataset.user));

  const tab = await newTab("operator");
  await signIn(tab, srv.operator_email, srv.operator_password);

  await t.test("find a user: pages and search by id prefix", async () => {
    await tab.goto(`${srv.console_url}#/apps/${appId}`);
    await tab.getByRole("main").getByRole("link", { name: "Users", exact: true }).click();
    await tab.getByRole("heading", { level: 1, name: "Users" }).waitFor();
    await tab.locator('tr[data-user="alice"]').waitFor();
    const first = await rows(tab);
    assert.equal(first.length, 20);
    await tab.getByRole("button", { name: "Next page" }).click();
    await tab.getByTestId("page-no").filter({ hasText: "Page 2" }).waitFor();
    assert.deepEqual(await rows(tab), ids.slice().sort().slice(20));
    await tab.getByRole("button", { name: "Previous page" }).click();
    await tab.getByTestId("page-no").filter({ hasText: "Page 1" }).waitFor();
    await tab.getByLabel("User id starts with").fill("ali");
    await tab.getByRole("button", { name: "Search" }).click();
    await tab.locator('tr[data-user="bob"]').waitFor({ state: "detached" });
    assert.deepEqual(await rows(tab), ["alice", "alicia"]);
    await shot(tab, "11-users");
    await tab.getByLabel("User id starts with").fill("nobody");
    await tab.getByRole("button", { name: "Search" }).click();
    await tab.getByText("No user id starts with").waitFor();
  });

  await t.test("the user page shows presence, push devices and conversations", async () => {
    const reg = await server("PUT", "/v1/users/bob/devices/bob-phone", { platform: "android", provider: "fcm", token: "fcm-token:APA91b_e2e_bob" });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    await tab.goto(`${usersURL}/bob`);
    await tab.getByRole("heading", { level: 1, name: "bob" }).waitFor();
    assert.equal(await tab.getByTestId("user-online").innerText(), "offline");
    const dev = tab.locator('tr[data-device="bob-phone"]');
    assert.match(await dev.innerText(), /android[\s\S]*fcm[\s\S]*…2e_bob/);
    assert.doesNotMatch(await tab.locator("main").innerText(), /APA91b/, "the device token is not shown whole");
    // Bob on a device of his own: online.
    const device = await newTab("bob's device");
    await device.goto(srv.console_url);
    const { body: tb } = await op.call("POST", `/apps/${appId}/users/bob/tokens`);
    assert.equal(await device.evaluate(openSession, tb.token), "bob");
    await tab.reload();
    await tab.getByTestId("user-online").getByText("online", { exact: true }).waitFor();
    await shot(tab, "15-user-activity");
    await device.context().close();
    await tab.locator(`tr[data-conv="${conv}"]`).getByRole("link", { name: conv }).click();
    await tab.locator('tr[data-seq="25"]').waitFor();
    await tab.goto(usersURL);
    await tab.locator('tr[data-user="alice"]').waitFor();
  });

  await t.test("a test token is shown once; blocking closes its live session", async () => {
    // (The same hash again would not reload the page: search instead.)
    await tab.getByLabel("User id starts with").fill("alice");
    await tab.getByRole("button", { name: "Search" }).click();
    await tab.getByRole("link", { name: "alice", exact: true }).click();
    await tab.getByRole("heading", { level: 1, name: "alice" }).waitFor();
    assert.equal(await tab.getByTestId("user-status").textContent(), "active");
    await tab.getByRole("button", { name: "Issue a test token" }).click();
    const tok = await tab.getByTestId("test-token").textContent();
    assert.match(tok, /^eyJ/);
    await tab.getByRole("button", { name: "Copy token" }).click();
    assert.equal(await tab.evaluate(() => navigator.clipboard.readText()), tok);

    // A real session of alice in the page, on the JSON subprotocol.
    const login = await tab.evaluate(openSession, tok);
    assert.equal(login, "alice");

    await tab.getByRole("button", { name: "Block", exact: true }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Block user" }).click();
    await tab.getByTestId("user-status").filter({ hasText: "blocked" }).waitFor();
    const code = await within(10_000, "the session to close", tab.evaluate(() => window.__closed));
    assert.equal(code, 4105, "closed with user_blocked");
    await shot(tab, "12-user");
    // A blocked user gets no token.
    await tab.getByRole("button", { name: "Issue a test token" }).click();
    assert.match(await tab.getByRole("alert").textContent(), /user_blocked.*request id req_/s);
    await tab.getByRole("button", { name: "Unblock" }).click();
    await tab.getByTestId("user-status").filter({ hasText: "active" }).waitFor();
  });

  await t.test("revoking the tokens closes a live session", async () => {
    await tab.getByRole("button", { name: "Issue a test token" }).click();
    const tok = await tab.getByTestId("test-token").textContent();
    assert.equal(await tab.evaluate(openSession, tok), "alice");
    await tab.getByRole("button", { name: "Revoke tokens" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Revoke tokens" }).click();
    await tab.getByRole("status").filter({ hasText: "are revoked" }).waitFor();
    const code = await within(10_000, "the session to close", tab.evaluate(() => window.__closed));
    assert.equal(code, 4102, "closed with token_revoked");
  });

  await t.test("delete a user with the erasure choice", async () => {
    await tab.goto(`${usersURL}/user19`);
    await tab.getByRole("heading", { level: 1, name: "user19" }).waitFor();
    await tab.getByRole("button", { name: "Delete user" }).click();
    const dlg = tab.getByRole("dialog");
    await dlg.getByLabel("Also erase the messages this user sent").check();
    await dlg.getByRole("button", { name: "Delete user" }).click();
    await tab.getByRole("heading", { level: 1, name: "Users" }).waitFor();
    assert.equal((await server("GET", "/v1/users/user19")).status, 404);
    // The erasure: the message user19 sent is gone from the history.
    const { body } = await server("GET", `/v1/conversations/${encodeURIComponent(erasedConv)}/messages`);
    assert.ok(body.messages.every((m) => m.content !== "erase me"), JSON.stringify(body.messages));
  });

  await t.test("look up a conversation, page both ways, recall a message", async () => {
    await tab.goto(`${srv.console_url}#/apps/${appId}/messages`);
    await tab.getByRole("heading", { level: 1, name: "Messages" }).waitFor();
    await tab.getByLabel("Conversation id").fill("");
    await tab.getByRole("button", { name: "Show messages" }).click();
    assert.equal(await tab.getByLabel("Conversation id").getAttribute("aria-invalid"), "true");
    await tab.getByLabel("Conversation id").fill(conv);
    await tab.getByRole("button", { name: "Show messages" }).click();
    await tab.locator('tr[data-seq="25"]').waitFor();
    const seqs = () => tab.locator("tr[data-seq]").evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.seq)));
    assert.deepEqual(await seqs(), Array.from({ length: 20 }, (_, i) => i + 6));
    await tab.getByRole("button", { name: "Older messages" }).click();
    await tab.locator('tr[data-seq="1"]').waitFor();
    assert.deepEqual(await seqs(), [1, 2, 3, 4, 5]);
    assert.equal(await tab.getByRole("button", { name: "Older messages" }).count(), 0);
    await tab.getByRole("button", { name: "Newer messages" }).click();
    await tab.locator('tr[data-seq="25"]').waitFor();
    assert.deepEqual(await seqs(), Array.from({ length: 20 }, (_, i) => i + 6));
    const row = tab.locator('tr[data-seq="24"]');
    assert.equal(await row.locator("td.content").textContent(), "message 24");
    await row.getByRole("button", { name: "Recall" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Recall message" }).click();
    await row.locator(".badge", { hasText: "recalled" }).waitFor();
    const { body } = await server("GET", `/v1/conversations/${encodeURIComponent(conv)}/messages`);
    assert.equal(body.messages.find((m) => m.seq === 24).recalled, true);
    // An unknown sequence number shows the API's error with its request id.
    const r = await op.call("POST", `/apps/${appId}/conversations/${encodeURIComponent(conv)}/messages/99:recall`);
    assert.equal(r.status, 404);
    await shot(tab, "13-messages");
  });

  await t.test("send a system message", async () => {
    await tab.getByLabel("To user id").fill("nobody");
    await tab.getByLabel("Content").fill("hello from the console");
    await tab.getByRole("button", { name: "Send message" }).click();
    assert.match(await tab.getByRole("alert").textContent(), /user_not_found.*request id req_/s);
    await tab.getByLabel("To user id").fill("bob");
    await tab.getByRole("button", { name: "Send message" }).click();
    await tab.locator("#conv-title", { hasText: "s:bob" }).waitFor();
    assert.equal(await tab.locator('tr[data-seq="1"] td.content').textContent(), "hello from the console");
    // The user page links to the system conversation.
    await tab.goto(`${usersURL}/bob`);
    // (Linked twice: the profile's system conversation, and the list of bob's conversations.)
    await tab.getByRole("link", { name: "s:bob" }).first().click();
    await tab.locator('tr[data-seq="1"]').waitFor();
  });

  await t.test("a viewer sees no write action, and the API refuses them", async () => {
    const vt = await newTab("viewer");
    await signIn(vt, viewer.email, viewer.password);
    await vt.goto(usersURL);
    await vt.locator('tr[data-user="alice"]').waitFor();
    await vt.goto(`${usersURL}/alice`);
    await vt.getByRole("heading", { level: 1, name: "alice" }).waitFor();
    assert.deepEqual(await vt.locator("main button").allTextContents(), []);
    await shot(vt, "14-viewer-user");
    await vt.goto(`${srv.console_url}#/apps/${appId}/messages/${encodeURIComponent(conv)}`);
    await vt.locator('tr[data-seq="25"]').waitFor();
    const buttons = await vt.locator("main button").allTextContents();
    assert.deepEqual(buttons.filter((b) => !["Show messages", "Older messages", "Newer messages", "Newest", "Search"].includes(b)), []);
    assert.equal(await vt.getByRole("heading", { name: "Send a system message" }).count(), 0);
    const token = await vt.evaluate(() => sessionStorage.getItem("magpie.console.session"));
    const v = manageClient(base, token);
    assert.equal((await v.call("GET", `/apps/${appId}/users/alice`)).status, 200);
    for (const [method, p, body] of [
      ["POST", `/apps/${appId}/users/alice:block`],
      ["POST", `/apps/${appId}/users/alice:unblock`],
      ["POST", `/apps/${appId}/users/alice/tokens`],
      ["POST", `/apps/${appId}/users/alice/tokens:revoke`],
      ["DELETE", `/apps/${appId}/users/alice`],
      ["POST", `/apps/${appId}/conversations/${encodeURIComponent(conv)}/messages/1:recall`],
      ["POST", `/apps/${appId}/messages`, { to_user_id: "bob", type: "text", content: "sneaky" }],
    ]) {
      const r = await v.call(method, p, body);
      assert.equal(r.status, 403, `${method} ${p} as viewer: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "forbidden");
    }
    assert.equal((await server("GET", "/v1/users/alice")).body.user.blocked, false);
    await vt.context().close();
  });

  await t.test("keyboard reaches the user actions with a visible focus", async () => {
    await tab.goto(`${usersURL}/alice`);
    await tab.getByRole("heading", { level: 1, name: "alice" }).waitFor();
    await tab.waitForLoadState("networkidle");
    const seen = new Set();
    for (let i = 0; i < 30; i++) {
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
    for (const want of ["a:Users", "a:Messages", "button:Block", "button:Revoke tokens", "button:Issue a test token", "button:Delete user"]) {
      assert.ok(seen.has(want), `Tab never reached ${want}: ${[...seen].join(", ")}`);
    }
  });

  await t.test("contrast, and no stray null or undefined, on the new pages", async () => {
    for (const page of [`#/apps/${appId}/users`, `#/apps/${appId}/users/alice`, `#/apps/${appId}/messages/${encodeURIComponent(conv)}`]) {
      await tab.goto(`${srv.console_url}${page}`);
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
 * Runs in the page: opens a WebSocket session with a client token on the
 * JSON subprotocol, resolves to the user id of its login result, and leaves
 * window.__closed resolving to the close code.
 */
function openSession(tok) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/v1/connect", "magpie.v1.json");
    window.__closed = new Promise((res) => ws.addEventListener("close", (ev) => res(ev.code)));
    ws.addEventListener("open", () => ws.send(JSON.stringify({ id: "1", login: { token: tok, device_id: "e2e-browser", platform: "web" } })));
    ws.addEventListener("message", (ev) => {
      const f = JSON.parse(ev.data);
      if (f.login_result) resolve(f.login_result.user_id);
      else if (f.close || f.error) reject(new Error(ev.data));
    });
    ws.addEventListener("error", () => reject(new Error("websocket error")));
  });
}
