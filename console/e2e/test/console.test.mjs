// The web console in headless Chromium against a real `magpie dev`: sign-in,
// apps, secrets, limits and settings, members, roles (a viewer sees no write
// action and the API refuses it anyway), tenant isolation, password change
// and sign-out. Screenshots of each page go to the artifacts directory.
// Without Chromium the test is skipped, except in CI (CI=true), where it
// fails.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { artifacts, chromiumArgs, ensureDir, fastestLoad, findChromium, lowContrast, manageClient, serverClient, startMagpie, within } from "./env.mjs";

const exe = findChromium();
const inCI = process.env.CI === "true";

test("the web console", { skip: exe || inCI ? false : "no Chromium found", timeout: 90_000 }, async (t) => {
  assert.ok(exe, "CI=true: no Chromium found (install Debian's chromium, or set MAGPIE_TEST_CHROMIUM)");
  const shots = ensureDir(artifacts);
  const srv = await startMagpie();
  t.after(() => srv.stop());
  const base = srv.api_url;
  assert.equal(srv.console_url, base + "/console/");
  const op = await manageClient(base).login(srv.operator_email, srv.operator_password);
  const { body: tenants } = await op.call("GET", "/tenants");
  const tenantA = tenants.tenants[0];

  const browser = await within(30_000, "Chromium to start", chromium.launch({ executablePath: exe, args: chromiumArgs }));
  t.after(() => browser.close());

  // A fresh browser context (its own sessionStorage) per console user; every
  // page error, CSP violation and request to another origin fails the test.
  const problems = [];
  async function newTab(who) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const tab = await ctx.newPage();
    tab.setDefaultTimeout(10_000);
    tab.on("pageerror", (err) => problems.push(`${who}: page error: ${err}`));
    tab.on("console", (msg) => msg.type() === "error" && !/status of (4\d\d)/.test(msg.text()) && problems.push(`${who}: console: ${msg.text()}`));
    tab.on("request", (req) => !req.url().startsWith(base + "/") && problems.push(`${who}: request to another origin: ${req.url()}`));
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

  const tab = await newTab("operator");
  let app; // the app the operator creates
  let appSecret; // its active secret, once rotated

  await t.test("the shell loads fast with its CSP", async () => {
    const res = await fetch(srv.console_url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy"), /default-src 'self'/);
    const ms = await fastestLoad(tab, srv.console_url, () => tab.getByRole("heading", { name: "Sign in to Magpie" }).waitFor());
    assert.ok(ms < 1000, `the sign-in page took ${ms} ms (the fastest of 3 loads)`);
    t.diagnostic(`sign-in page: ${ms} ms`);
    // Keyboard: the email field has focus; Tab reaches the password field.
    assert.equal(await tab.evaluate(() => document.activeElement?.getAttribute("name")), "email");
    await tab.keyboard.press("Tab");
    assert.equal(await tab.evaluate(() => document.activeElement?.getAttribute("name")), "password");
    await shot(tab, "01-sign-in");
  });

  await t.test("a wrong password shows the API's message and request id", async () => {
    await tab.getByLabel("Email", { exact: true }).fill(srv.operator_email);
    await tab.getByLabel("Password", { exact: true }).fill("not the password at all");
    await tab.getByRole("button", { name: "Sign in" }).click();
    const err = tab.getByRole("alert");
    await err.waitFor();
    const text = await err.textContent();
    assert.match(text, /request id req_/);
    assert.match(text, /code /);
  });

  await t.test("sign in", async () => {
    await signIn(tab, srv.operator_email, srv.operator_password);
    assert.equal(await tab.getByTestId("role").textContent(), "operator");
    await tab.getByRole("link", { name: "Demo app" }).waitFor();
    await shot(tab, "02-apps");
  });

  await t.test("create an app: its secret is shown once with a copy button", async () => {
    await tab.getByLabel("App name").fill("E2E app");
    await tab.getByRole("button", { name: "Create app" }).click();
    const secret = await tab.getByTestId("secret-value").textContent();
    assert.match(secret, /^msk_/);
    await tab.getByRole("button", { name: "Copy secret" }).click();
    assert.equal(await tab.evaluate(() => navigator.clipboard.readText()), secret);
    await shot(tab, "03-app-created");
    const { body } = await op.call("GET", `/tenants/${tenantA.id}/apps`);
    app = body.apps.find((a) => a.name === "E2E app");
    assert.ok(app, "the app exists");
    const { body: secs } = await op.call("GET", `/apps/${app.id}/secrets`);
    assert.equal(secs.secrets.length, 1);
    assert.ok(secret.endsWith(secs.secrets[0].hint), "the secret shown is the app's");
  });

  await t.test("create and rotate secrets", async () => {
    await tab.getByRole("link", { name: "E2E app" }).first().click();
    await tab.getByRole("heading", { level: 1, name: "E2E app" }).waitFor();
    assert.equal(await tab.getByTestId("app-key").textContent(), app.app_key);
    await tab.getByRole("button", { name: "Create secret" }).click();
    assert.match(await tab.getByTestId("secret-value").textContent(), /^msk_/);
    await tab.locator("tr[data-secret]").nth(1).waitFor();
    const { body: before } = await op.call("GET", `/apps/${app.id}/secrets`);
    assert.equal(before.secrets.filter((s) => !s.revoked_at).length, 2);

    // The app has two active secrets, the most it may have: rotating the
    // first (A) revokes it, then creates its replacement (C).
    const [a, b] = before.secrets;
    const row = (s) => tab.locator(`tr[data-secret="${s.id}"]`);
    await row(a).getByRole("button", { name: "Rotate" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Revoke and replace" }).click();
    await row(a).getByText(/^revoked/).waitFor();
    await tab.locator("tr[data-secret]").nth(2).waitFor();
    const { body: mid } = await op.call("GET", `/apps/${app.id}/secrets`);
    const c = mid.secrets.find((s) => s.id !== a.id && s.id !== b.id);
    assert.ok(c && !c.revoked_at, "the replacement is active");
    assert.ok((await tab.getByTestId("secret-value").textContent()).endsWith(c.hint), "the replacement is shown once");
    // Revoke B; then rotate C with room for both: D is created and C revoked
    // once the new one is in place.
    await row(b).getByRole("button", { name: "Revoke" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Revoke secret" }).click();
    await row(b).getByText(/^revoked/).waitFor();
    await row(c).getByRole("button", { name: "Rotate" }).click();
    const revokeOld = tab.getByRole("button", { name: `Revoke the old secret …${c.hint} now` });
    await revokeOld.click();
    const rotated = await tab.getByTestId("secret-value").textContent();
    await tab.getByRole("dialog").getByRole("button", { name: "Revoke secret" }).click();
    await row(c).getByText(/^revoked/).waitFor();
    const { body: after } = await op.call("GET", `/apps/${app.id}/secrets`);
    assert.equal(after.secrets.length, 4);
    const active = after.secrets.filter((s) => !s.revoked_at);
    assert.equal(active.length, 1);
    assert.ok(rotated.endsWith(active[0].hint), "the rotated secret is the active one");
    appSecret = rotated;
    await shot(tab, "04-app-secrets");
  });

  await t.test("limits: the API's validation message, then a change applied", async () => {
    const input = tab.getByLabel("Largest message (bytes)");
    await input.fill("2000000");
    await tab.getByRole("button", { name: "Save limits" }).click();
    const err = tab.locator("#lim-title ~ form [role=alert]");
    await err.waitFor();
    const text = await err.textContent();
    assert.match(text, /limits\.max_message_bytes: must be 0 \(default\) to 1048576/);
    assert.match(text, /request id req_/);
    assert.equal(await input.getAttribute("aria-invalid"), "true");
    await shot(tab, "05-limits-error");

    await input.fill("4096");
    await tab.getByLabel("Connections per user", { exact: true }).fill("3");
    await tab.getByRole("button", { name: "Save limits" }).click();
    await tab.locator('[data-limit="max_message_bytes"]', { hasText: /^4096$/ }).waitFor();
    assert.equal(await err.count(), 0, "the error is gone");
    const { body } = await op.call("GET", `/apps/${app.id}`);
    assert.equal(body.app.limits.max_message_bytes, 4096);
    assert.equal(body.app.limits.max_devices_per_user, 3);
    assert.equal(body.app.effective_limits.max_message_bytes, 4096);
    assert.equal(body.app.effective_limits.max_upload_bytes, 20 << 20, "the default upload limit");
    // Read back after a reload.
    await tab.reload();
    assert.equal(await tab.getByLabel("Largest message (bytes)").inputValue(), "4096");
    // Applied: the server API refuses a message over the new limit.
    const server = serverClient(base, app.app_key, appSecret);
    for (const id of ["ann", "bob"]) assert.equal((await server("POST", "/v1/users", { id })).status, 201);
    const big = await server("POST", "/v1/messages", { from_user_id: "ann", to_user_id: "bob", type: "text", content: "x".repeat(5000) });
    assert.equal(big.status, 413, JSON.stringify(big.body));
    assert.equal(big.body.error.code, "message_too_large");
    const small = await server("POST", "/v1/messages", { from_user_id: "ann", to_user_id: "bob", type: "text", content: "x".repeat(4000) });
    assert.equal(small.status, 201, JSON.stringify(small.body));
  });

  await t.test("settings", async () => {
    await tab.getByLabel("Allowed browser origins").fill("https://chat.example.com\nhttps://*.example.org");
    await tab.getByLabel("When a user exceeds the connections per user").selectOption("refuse");
    await tab.getByLabel("Media types users may upload").fill("image/*\napplication/pdf");
    await tab.getByRole("button", { name: "Save settings" }).click();
    await tab.getByRole("status").filter({ hasText: "Settings saved" }).waitFor();
    const { body } = await op.call("GET", `/apps/${app.id}`);
    assert.deepEqual(body.app.settings.allowed_origins, ["https://chat.example.com", "https://*.example.org"]);
    assert.equal(body.app.settings.device_policy, "refuse");
    assert.deepEqual(body.app.settings.upload_types, ["image/*", "application/pdf"]);
  });

  await t.test("disable and enable the app", async () => {
    await tab.getByRole("button", { name: "Disable app" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Disable app" }).click();
    await tab.getByRole("button", { name: "Enable app" }).waitFor();
    assert.equal((await op.call("GET", `/apps/${app.id}`)).body.app.disabled, true);
    await tab.getByRole("button", { name: "Enable app" }).click();
    await tab.getByRole("button", { name: "Disable app" }).waitFor();
    assert.equal((await op.call("GET", `/apps/${app.id}`)).body.app.disabled, false);
  });

  const viewer = { email: "viewer@acme.test", password: "viewer password 1" };
  const admin = { email: "admin@acme.test", password: "admin password 12" };
  await t.test("members: add, change role, end sessions, remove", async () => {
    await tab.getByRole("link", { name: "Members" }).click();
    await tab.getByRole("heading", { level: 1, name: "Members" }).waitFor();
    for (const [m, role] of [[viewer, "viewer"], [admin, "viewer"]]) {
      await tab.getByLabel("Email", { exact: true }).fill(m.email);
      await tab.getByLabel("Name").fill(m.email.split("@")[0]);
      await tab.getByLabel("Role", { exact: true }).selectOption(role);
      await tab.getByLabel("Initial password").fill(m.password);
      await tab.getByRole("button", { name: "Add member" }).click();
      await tab.locator(`tr[data-member="${m.email}"]`).waitFor();
      // The form is reset to its defaults: a viewer, never an owner.
      assert.equal(await tab.getByLabel("Role", { exact: true }).inputValue(), "viewer");
    }
    // A short password: the API's message.
    await tab.getByLabel("Email", { exact: true }).fill("short@acme.test");
    await tab.getByLabel("Initial password").fill("short");
    await tab.getByRole("button", { name: "Add member" }).click();
    assert.match(await tab.locator("#add-member ~ .err-slot [role=alert]").textContent(), /password: must be 12-72 characters/);

    const row = tab.locator(`tr[data-member="${admin.email}"]`);
    await row.getByLabel(`Role of ${admin.email}`).selectOption("admin");
    await row.getByRole("button", { name: "Change role" }).click();
    await tab.getByRole("status").filter({ hasText: "is now admin" }).waitFor();
    const adminClient = await manageClient(base).login(admin.email, admin.password);
    assert.equal((await adminClient.call("GET", "/me")).body.member.role, "admin");
    await row.getByRole("button", { name: "End sessions" }).click();
    await tab.getByRole("status").filter({ hasText: /1 session of/ }).waitFor();
    assert.equal((await adminClient.call("GET", "/me")).status, 401, "the admin's session ended");
    await shot(tab, "06-members");
    await row.getByRole("button", { name: "Remove" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Remove member" }).click();
    await row.waitFor({ state: "detached" });
    const { body } = await op.call("GET", `/tenants/${tenantA.id}/members`);
    assert.deepEqual(body.members.map((m) => m.email), [viewer.email]);
  });

  await t.test("a viewer sees no write action, and the API refuses them", async () => {
    const vt = await newTab("viewer");
    await signIn(vt, viewer.email, viewer.password);
    assert.equal(await vt.getByTestId("role").textContent(), "viewer");
    assert.equal(await vt.getByRole("button", { name: "Create app" }).count(), 0);
    await vt.getByRole("link", { name: "E2E app" }).click();
    await vt.getByRole("heading", { level: 1, name: "E2E app" }).waitFor();
    await vt.locator('[data-limit="max_message_bytes"]', { hasText: "4096" }).waitFor();
    const buttons = await vt.locator("main button").allTextContents();
    assert.deepEqual(buttons.filter((b) => b !== "Copy"), [], "only copy buttons on the app page");
    assert.equal(await vt.locator("main input, main select, main textarea").count(), 0);
    await shot(vt, "07-viewer-app");
    await vt.getByRole("link", { name: "Members" }).click();
    await vt.getByRole("heading", { level: 1, name: "Members" }).waitFor();
    assert.equal(await vt.locator("main button").count(), 0);

    // Forced through the API with the viewer's own session.
    const token = await vt.evaluate(() => sessionStorage.getItem("magpie.console.session"));
    const v = manageClient(base, token);
    assert.equal((await v.call("GET", `/apps/${app.id}`)).status, 200);
    for (const [method, p, body] of [
      ["PATCH", `/apps/${app.id}`, { disabled: true }],
      ["PATCH", `/apps/${app.id}`, { limits: { max_message_bytes: 1 } }],
      ["POST", `/apps/${app.id}/secrets`, undefined],
      ["DELETE", `/apps/${app.id}/secrets/${(await op.call("GET", `/apps/${app.id}/secrets`)).body.secrets.find((s) => !s.revoked_at).id}`, undefined],
      ["POST", `/tenants/${tenantA.id}/apps`, { name: "sneaky" }],
      ["POST", `/tenants/${tenantA.id}/members`, { email: "x@acme.test", role: "owner", password: "password password" }],
    ]) {
      const r = await v.call(method, p, body);
      assert.equal(r.status, 403, `${method} ${p} as viewer: ${JSON.stringify(r.body)}`);
    }
    const { body } = await op.call("GET", `/apps/${app.id}`);
    assert.equal(body.app.disabled, false);
    assert.equal(body.app.limits.max_message_bytes, 4096);
    await vt.context().close();
  });

  await t.test("a member of another tenant sees nothing of this one", async () => {
    const { body: tb } = await op.call("POST", "/tenants", { name: "Other Co" });
    const other = { email: "owner@other.test", password: "other owner pass" };
    assert.equal((await op.call("POST", `/tenants/${tb.tenant.id}/members`, { ...other, role: "owner" })).status, 201);
    const ot = await newTab("other tenant");
    await signIn(ot, other.email, other.password);
    assert.equal(await ot.getByTestId("tenant-name").textContent(), "Other Co");
    await ot.getByText("No apps yet.").waitFor();
    assert.equal(await ot.getByRole("link", { name: "E2E app" }).count(), 0);
    await ot.getByRole("link", { name: "Members" }).click();
    await ot.locator(`tr[data-member="${other.email}"]`).waitFor();
    assert.equal(await ot.locator(`tr[data-member="${viewer.email}"]`).count(), 0);
    // The other tenant's app by its id: not found.
    await ot.goto(`${srv.console_url}#/apps/${app.id}`);
    const err = ot.getByRole("alert");
    await err.waitFor();
    assert.match(await err.textContent(), /no such app/);
    await shot(ot, "08-other-tenant");
    const token = await ot.evaluate(() => sessionStorage.getItem("magpie.console.session"));
    const o = manageClient(base, token);
    for (const p of [`/apps/${app.id}`, `/apps/${app.id}/secrets`, `/tenants/${tenantA.id}/apps`, `/tenants/${tenantA.id}/members`]) {
      assert.equal((await o.call("GET", p)).status, 404, `GET ${p} from another tenant`);
    }
    assert.equal((await o.call("PATCH", `/apps/${app.id}`, { disabled: true })).status, 404);
    const { body } = await o.call("GET", "/tenants");
    assert.deepEqual(body.tenants.map((x) => x.id), [tb.tenant.id]);
    await ot.context().close();
    // The same email in both tenants: the sign-in form asks which tenant.
    assert.equal((await op.call("POST", `/tenants/${tenantA.id}/members`, { ...other, role: "viewer" })).status, 201);
    const both = await newTab("two tenants");
    await both.goto(srv.console_url);
    await both.getByLabel("Email", { exact: true }).fill(other.email);
    await both.getByLabel("Password", { exact: true }).fill(other.password);
    await both.getByRole("button", { name: "Sign in" }).click();
    assert.match(await both.getByRole("alert").textContent(), /several tenants/);
    await both.getByLabel("Tenant id").fill(tenantA.id);
    await both.getByRole("button", { name: "Sign in" }).click();
    await both.getByRole("heading", { level: 1, name: "Apps" }).waitFor();
    assert.equal(await both.getByTestId("tenant-name").textContent(), "Demo");
    assert.equal(await both.getByTestId("role").textContent(), "viewer");
    await both.context().close();
    // The operator sees both tenants.
    await tab.goto(`${srv.console_url}#/tenants`);
    await tab.getByRole("cell", { name: "Other Co" }).waitFor();
    await shot(tab, "10-tenants");
  });

  await t.test("change the password, sign out, sign in with the new one", async () => {
    const vt = await newTab("viewer again");
    await signIn(vt, viewer.email, viewer.password);
    await vt.getByRole("link", { name: "Account" }).click();
    await vt.getByLabel("Current password").fill("wrong current password");
    await vt.getByLabel("New password", { exact: true }).fill("a new viewer password");
    await vt.getByLabel("Repeat the new password").fill("a new viewer password");
    await vt.getByRole("button", { name: "Change password" }).click();
    assert.match(await vt.getByRole("alert").textContent(), /current_password: is not the member's password/);
    await vt.getByLabel("Current password").fill(viewer.password);
    await vt.getByRole("button", { name: "Change password" }).click();
    await vt.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
    await shot(vt, "09-account");
    const token = await vt.evaluate(() => sessionStorage.getItem("magpie.console.session"));
    await vt.locator("header").getByRole("button", { name: "Sign out" }).click();
    await vt.getByRole("heading", { name: "Sign in to Magpie" }).waitFor();
    assert.equal((await manageClient(base, token).call("GET", "/me")).status, 401, "the session ended");
    await signIn(vt, viewer.email, "a new viewer password");
    await vt.context().close();
  });

  await t.test("the app page links to its users, messages, webhooks, push and usage", async () => {
    await tab.goto(`${srv.console_url}#/apps/${app.id}`);
    await tab.getByRole("heading", { name: "More of this app" }).waitFor();
    await tab.getByRole("main").getByRole("link", { name: "Users", exact: true }).click();
    await tab.getByRole("heading", { level: 1, name: "Users" }).waitFor();
    // The users the limits test created through the server API.
    await tab.locator('tr[data-user="ann"]').waitFor();
    await tab.locator('tr[data-user="bob"]').waitFor();
  });

  await t.test("keyboard: every stop is a real control with a visible focus style", async () => {
    await tab.goto(`${srv.console_url}#/apps/${app.id}`);
    await tab.getByRole("heading", { level: 1, name: "E2E app" }).waitFor();
    await tab.waitForLoadState("networkidle");
    const seen = new Set();
    for (let i = 0; i < 60; i++) {
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
    for (const want of ["a:Skip to content", "a:Members", "button:Disable app", "button:Create secret", "button:Save limits"]) {
      assert.ok(seen.has(want), `Tab never reached ${want}: ${[...seen].join(", ")}`);
    }
  });

  await t.test("text meets WCAG AA contrast on every page", async () => {
    for (const page of ["#/apps", `#/apps/${app.id}`, "#/members", "#/account", "#/tenants"]) {
      await tab.goto(`${srv.console_url}${page}`);
      await tab.locator("main h1").waitFor();
      await tab.waitForLoadState("networkidle");
      const low = await tab.evaluate(lowContrast);
      assert.deepEqual(low, [], `${page}: text below AA contrast`);
    }
  });

  await t.test("no page shows a stray null or undefined", async () => {
    for (const page of ["#/apps", `#/apps/${app.id}`, "#/members", "#/account", "#/tenants"]) {
      await tab.goto(`${srv.console_url}${page}`);
      await tab.locator("main h1").waitFor();
      await tab.waitForLoadState("networkidle");
      const text = await tab.locator("body").innerText();
      assert.doesNotMatch(text, /\b(null|undefined|NaN|\[object Object\])\b/, `${page}: ${text}`);
    }
  });

  assert.deepEqual(problems, []);
});
