// The app's Push page: the push provider credentials (upload an APNs .p8
// key or an FCM service-account JSON file, check them against the
// provider, remove them), the push log of every notification step, and the
// outbox where notifications end while the app has no credential (the
// embedded mode's stand-in for APNs and FCM). Viewers may read and check.
import { api } from "./api.js";
import { h, field, fmtTime } from "./dom.js";
import { actionButton, appSubnav, confirmDialog, errorBox, heading, onSubmit, toast } from "./ui.js";

const PROVIDERS = { apns: "Apple Push Notification service (APNs)", fcm: "Firebase Cloud Messaging (FCM)" };

/** Reads the file chosen in a form's file input; an error names the field. */
async function fileText(fd, name, what) {
  const f = fd.get(name);
  if (!(f instanceof File) || f.size === 0) {
    const err = new Error(`${name}: choose the ${what} file`);
    err.field = name;
    throw err;
  }
  if (f.size > 64 * 1024) {
    const err = new Error(`${name}: the file is larger than 64 KiB; is it the right one?`);
    err.field = name;
    throw err;
  }
  return f.text();
}

export async function pushPage(appId, manage) {
  const [{ app }, { credentials }] = await Promise.all([api.app(appId), api.pushCredentials(appId)]);
  let creds = credentials;
  const out = [appSubnav(app, "push"), ...heading("Push", `Offline notifications of ${app.name}: provider credentials, what was sent, and the outbox.`)];

  const credBody = h("tbody");
  const credSlot = h("div");
  const renderCreds = () => {
    credBody.replaceChildren(
      ...(creds.length
        ? creds.map((c) => {
            const result = h("span", { "data-testid": `check-${c.provider}` });
            const actions = h(
              "td",
              actionButton("Check", credSlot, async () => {
                result.replaceChildren();
                const r = await api.checkPushCredential(app.id, c.provider);
                result.replaceChildren(r.ok ? h("span.badge.on", "works") : h("span.badge.off", "refused: " + r.error));
              }),
              " ",
              manage
                ? actionButton("Remove", credSlot, async () => {
                    if (!(await confirmDialog("Remove this credential?", `Notifications for ${PROVIDERS[c.provider]} devices are recorded in the outbox instead of sent.`, "Remove credential"))) return;
                    await api.deletePushCredential(app.id, c.provider);
                    creds = creds.filter((x) => x.provider !== c.provider);
                    renderCreds();
                    toast("Credential removed");
                  }, "danger")
                : null,
              " ",
              result,
            );
            return h(
              "tr",
              { "data-provider": c.provider },
              h("th", { scope: "row" }, PROVIDERS[c.provider] || c.provider),
              h("td", h("dl.kv", Object.entries(c.info).flatMap(([k, v]) => [h("dt", k), h("dd", h("code", v))]))),
              h("td", fmtTime(c.updated_at)),
              actions,
            );
          })
        : [h("tr", h("td", { colspan: 4 }, "No credentials: notifications are recorded in the outbox below."))]),
    );
  };
  renderCreds();
  const credSec = h(
    "section.card",
    { "aria-labelledby": "cred-title" },
    h("h2#cred-title", "Credentials"),
    h("p.muted", "Keys are sealed with the installation's master key and never shown again; only what identifies them is."),
    h("table", { "aria-labelledby": "cred-title" }, h("thead", h("tr", ["Provider", "Identifies", "Updated", "Actions"].map((c) => h("th", { scope: "col" }, c)))), credBody),
    credSlot,
  );
  const saved = (credential) => {
    creds = [...creds.filter((x) => x.provider !== credential.provider), credential].sort((a, b) => a.provider.localeCompare(b.provider));
    renderCreds();
    toast(`${PROVIDERS[credential.provider]} credential saved`);
  };
  if (manage) {
    const apns = h(
      "form.card",
      { "aria-labelledby": "apns-title", novalidate: true },
      h("h3#apns-title", "Upload an APNs key"),
      h(
        "div.grid",
        field("Key file (.p8)", h("input", { name: "key", type: "file", accept: ".p8", required: true, "data-field": "key" })),
        field("Key id", h("input", { name: "key_id", required: true, autocomplete: "off", maxlength: 10, "data-field": "key_id" }), "10 characters, from Apple's developer account."),
        field("Team id", h("input", { name: "team_id", required: true, autocomplete: "off", maxlength: 10, "data-field": "team_id" })),
        field("Topic (bundle id)", h("input", { name: "topic", required: true, autocomplete: "off", "data-field": "topic" })),
      ),
      h("div.actions", h("button.primary", { type: "submit" }, "Save APNs key")),
    );
    onSubmit(apns, async (fd) => {
      const key = await fileText(fd, "key", ".p8 key");
      const { credential } = await api.setPushCredential(app.id, "apns", { key, key_id: fd.get("key_id"), team_id: fd.get("team_id"), topic: fd.get("topic") });
      apns.reset();
      saved(credential);
    });
    const fcm = h(
      "form.card",
      { "aria-labelledby": "fcm-title", novalidate: true },
      h("h3#fcm-title", "Upload an FCM service account"),
      field("Service account key file (JSON)", h("input", { name: "service_account", type: "file", accept: ".json,application/json", required: true, "data-field": "service_account" }), "From the Firebase console: Project settings, Service accounts, Generate new private key."),
      h("div.actions", h("button.primary", { type: "submit" }, "Save FCM service account")),
    );
    onSubmit(fcm, async (fd) => {
      const sa = await fileText(fd, "service_account", "service account JSON");
      const { credential } = await api.setPushCredential(app.id, "fcm", { service_account: sa });
      fcm.reset();
      saved(credential);
    });
    credSec.append(apns, fcm);
  }
  out.push(credSec, pagedSection(app, "log"), pagedSection(app, "outbox"));
  return out;
}

