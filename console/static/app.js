// Magpie's tenant web console: a single-page app over the management API.
// Pages are routed by the URL hash (#/apps, #/apps/{id}, #/apps/{id}/users,
// #/apps/{id}/users/{user}, #/apps/{id}/messages[/{conv}],
// #/apps/{id}/webhooks, #/apps/{id}/push, #/apps/{id}/support,
// #/apps/{id}/rooms, #/apps/{id}/usage, #/members,
// #/account, #/tenants). What a role may change decides which controls are
// shown; the API enforces every permission on its own.
import { api, setToken, token, whenSignedOut } from "./api.js";
import { h, field, fmtTime } from "./dom.js";
import { testChatSection } from "./chat.js";
import { pushPage } from "./push.js";
import { roomsPage } from "./rooms.js";
import { searchSection } from "./search.js";
import { supportPage } from "./support.js";
import { usagePage } from "./usage.js";
import { webhooksPage } from "./webhooks.js";
import { actionButton, appSubnav, confirmDialog, copyButton, errorBox, heading, onSubmit, secretReveal, toast } from "./ui.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const TENANT_KEY = "magpie.console.tenant";
const state = { me: null, tenants: [], tenantId: "" };

// ---- roles -------------------------------------------------------------

const isOperator = () => state.me?.role === "operator";
/** May the signed-in member change the current tenant's apps and members? */
const canManage = () => isOperator() || (state.me?.tenant_id === state.tenantId && ["owner", "admin"].includes(state.me?.role));
const tenantName = () => state.tenants.find((t) => t.id === state.tenantId)?.name || state.tenantId;

// ---- session -------------------------------------------------------------

/** Loads every tenant the operator sees. */
async function loadTenants() {
  const all = [];
  let after = "";
  do {
    const page = await api.tenants(after);
    all.push(...page.tenants);
    after = page.next_cursor;
  } while (after);
  state.tenants = all;
}

async function loadSession() {
  const { member } = await api.me();
  state.me = member;
  if (member.role === "operator") {
    await loadTenants();
    const saved = sessionStorage.getItem(TENANT_KEY);
    state.tenantId = state.tenants.some((t) => t.id === saved) ? saved : state.tenants[0]?.id || "";
  } else {
    const { tenants } = await api.tenants();
    state.tenants = tenants;
    state.tenantId = member.tenant_id;
  }
}

function signedOut(message) {
  setToken("");
  state.me = null;
  location.hash = "#/login";
  render(message);
}
whenSignedOut((err) => signedOut(`Your session ended (${err.message}); sign in again.`));

async function signOut() {
  try {
    await api.logout();
  } catch {
    // the session may be gone already; signing out locally is what matters
  }
  signedOut("You are signed out.");
}

function renderChrome() {
  nav.replaceChildren();
  who.replaceChildren();
  if (!state.me) return;
  const here = location.hash.split("/")[1] || "apps";
  const link = (href, label, key) => h("a", { href, "aria-current": here === key ? "page" : null }, label);
  nav.append(link("#/apps", "Apps", "apps"), link("#/members", "Members", "members"), link("#/account", "Account", "account"));
  if (isOperator()) nav.append(link("#/tenants", "Tenants", "tenants"));
  if (isOperator() && state.tenants.length) {
    const sel = h("select#tenant-select", { name: "tenant" }, state.tenants.map((t) => h("option", { value: t.id, selected: t.id === state.tenantId }, t.name)));
    sel.addEventListener("change", () => {
      state.tenantId = sel.value;
      sessionStorage.setItem(TENANT_KEY, sel.value);
      location.hash = "#/apps";
      render();
    });
    who.append(h("label.inline", { for: "tenant-select" }, "Tenant"), sel);
  } else {
    who.append(h("span", { "data-testid": "tenant-name" }, tenantName()));
  }
  const out = h("button.small", { type: "button" }, "Sign out");
  out.addEventListener("click", signOut);
  who.append(h("span.me", state.me.email, " ", h("span.badge", { "data-testid": "role" }, state.me.role)), out);
}

// ---- pages -----------------------------------------------------------------

function loginPage(message) {
  const tenantInput = h("input", { name: "tenant_id", autocomplete: "off" });
  const tenantField = field("Tenant id", tenantInput, "Only needed when your email has accounts in several tenants.");
  tenantField.hidden = true;
  const form = h(
    "form.card.narrow",
    { "aria-labelledby": "login-title" },
    h("h1#login-title", { tabindex: "-1" }, "Sign in to Magpie"),
    message ? h("p.notice", { role: "status" }, message) : null,
    field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    tenantField,
    h("div.actions", h("button.primary", { type: "submit" }, "Sign in")),
  );
  onSubmit(form, async (fd) => {
    try {
      const { token: t } = await api.login(fd.get("email"), fd.get("password"), fd.get("tenant_id"));
      setToken(t);
    } catch (err) {
      if (err.code === "tenant_required") tenantField.hidden = false;
      throw err;
    }
    await loadSession();
    location.hash = "#/apps";
    render();
  });
  return form;
}