/** The push log or the outbox: a filter form and a table paged by cursor. */
function pagedSection(app, which) {
  const isLog = which === "log";
  const title = isLog ? "Push log" : "Outbox";
  const id = `${which}-title`;
  const slot = h("div");
  const tbody = h("tbody");
  const pager = h("div.actions");
  let q = {};
  let cursors = [""];
  const cols = isLog ? ["Time", "User", "Conversation", "Seq", "Device", "Provider", "Status", "Reason"] : ["Created", "User", "Conversation", "Seq", "Sender", "Preview", "Badge"];
  const load = async () => {
    const cursor = cursors[cursors.length - 1];
    const page = await (isLog ? api.pushLog : api.pushOutbox)(app.id, { ...q, ...(cursor ? { cursor } : {}) });
    tbody.replaceChildren(
      ...(page.entries.length
        ? page.entries.map((e) =>
            isLog
              ? h("tr", h("td", fmtTime(e.at)), h("td", h("code", e.user_id)), h("td", h("code", e.conv_id)), h("td", String(e.seq)), h("td", e.device_id || "—"), h("td", e.provider || "—"),
                  h("td", h(e.status === "sent" || e.status === "recorded" ? "span.badge.on" : e.status === "queued" ? "span.badge" : "span.badge.off", e.status)), h("td", e.reason || ""))
              : h("tr", h("td", fmtTime(e.created_at)), h("td", h("code", e.user_id)), h("td", h("code", e.conv_id)), h("td", String(e.seq)), h("td", e.sender_id ? h("code", e.sender_id) : "system"),
                  h("td.content", e.preview || h("span.muted", `(${e.type})`)), h("td", String(e.badge))),
          )
        : [h("tr", h("td", { colspan: cols.length }, isLog ? "No push log entries." : "The outbox is empty."))]),
    );
    pager.replaceChildren(
      ...[
        cursors.length > 1 &&
          actionButton("Previous page", slot, async () => {
            cursors.pop();
            await load();
          }),
        page.next_cursor &&
          actionButton("Next page", slot, async () => {
            cursors.push(page.next_cursor);
            await load();
          }),
        actionButton("Refresh", slot, load),
      ].filter(Boolean),
    );
  };
  const form = h(
    "form.inline-form",
    { role: "search", "aria-label": `Filter the ${title.toLowerCase()}`, novalidate: true },
    field("User id", h("input", { name: "user_id", autocomplete: "off", "data-field": "user_id" })),
    isLog ? field("Conversation id", h("input", { name: "conv_id", autocomplete: "off", "data-field": "conv_id" })) : null,
    h("div.actions", h("button", { type: "submit" }, "Filter")),
  );
  onSubmit(form, async (fd) => {
    q = {};
    for (const k of ["user_id", "conv_id"]) {
      const v = String(fd.get(k) || "").trim();
      if (v) q[k] = v;
    }
    cursors = [""];
    await load();
  });
  const sec = h(
    "section.card",
    { "aria-labelledby": id, "data-testid": `push-${which}` },
    h(`h2#${id}`, title),
    h("p.muted", isLog ? "Every step of every offline notification: queued for a device, sent, failed with the provider's reason, token removed, suppressed, or recorded in the outbox." : "Notifications recorded while the app had no credential for the user's devices, as they would have been sent."),
    form,
    h("table", { "aria-labelledby": id }, h("thead", h("tr", cols.map((c) => h("th", { scope: "col" }, c)))), tbody),
    pager,
    slot,
  );
  load().catch((err) => slot.replaceChildren(errorBox(err)));
  return sec;
}