async function appsPage() {
  if (!state.tenantId) return [...heading("Apps"), h("p", "There is no tenant yet. ", isOperator() ? h("a", { href: "#/tenants" }, "Create one.") : "")];
  const out = [...heading("Apps", `Tenant ${tenantName()}`)];
  const apps = [];
  let after = "";
  do {
    const page = await api.apps(state.tenantId, after);
    apps.push(...page.apps);
    after = page.next_cursor;
  } while (after && apps.length < 1000);
  const slot = h("div");
  if (canManage()) {
    const form = h(
      "form.card.inline-form",
      { "aria-labelledby": "new-app" },
      h("h2#new-app", "Create an app"),
      field("App name", h("input", { name: "name", required: true, maxlength: 128 })),
      h("div.actions", h("button.primary", { type: "submit" }, "Create app")),
    );
    onSubmit(form, async (fd) => {
      const res = await api.createApp(state.tenantId, fd.get("name"));
      form.reset();
      slot.replaceChildren(
        h("div.card", h("p", "Created app ", h("a", { href: `#/apps/${res.app.id}` }, res.app.name), " with app key ", h("code", res.app.app_key), "."), secretReveal(res.secret)),
      );
      slot.querySelector(".reveal button")?.focus();
      tbody.prepend(appRow(res.app));
      empty.hidden = true;
    });
    out.push(form);
  }
  out.push(slot);
  const tbody = h("tbody", apps.map(appRow));
  const empty = h("p.muted", "No apps yet.");
  empty.hidden = apps.length > 0;
  out.push(
    h(
      "table",
      { "aria-label": "Apps" },
      h("thead", h("tr", h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "App key"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Created"))),
      tbody,
    ),
    empty,
  );
  return out;
}

function appRow(a) {
  return h(
    "tr",
    h("td", h("a", { href: `#/apps/${a.id}` }, a.name)),
    h("td", h("code", a.app_key)),
    h("td", statusBadge(a)),
    h("td", fmtTime(a.created_at)),
  );
}

const statusBadge = (a) => h(a.disabled ? "span.badge.off" : "span.badge.on", a.disabled ? "disabled" : "enabled");

// The most active secrets an app may have (the API answers too_many_secrets).
const MAX_ACTIVE_SECRETS = 2;

const LIMITS = [
  ["max_message_bytes", "Largest message (bytes)", "int"],
  ["api_rate", "Server API requests per second", "float"],
  ["api_burst", "Server API burst", "int"],
  ["conn_rate", "WebSocket logins per second", "float"],
  ["send_rate", "Messages per second per connection", "float"],
  ["send_burst", "Message burst per connection", "int"],
  ["max_group_size", "Members per group", "int"],
  ["max_devices_per_user", "Connections per user", "int"],
  ["max_upload_bytes", "Largest uploaded file (bytes)", "int"],
];

async function appPage(id) {
  let [{ app }, { secrets }] = await Promise.all([api.app(id), api.secrets(id)]);
  const manage = canManage();
  if (app.tenant_id !== state.tenantId && isOperator()) {
    state.tenantId = app.tenant_id;
    renderChrome();
  }
  const out = [...heading(app.name, `App ${app.id}`)];

  // Summary, enable/disable.
  const statusSlot = h("div");
  const status = h("dd", statusBadge(app));
  const summary = h(
    "section.card",
    { "aria-labelledby": "sum-title" },
    h("h2#sum-title", "Overview"),
    h(
      "dl.kv",
      h("dt", "App id"),
      h("dd", h("code", app.id)),
      h("dt", "App key"),
      h("dd", h("code", { "data-testid": "app-key" }, app.app_key), " ", copyButton(app.app_key, "app key")),
      h("dt", "Status"),
      status,
      h("dt", "Created"),
      h("dd", fmtTime(app.created_at)),
      h("dt", "Updated"),
      h("dd", { "data-testid": "updated" }, fmtTime(app.updated_at)),
    ),
  );
  if (manage) {
    const toggle = actionButton(app.disabled ? "Enable app" : "Disable app", statusSlot, async () => {
      const disabling = !app.disabled;
      if (disabling && !(await confirmDialog("Disable this app?", "Its users' connections end at once and new logins and server API calls are refused until you enable it again.", "Disable app"))) return;
      ({ app } = await api.updateApp(app.id, { disabled: disabling }));
      status.replaceChildren(statusBadge(app));
      toggle.textContent = app.disabled ? "Enable app" : "Disable app";
      toggle.className = app.disabled ? "primary" : "danger";
      toast(app.disabled ? "App disabled" : "App enabled");
    }, app.disabled ? "primary" : "danger");
    summary.append(h("div.actions", toggle), statusSlot);
  }
  out.push(summary);

  // Secrets.
  const secSlot = h("div");
  const revealSlot = h("div");
  const secBody = h("tbody");
  const renderSecrets = () => {
    secBody.replaceChildren(
      ...secrets.map((s) => {
        const rowSlot = h("div");
        const actions = h("td");
        if (manage && !s.revoked_at) {
          actions.append(
            actionButton("Rotate", rowSlot, async () => rotate(s)),
            " ",
            actionButton("Revoke", rowSlot, async () => revoke(s), "danger"),
          );
        }
        actions.append(rowSlot);
        return h(
          "tr",
          { "data-secret": s.id },
          h("td", h("code", "…" + s.hint)),
          h("td", fmtTime(s.created_at)),
          h("td", s.revoked_at ? h("span.badge.off", "revoked " + fmtTime(s.revoked_at)) : h("span.badge.on", "active")),
          manage ? actions : null,
        );
      }),
    );
  };
  const reloadSecrets = async () => {
    ({ secrets } = await api.secrets(app.id));
    renderSecrets();
  };
  const create = async () => {
    const { secret } = await api.createSecret(app.id);
    await reloadSecrets();
    revealSlot.replaceChildren(secretReveal(secret));
    revealSlot.querySelector("button")?.focus();
    return secret;
  };
  const revoke = async (s) => {
    if (!(await confirmDialog("Revoke this secret?", `Requests signed with the secret …${s.hint} are refused from now on, and client sessions whose token it signed end.`, "Revoke secret"))) return false;
    await api.revokeSecret(app.id, s.id);
    await reloadSecrets();
    toast(`Secret …${s.hint} revoked`);
    return true;
  };
  const rotate = async (old) => {
    if (secrets.filter((x) => !x.revoked_at).length >= MAX_ACTIVE_SECRETS) {
      // No room for a second secret beside this one: revoke, then replace.
      const ok = await confirmDialog(
        "Revoke and replace this secret?",
        `The app has ${MAX_ACTIVE_SECRETS} active secrets, the most it may have. Rotating revokes …${old.hint} now (requests signed with it are refused and sessions whose token it signed end), then creates its replacement.`,
        "Revoke and replace",
      );
      if (!ok) return;
      await api.revokeSecret(app.id, old.id);
      await create();
      toast(`Secret …${old.hint} revoked and replaced`);
      return;
    }
    const secret = await create();
    const revSlot = h("div");
    const done = h("p.muted");
    const both = h("p", `Both secrets are valid now. Once your servers sign with the new one, revoke the old secret …${old.hint}.`);
    const revokeOld = actionButton(`Revoke the old secret …${old.hint} now`, revSlot, async () => {
      if (await revoke(old)) {
        revokeOld.remove();
        both.remove();
        done.textContent = `The old secret …${old.hint} is revoked.`;
      }
    }, "danger");
    revealSlot.replaceChildren(
      secretReveal(
        secret,
        h("div", both, revokeOld, done, revSlot),
      ),
    );
    revealSlot.querySelector("button")?.focus();
  };
  renderSecrets();
  const secSection = h(
    "section.card",
    { "aria-labelledby": "sec-title" },
    h("h2#sec-title", "Secrets"),
    h("p.muted", `Your servers sign server API requests and client tokens with an app secret; an app has at most ${MAX_ACTIVE_SECRETS} active. Rotate by creating a new secret, deploying it, then revoking the old one.`),
    h(
      "table",
      { "aria-labelledby": "sec-title" },
      h("thead", h("tr", h("th", { scope: "col" }, "Secret"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Status"), manage ? h("th", { scope: "col" }, "Actions") : null)),
      secBody,
    ),
  );
  if (manage) secSection.append(h("div.actions", actionButton("Create secret", secSlot, create, "primary")), secSlot);
  secSection.append(revealSlot);
  out.push(secSection);

  // Limits.
  out.push(limitsSection(app, manage, (a) => (app = a)));
  out.push(settingsSection(app, manage, (a) => (app = a)));
  out.push(
    h(
      "section.card",
      { "aria-labelledby": "users-title" },
      h("h2#users-title", "More of this app"),
      h("p", "Its end users (search, block, revoke tokens, test tokens), conversations (history, keyword search, recall, system messages, a test chat), webhooks and moderation, push credentials and log, customer service, chat rooms and daily usage."),
      h(
        "div.actions",
        [["users", "Users"], ["messages", "Messages"], ["webhooks", "Webhooks"], ["push", "Push"], ["support", "Customer service"], ["rooms", "Chat rooms"], ["usage", "Usage"]].map(([p, l]) =>
          h("a.button", { href: `#/apps/${encodeURIComponent(app.id)}/${p}` }, l),
        ),
      ),
    ),
  );
  return out;
}

function limitsSection(app, manage, updated) {
  const sec = h("section.card", { "aria-labelledby": "lim-title" }, h("h2#lim-title", "Limits"));
  const rows = LIMITS.map(([k, label, kind]) => {
    const own = app.limits?.[k];
    const eff = app.effective_limits?.[k];
    if (!manage) return h("tr", h("th", { scope: "row" }, label), h("td", own ? String(own) : "default"), h("td", { "data-limit": k }, String(eff ?? "")));
    const input = h("input", {
      name: k,
      "data-field": "limits." + k,
      type: "number",
      min: "0",
      step: kind === "int" ? "1" : "any",
      value: own ? String(own) : "",
      placeholder: `default (${eff ?? "?"})`,
      inputmode: kind === "int" ? "numeric" : "decimal",
    });
    return h("tr", h("th", { scope: "row" }, h("label", { for: (input.id = "lim-" + k) }, label)), h("td", input), h("td", { "data-limit": k }, String(eff ?? "")));
  });
  const table = h(
    "table.limits",
    { "aria-labelledby": "lim-title" },
    h("thead", h("tr", h("th", { scope: "col" }, "Limit"), h("th", { scope: "col" }, manage ? "This app's value (empty: default)" : "This app's value"), h("th", { scope: "col" }, "In effect"))),
    h("tbody", rows),
  );
  if (!manage) {
    sec.append(table);
    return sec;
  }
  const form = h("form", { novalidate: true }, table, h("div.actions", h("button.primary", { type: "submit" }, "Save limits")));
  onSubmit(form, async (fd) => {
    const limits = {};
    for (const [k, , kind] of LIMITS) {
      const v = String(fd.get(k) ?? "").trim();
      if (v === "") continue;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${k}: not a number`);
      limits[k] = kind === "int" ? Math.trunc(n) : n;
    }
    const { app: a } = await api.updateApp(app.id, { limits });
    updated(a);
    for (const [k] of LIMITS) {
      form.querySelector(`[data-limit="${k}"]`).textContent = String(a.effective_limits?.[k] ?? "");
      const input = form.elements[k];
      input.value = a.limits?.[k] ? String(a.limits[k]) : "";
      input.placeholder = `default (${a.effective_limits?.[k] ?? "?"})`;
    }
    toast("Limits saved");
  });
  sec.append(form);
  return sec;
}

function settingsSection(app, manage, updated) {
  const s = app.settings || {};
  const sec = h("section.card", { "aria-labelledby": "set-title" }, h("h2#set-title", "Settings"));
  if (!manage) {
    sec.append(
      h(
        "dl.kv",
        h("dt", "Name"),
        h("dd", app.name),
        h("dt", "Device policy"),
        h("dd", s.device_policy || "kick_oldest (default)"),
        h("dt", "Allowed origins"),
        h("dd", (s.allowed_origins || []).join(", ") || "any"),
        h("dt", "Longest token lifetime"),
        h("dd", s.max_token_lifetime_seconds ? `${s.max_token_lifetime_seconds} s` : "30 days (default)"),
        h("dt", "Upload types"),
        h("dd", (s.upload_types || []).join(", ") || "default (images, audio, video, PDF, text, office documents, ZIP)"),
      ),
    );
    return sec;
  }
  const policy = h(
    "select",
    { name: "device_policy", "data-field": "settings.device_policy" },
    h("option", { value: "" }, "default (kick oldest)"),
    h("option", { value: "kick_oldest", selected: s.device_policy === "kick_oldest" }, "kick_oldest: the oldest connection is closed"),
    h("option", { value: "refuse", selected: s.device_policy === "refuse" }, "refuse: the new connection is refused"),
  );
  const form = h(
    "form",
    { novalidate: true },
    field("Name", h("input", { name: "name", value: app.name, required: true, maxlength: 128 })),
    field("When a user exceeds the connections per user", policy),
    field(
      "Allowed browser origins",
      h("textarea", { name: "allowed_origins", "data-field": "settings.allowed_origins", rows: 3, text: (s.allowed_origins || []).join("\n") }),
      "One origin per line, like https://chat.example.com. Empty allows any origin.",
    ),
    field(
      "Longest client token lifetime (seconds)",
      h("input", { name: "max_token_lifetime_seconds", "data-field": "settings.max_token_lifetime_seconds", type: "number", min: "0", step: "1", value: s.max_token_lifetime_seconds ? String(s.max_token_lifetime_seconds) : "", placeholder: "default (2592000, 30 days)" }),
    ),
    field(
      "Media types users may upload",
      h("textarea", { name: "upload_types", "data-field": "settings.upload_types", rows: 3, text: (s.upload_types || []).join("\n") }),
      "One per line, like image/* or application/pdf. Empty allows the default list (images, audio, video, PDF, text, office documents, ZIP).",
    ),
    h("div.actions", h("button.primary", { type: "submit" }, "Save settings")),
  );
  onSubmit(form, async (fd) => {
    // The API replaces the settings object whole: keep what this form does
    // not edit (the push settings).
    const next = { ...(app.settings || {}) };
    next.device_policy = fd.get("device_policy") || undefined;
    const origins = String(fd.get("allowed_origins") || "").split(/\s+/).filter(Boolean);
    next.allowed_origins = origins.length ? origins : undefined;
    const life = String(fd.get("max_token_lifetime_seconds") || "").trim();
    next.max_token_lifetime_seconds = life === "" ? undefined : Number(life);
    const types = String(fd.get("upload_types") || "").split(/\s+/).filter(Boolean);
    next.upload_types = types.length ? types : undefined;
    const { app: a } = await api.updateApp(app.id, { name: fd.get("name"), settings: next });
    updated(a);
    app = a;
    document.querySelector("main h1").textContent = a.name;
    toast("Settings saved");
  });
  sec.append(form);
  return sec;
}

const ROLES = ["owner", "admin", "viewer"];

async function membersPage() {
  if (!state.tenantId) return heading("Members");
  const { members } = await api.members(state.tenantId);
  const manage = canManage();
  const out = [...heading("Members", `Console members of tenant ${tenantName()}`)];
  const revealSlot = h("div");
  const tbody = h("tbody");
  const empty = h("p.muted", "No members yet.");
  const render = () => {
    empty.hidden = members.length > 0;
    tbody.replaceChildren(
      ...members.map((m) => {
        const slot = h("div");
        const self = m.id === state.me.id;
        let role = h("span.badge", m.role);
        const actions = h("td");
        if (manage) {
          const sel = h("select", { "aria-label": `Role of ${m.email}` }, ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)));
          role = h("div.rowform", sel, actionButton("Change role", slot, async () => {
            const { member } = await api.updateMember(state.tenantId, m.id, { role: sel.value });
            Object.assign(m, member);
            toast(`${m.email} is now ${member.role}`);
          }));
          actions.append(
            actionButton("End sessions", slot, async () => {
              const { sessions_ended: n } = await api.endSessions(state.tenantId, m.id);
              toast(`${n} session${n === 1 ? "" : "s"} of ${m.email} ended`);
            }),
            " ",
            actionButton("Reset password", slot, async () => {
              if (!(await confirmDialog("Reset this member's password?", `A new password is generated for ${m.email} and all its sessions end.`, "Reset password"))) return;
              const res = await api.resetPassword(state.tenantId, m.id);
              revealSlot.replaceChildren(
                h("section.reveal", h("h3", `New password of ${m.email} — shown once`), h("div.copyrow", h("code.secret", res.password), copyButton(res.password, "password"))),
              );
            }),
            " ",
            self
              ? null
              : actionButton("Remove", slot, async () => {
                  if (!(await confirmDialog("Remove this member?", `${m.email} loses access to this tenant at once.`, "Remove member"))) return;
                  await api.removeMember(state.tenantId, m.id);
                  members.splice(members.indexOf(m), 1);
                  render();
                  toast(`${m.email} removed`);
                }, "danger"),
            slot,
          );
        }
        return h("tr", { "data-member": m.email }, h("td", m.email, self ? " (you)" : ""), h("td", m.name), h("td", role), h("td", fmtTime(m.created_at)), manage ? actions : null);
      }),
    );
  };
  render();
  if (manage) {
    const form = h(
      "form.card",
      { "aria-labelledby": "add-member", novalidate: true },
      h("h2#add-member", "Add a member"),
      h(
        "div.grid",
        field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "off" })),
        field("Name", h("input", { name: "name", autocomplete: "off" })),
        field("Role", h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r, selected: r === "viewer" }, r)))),
        field("Initial password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true }), "12 to 72 characters; the member can change it."),
      ),
      h("div.actions", h("button.primary", { type: "submit" }, "Add member")),
    );
    onSubmit(form, async (fd) => {
      const { member } = await api.addMember(state.tenantId, { email: fd.get("email"), name: fd.get("name"), role: fd.get("role"), password: fd.get("password") });
      members.push(member);
      render();
      form.reset();
      toast(`${member.email} added as ${member.role}`);
    });
    out.push(form);
  }
  out.push(
    revealSlot,
    h(
      "table",
      { "aria-label": "Members" },
      h("thead", h("tr", ["Email", "Name", "Role", "Added", ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
  );
  out.push(empty);
  return out;
}

function accountPage() {
  const m = state.me;
  const form = h(
    "form.card.narrow",
    { "aria-labelledby": "pw-title", novalidate: true },
    h("h2#pw-title", "Change your password"),
    field("Current password", h("input", { name: "current_password", type: "password", autocomplete: "current-password", required: true })),
    field("New password", h("input", { name: "new_password", type: "password", autocomplete: "new-password", required: true }), "12 to 72 characters."),
    field("Repeat the new password", h("input", { name: "repeat", type: "password", autocomplete: "new-password", required: true })),
    h("div.actions", h("button.primary", { type: "submit" }, "Change password")),
  );
  onSubmit(form, async (fd) => {
    if (fd.get("new_password") !== fd.get("repeat")) {
      const err = new Error("The new passwords differ.");
      err.field = "repeat";
      throw err;
    }
    const { sessions_ended: n } = await api.changePassword(fd.get("current_password"), fd.get("new_password"));
    form.reset();
    toast(`Password changed; ${n} other session${n === 1 ? "" : "s"} ended`);
  });
  const out = h("button", { type: "button" }, "Sign out");
  out.addEventListener("click", signOut);
  return [
    ...heading("Account"),
    h("section.card", h("dl.kv", h("dt", "Email"), h("dd", m.email), h("dt", "Name"), h("dd", m.name || "—"), h("dt", "Role"), h("dd", m.role), h("dt", "Member id"), h("dd", h("code", m.id)))),
    form,
    h("div.actions", out),
  ];
}

async function tenantsPage() {
  if (!isOperator()) return [...heading("Tenants"), h("p", "Only the operator manages tenants.")];
  await loadTenants();
  renderChrome();
  const out = [...heading("Tenants")];
  const form = h("form.card.inline-form", { "aria-labelledby": "new-tenant" }, h("h2#new-tenant", "Create a tenant"), field("Tenant name", h("input", { name: "name", required: true })), h("div.actions", h("button.primary", { type: "submit" }, "Create tenant")));
  onSubmit(form, async (fd) => {
    const { tenant } = await api.createTenant(fd.get("name"));
    state.tenants.push(tenant);
    state.tenantId = tenant.id;
    sessionStorage.setItem(TENANT_KEY, tenant.id);
    render();
    toast(`Tenant ${tenant.name} created`);
  });
  out.push(
    form,
    h(
      "table",
      { "aria-label": "Tenants" },
      h("thead", h("tr", ["Name", "Id", "Created"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", state.tenants.map((t) => h("tr", h("td", t.name, t.id === state.tenantId ? " (current)" : ""), h("td", h("code", t.id)), h("td", fmtTime(t.created_at))))),
    ),
  );
  return out;
}

// ---- users and messages ----------------------------------------------------

function blockedBadge(u) {
  return u.blocked ? h("span.badge.off", "blocked") : h("span.badge.on", "active");
}

async function usersPage(appId) {
  const { app } = await api.app(appId);
  const out = [appSubnav(app, "users"), ...heading("Users", `End users of ${app.name}. Search by the start of their id.`)];
  const tbody = h("tbody");
  const empty = h("p.muted", { hidden: true });
  const pager = h("div.actions");
  const listSlot = h("div");
  // cursors[i] is the cursor of page i; the last page's next cursor is next.
  let prefix = "";
  let cursors = [""];
  let next = "";
  const load = async () => {
    const page = await api.users(app.id, { prefix, cursor: cursors[cursors.length - 1] });
    next = page.next_cursor;
    tbody.replaceChildren(
      ...page.users.map((u) =>
        h(
          "tr",
          { "data-user": u.id },
          h("td", h("a", { href: `#/apps/${encodeURIComponent(app.id)}/users/${encodeURIComponent(u.id)}` }, u.id)),
          h("td", u.name || "—"),
          h("td", blockedBadge(u)),
          h("td", fmtTime(u.created_at)),
        ),
      ),
    );
    empty.hidden = page.users.length > 0;
    empty.textContent = prefix ? `No user id starts with “${prefix}”.` : "This app has no users yet. Your servers create them through the server API (POST /v1/users).";
    pager.replaceChildren();
    if (cursors.length > 1) {
      pager.append(
        actionButton("Previous page", listSlot, async () => {
          cursors.pop();
          await load();
        }),
      );
    }
    if (next) {
      pager.append(
        actionButton("Next page", listSlot, async () => {
          cursors.push(next);
          await load();
        }),
      );
    }
    pager.append(h("span.muted", { "data-testid": "page-no" }, `Page ${cursors.length}`));
  };
  const form = h(
    "form.card.inline-form",
    { "aria-labelledby": "user-search", role: "search" },
    h("h2#user-search", "Find users"),
    field("User id starts with", h("input", { name: "prefix", type: "search", autocomplete: "off", "data-field": "prefix" })),
    h("div.actions", h("button.primary", { type: "submit" }, "Search")),
  );
  onSubmit(form, async (fd) => {
    prefix = String(fd.get("prefix") || "").trim();
    cursors = [""];
    await load();
  });
  await load();
  out.push(
    form,
    h(
      "table",
      { "aria-label": "Users" },
      h("thead", h("tr", ["Id", "Name", "Status", "Created"].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
    empty,
    pager,
    listSlot,
  );
  return out;
}

/** Asks whether to delete a user, and whether to erase its messages; resolves to null (cancelled) or {erase}. */
function deleteUserDialog(id) {
  return new Promise((resolve) => {
    const erase = h("input#erase-messages", { type: "checkbox", name: "erase_messages" });
    const ok = h("button.danger", { type: "submit", value: "ok" }, "Delete user");
    const dlg = h(
      "dialog",
      { "aria-labelledby": "dlg-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2#dlg-title", "Delete this user?"),
        h("p", `${id} is deleted at once: its live sessions end and its tokens stop working. This cannot be undone.`),
        h("div.check", erase, h("label.inline", { for: "erase-messages" }, "Also erase the messages this user sent")),
        h("div.actions", h("button", { type: "submit", value: "cancel" }, "Cancel"), ok),
      ),
    );
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(dlg.returnValue === "ok" ? { erase: erase.checked } : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** The user page's presence, push devices and conversations (paged). */
function userActivity(app, u, dev, convs) {
  const convLink = (c) => h("a", { href: `#/apps/${encodeURIComponent(app.id)}/messages/${encodeURIComponent(c)}` }, c);
  const convBody = h("tbody");
  const more = h("div.actions");
  const slot = h("div");
  const showConvs = (page) => {
    convBody.append(
      ...page.conversations.map((c) =>
        h(
          "tr",
          { "data-conv": c.conv_id },
          h("td", convLink(c.conv_id)),
          h("td", c.members.length ? c.members.join(", ") : h("span.muted", "a group")),
          h("td", String(c.max_seq)),
          h("td", String(c.read_seq)),
          h("td", c.muted ? "muted" : "—"),
        ),
      ),
    );
    more.replaceChildren(...(page.next_cursor ? [actionButton("More conversations", slot, async () => showConvs(await api.userConversations(app.id, u.id, page.next_cursor)))] : []));
  };
  showConvs(convs);
  const col = (c) => h("th", { scope: "col" }, c);
  return h(
    "section.card",
    { "aria-labelledby": "activity-title" },
    h("h2#activity-title", "Devices and conversations"),
    h("dl.kv", h("dt", "Online now"), h("dd", { "data-testid": "user-online" }, h(dev.online ? "span.badge.on" : "span.badge", dev.online ? "online" : "offline"))),
    h("h3#devices-title", "Push devices"),
    dev.devices.length
      ? h(
          "table",
          { "aria-labelledby": "devices-title" },
          h("thead", h("tr", ["Device id", "Platform", "Provider", "Token", "Registered"].map(col))),
          h("tbody", dev.devices.map((d) => h("tr", { "data-device": d.id }, h("td", h("code", d.id)), h("td", d.platform), h("td", d.provider + (d.environment ? ` (${d.environment})` : "")), h("td", h("code", "…" + d.token_hint)), h("td", fmtTime(d.created_at))))),
        )
      : h("p.muted", "No device registered for push."),
    h("h3#user-convs-title", "Conversations"),
    h("table", { "aria-labelledby": "user-convs-title" }, h("thead", h("tr", ["Conversation", "Members", "Newest seq", "Read up to", "Push"].map(col))), convBody),
    convs.conversations.length ? null : h("p.muted", "No conversations yet."),
    more,
    slot,
  );
}

async function userPage(appId, userId) {
  const [{ app }, res, dev, convs] = await Promise.all([api.app(appId), api.user(appId, userId), api.userDevices(appId, userId), api.userConversations(appId, userId)]);
  let u = res.user;
  const manage = canManage();
  const out = [appSubnav(app, "users"), ...heading(u.id, `A user of ${app.name}`)];
  const status = h("dd", { "data-testid": "user-status" }, blockedBadge(u));
  const md = Object.entries(u.metadata || {});
  out.push(
    h(
      "section.card",
      { "aria-labelledby": "profile-title" },
      h("h2#profile-title", "Profile"),
      h(
        "dl.kv",
        h("dt", "Id"),
        h("dd", h("code", u.id)),
        h("dt", "Name"),
        h("dd", u.name || "—"),
        h("dt", "Avatar URL"),
        h("dd", u.avatar_url ? h("code", u.avatar_url) : "—"),
        h("dt", "Metadata"),
        h("dd", md.length ? h("dl.kv", md.flatMap(([k, v]) => [h("dt", k), h("dd", v)])) : "—"),
        h("dt", "Status"),
        status,
        h("dt", "Created"),
        h("dd", fmtTime(u.created_at)),
        h("dt", "Updated"),
        h("dd", { "data-testid": "user-updated" }, fmtTime(u.updated_at)),
        h("dt", "System conversation"),
        h("dd", h("a", { href: `#/apps/${encodeURIComponent(app.id)}/messages/${encodeURIComponent("s:" + u.id)}` }, h("code", "s:" + u.id))),
      ),
    ),
    userActivity(app, u, dev, convs),
  );
  if (!manage) return out;

  const slot = h("div");
  const revealSlot = h("div");
  const block = actionButton(u.blocked ? "Unblock" : "Block", slot, async () => {
    const blocking = !u.blocked;
    if (blocking && !(await confirmDialog("Block this user?", `${u.id} cannot log in or be issued tokens until unblocked, and its live sessions end at once.`, "Block user"))) return;
    ({ user: u } = await api.blockUser(app.id, u.id, blocking));
    status.replaceChildren(blockedBadge(u));
    block.textContent = u.blocked ? "Unblock" : "Block";
    block.className = u.blocked ? "primary" : "danger";
    toast(u.blocked ? `${u.id} is blocked; its sessions were closed` : `${u.id} is unblocked`);
  }, u.blocked ? "primary" : "danger");
  const revoke = actionButton("Revoke tokens", slot, async () => {
    if (!(await confirmDialog("Revoke this user's tokens?", `Every token of ${u.id} issued until now stops working and its live sessions end. Its devices must log in with a new token.`, "Revoke tokens"))) return;
    const { revoked_before: at } = await api.revokeTokens(app.id, u.id);
    toast(`Tokens issued before ${fmtTime(at)} are revoked`);
  }, "danger");
  const issue = actionButton("Issue a test token", slot, async () => {
    const { token: tok, expires_at: exp } = await api.testToken(app.id, u.id);
    revealSlot.replaceChildren(
      h(
        "section.reveal",
        { "aria-labelledby": "token-title" },
        h("h3#token-title", `Test token of ${u.id} — shown once`),
        h("p", `A client token to log in as this user (WebSocket /v1/connect), valid until ${fmtTime(exp)}. It is not stored: copy it now.`),
        h("div.copyrow", h("code.secret", { "data-testid": "test-token" }, tok), copyButton(tok, "token")),
      ),
    );
    revealSlot.querySelector("button")?.focus();
  });
  const del = actionButton("Delete user", slot, async () => {
    const choice = await deleteUserDialog(u.id);
    if (!choice) return;
    await api.deleteUser(app.id, u.id, choice.erase);
    toast(`${u.id} deleted` + (choice.erase ? " with its messages" : ""));
    location.hash = `#/apps/${encodeURIComponent(app.id)}/users`;
  }, "danger");
  out.push(
    h(
      "section.card",
      { "aria-labelledby": "uact-title" },
      h("h2#uact-title", "Actions"),
      h("div.actions", block, revoke, issue, del),
      slot,
      revealSlot,
    ),
  );
  return out;
}

async function messagesPage(appId, initialConv) {
  const { app } = await api.app(appId);
  const manage = canManage();
  const out = [appSubnav(app, "messages"), ...heading("Messages", `Look up a conversation of ${app.name} by its id: p:{user}:{user} for two users, s:{user} for a user's system messages, or a group's conversation id.`)];
  const PAGE = 20;
  let conv = "";
  let msgs = [];
  let older = false;
  let newer = false;
  const title = h("h2#conv-title", "Conversation");
  const tbody = h("tbody");
  const empty = h("p.muted", { hidden: true }, "No messages in this range.");
  const pager = h("div.actions");
  const pageSlot = h("div");
  const result = h("section.card", { "aria-labelledby": "conv-title", hidden: true }, title);

  const show = () => {
    title.replaceChildren("Conversation ", h("code", conv));
    result.hidden = false;
    empty.hidden = msgs.length > 0;
    tbody.replaceChildren(
      ...msgs.map((m) => {
        const rowSlot = h("div");
        const actions = h("td");
        if (manage && !m.recalled) {
          actions.append(
            actionButton("Recall", rowSlot, async () => {
              if (!(await confirmDialog(`Recall message ${m.seq}?`, "Its content is erased for everyone and the recall is pushed to the members' online devices.", "Recall message"))) return;
              const { message } = await api.recall(app.id, conv, m.seq);
              Object.assign(m, message);
              show();
              toast(`Message ${m.seq} recalled`);
            }, "danger"),
          );
        }
        actions.append(rowSlot);
        return h(
          "tr",
          { "data-seq": String(m.seq) },
          h("td", String(m.seq)),
          h("td", m.sender_id ? h("code", m.sender_id) : h("span.muted", "system")),
          h("td", m.type),
          h("td.content", m.recalled ? h("span.badge.off", "recalled") : m.content),
          h("td", fmtTime(m.created_at)),
          manage ? actions : null,
        );
      }),
    );
    pager.replaceChildren(
      ...[
        older && actionButton("Older messages", pageSlot, () => load({ order: "desc", to_seq: msgs[0].seq - 1 })),
        newer && actionButton("Newer messages", pageSlot, () => load({ order: "asc", from_seq: msgs[msgs.length - 1].seq + 1 })),
        actionButton("Newest", pageSlot, () => load({ order: "desc" })),
      ].filter(Boolean),
    );
  };
  // Loads a page: descending from to_seq (or the newest), or ascending from from_seq.
  const load = async (q) => {
    const page = await api.messages(app.id, conv, { ...q, limit: PAGE });
    const list = q.order === "desc" ? page.messages.slice().reverse() : page.messages;
    if (list.length === 0 && msgs.length && q.order === "asc") {
      newer = false;
      show();
      toast("No newer messages");
      return;
    }
    msgs = list;
    if (q.order === "desc") {
      older = page.has_more;
      newer = Boolean(q.to_seq);
    } else {
      newer = page.has_more;
      older = msgs.length > 0 && msgs[0].seq > 1;
    }
    show();
  };

  const convInput = h("input", { name: "conv", autocomplete: "off", required: true, value: initialConv || "", "data-field": "conv" });
  const lookup = h(
    "form.card.inline-form",
    { "aria-labelledby": "conv-lookup", role: "search", novalidate: true },
    h("h2#conv-lookup", "Look up a conversation"),
    field("Conversation id", convInput),
    h("div.actions", h("button.primary", { type: "submit" }, "Show messages")),
  );
  onSubmit(lookup, async (fd) => {
    const c = String(fd.get("conv") || "").trim();
    if (!c) {
      const err = new Error("conv: enter a conversation id");
      err.field = "conv";
      throw err;
    }
    conv = c;
    msgs = [];
    await load({ order: "desc" });
  });
  result.append(
    h(
      "table",
      { "aria-label": "Messages" },
      h("thead", h("tr", ["Seq", "Sender", "Type", "Content", "Sent", ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
    empty,
    pager,
    pageSlot,
  );
  out.push(lookup, result, searchSection(app, initialConv));

  if (manage) {
    const form = h(
      "form.card",
      { "aria-labelledby": "sys-title", novalidate: true },
      h("h2#sys-title", "Send a system message"),
      h("p.muted", "The message goes to the user's system conversation (s:{user}), through the same pipeline as the server API's system messages."),
      h(
        "div.grid",
        field("To user id", h("input", { name: "to_user_id", required: true, autocomplete: "off" })),
        field("Type", h("input", { name: "type", value: "text", required: true, autocomplete: "off" }), "Any type your clients understand, except notice."),
      ),
      field("Content", h("textarea", { name: "content", rows: 3 })),
      h("div.actions", h("button.primary", { type: "submit" }, "Send message")),
    );
    onSubmit(form, async (fd) => {
      const { message } = await api.sendSystem(app.id, { to_user_id: String(fd.get("to_user_id") || "").trim(), type: fd.get("type"), content: fd.get("content") });
      form.elements.content.value = "";
      toast(message.seq ? `Sent as message ${message.seq} of ${message.conv_id}` : "The message was dropped by moderation");
      if (message.seq) {
        conv = message.conv_id;
        convInput.value = conv;
        await load({ order: "desc" });
      }
    });
    out.push(form, testChatSection(app));
  }
  if (initialConv) {
    conv = initialConv;
    try {
      await load({ order: "desc" });
    } catch (err) {
      lookup.querySelector(".err-slot").replaceChildren(errorBox(err));
    }
  }
  return out;
}

// ---- router ------------------------------------------------------------------

let renderSeq = 0;
async function render(message) {
  const seq = ++renderSeq;
  const [, page = "", arg, sub, subArg] = location.hash.replace(/^#/, "").split("/");
  if (!token()) {
    renderChrome();
    main.replaceChildren(loginPage(message));
    main.querySelector("input")?.focus();
    return;
  }
  try {
    if (!state.me) await loadSession();
    renderChrome();
    let content;
    if (page === "apps" && arg && sub === "users" && subArg) content = await userPage(decodeURIComponent(arg), decodeURIComponent(subArg));
    else if (page === "apps" && arg && sub === "users") content = await usersPage(decodeURIComponent(arg));
    else if (page === "apps" && arg && sub === "messages") content = await messagesPage(decodeURIComponent(arg), subArg ? decodeURIComponent(subArg) : "");
    else if (page === "apps" && arg && sub === "webhooks") content = await webhooksPage(decodeURIComponent(arg), canManage());
    else if (page === "apps" && arg && sub === "push") content = await pushPage(decodeURIComponent(arg), canManage());
    else if (page === "apps" && arg && sub === "usage") content = await usagePage(decodeURIComponent(arg));
    else if (page === "apps" && arg && sub === "support") content = await supportPage(decodeURIComponent(arg), canManage());
    else if (page === "apps" && arg && sub === "rooms") content = await roomsPage(decodeURIComponent(arg), canManage());
    else if (page === "apps" && arg) content = await appPage(decodeURIComponent(arg));
    else if (page === "members") content = await membersPage();
    else if (page === "account") content = accountPage();
    else if (page === "tenants") content = await tenantsPage();
    else content = await appsPage();
    if (seq !== renderSeq) return;
    main.replaceChildren(...[].concat(content).flat(Infinity).filter((n) => n instanceof Node));
  } catch (err) {
    if (seq !== renderSeq || !token()) return;
    main.replaceChildren(h("h1", { tabindex: "-1" }, "Something went wrong"), errorBox(err), h("p", h("a", { href: "#/apps" }, "Back to the apps")));
  }
  main.querySelector("h1")?.focus();
}

window.addEventListener("hashchange", () => render());
if (token() && (location.hash === "" || location.hash === "#/login")) location.hash = "#/apps";
render();
