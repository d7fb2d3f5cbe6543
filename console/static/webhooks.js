// The app's Webhooks page: endpoints (post events, the pre-send hook, the
// customer-service routing hook) with their secrets, event filters and
// delivery log with replay, the pre-send hook's policy, and the keyword
// rules of the built-in moderation. Viewers see everything but secrets and
// get no write action; the API enforces the roles on its own.
import { api } from "./api.js";
import { h, field, fmtTime } from "./dom.js";
import { actionButton, appSubnav, confirmDialog, copyButton, heading, onSubmit, toast } from "./ui.js";

const KINDS = {
  events: "Post events",
  pre_send: "Pre-send hook",
  routing: "Customer-service routing hook",
};

const OVERLAPS = [
  [0, "none: the old secret stops now"],
  [3600, "1 hour"],
  [86400, "1 day (default)"],
];

/** A new endpoint secret, shown once with a copy button. */
function webhookSecretReveal(w) {
  return h(
    "section.reveal",
    { "aria-labelledby": "wh-reveal-title" },
    h("h3#wh-reveal-title", "Signing secret of ", h("code", w.url), " — shown once"),
    h("p", "Your receiver verifies the webhook-signature header with it. Magpie shows only its last characters from now on."),
    h("div.copyrow", h("code.secret", { "data-testid": "webhook-secret" }, w.secret), copyButton(w.secret, "signing secret")),
  );
}

const statusBadge = (w) =>
  w.enabled ? h("span.badge.on", "enabled") : h("span.badge.off", "disabled" + (w.disabled_reason ? `: ${w.disabled_reason}` : ""));

export async function webhooksPage(appId, manage) {
  const [{ app }, list, kw] = await Promise.all([api.app(appId), api.webhooks(appId), api.keywords(appId)]);
  let hooks = list.webhooks;
  const eventTypes = list.event_types;
  const out = [
    appSubnav(app, "webhooks"),
    ...heading("Webhooks and moderation", `Where ${app.name} tells your servers what happens, asks them before a message is sent, and which words it blocks or masks.`),
  ];
  const revealSlot = h("div");
  const tbody = h("tbody");
  const empty = h("p.muted", "No endpoints yet.");
  const logCard = h("section.card", { "aria-labelledby": "log-title", hidden: true });
  const policySlot = h("div");

  const replace = (w) => {
    hooks = hooks.map((x) => (x.id === w.id ? w : x));
    render();
  };
  const render = () => {
    empty.hidden = hooks.length > 0;
    tbody.replaceChildren(...hooks.map(row));
    policySlot.replaceChildren(...hooks.filter((w) => w.kind === "pre_send").map(policyForm));
  };
  const row = (w) => {
    const slot = h("div");
    const secrets = h(
      "ul.plain",
      w.secrets.map((s, i) =>
        h(
          "li",
          h("code", s.hint),
          i === 0 ? " current" : ` old, signs until ${fmtTime(s.expires_at)} `,
          manage && i > 0
            ? actionButton("Revoke now", slot, async () => {
                if (!(await confirmDialog("Revoke the old secret?", `Deliveries stop carrying the signature of ${s.hint} at once.`, "Revoke secret"))) return;
                const { webhook } = await api.revokeWebhookSecret(app.id, w.id, s.id);
                replace(webhook);
                toast(`Secret ${s.hint} revoked`);
              }, "small danger")
            : null,
        ),
      ),
    );
    const actions = h("td", actionButton("Delivery log", slot, () => showLog(w)));
    if (manage) {
      const overlap = h("select", { "aria-label": `Overlap of the old secret of ${w.url}` }, OVERLAPS.map(([v, l]) => h("option", { value: String(v), selected: v === 86400 }, l)));
      actions.append(
        " ",
        actionButton(w.enabled ? "Disable" : "Enable", slot, async () => {
          const { webhook } = await api.updateWebhook(app.id, w.id, { enabled: !w.enabled });
          replace(webhook);
          toast(webhook.enabled ? "Endpoint enabled" : "Endpoint disabled");
        }),
        " ",
        w.kind === "events"
          ? actionButton("Edit events", slot, async () => {
              const events = await eventsDialog(w, eventTypes);
              if (!events) return;
              const { webhook } = await api.updateWebhook(app.id, w.id, { events });
              replace(webhook);
              toast("Event filter saved");
            })
          : null,
        " ",
        actionButton("Send test event", slot, async () => {
          const { event_id: ev } = await api.testWebhook(app.id, w.id);
          toast(`Test event ${ev} queued`);
        }),
        h("div.rowform", overlap, actionButton("Rotate secret", slot, async () => {
          const { webhook } = await api.rotateWebhookSecret(app.id, w.id, Number(overlap.value));
          replace(webhook);
          revealSlot.replaceChildren(webhookSecretReveal(webhook));
          revealSlot.querySelector("button")?.focus();
        })),
        actionButton("Delete", slot, async () => {
          if (!(await confirmDialog("Delete this endpoint?", `${w.url} gets no more deliveries and its delivery log is erased.`, "Delete endpoint"))) return;
          await api.deleteWebhook(app.id, w.id);
          hooks = hooks.filter((x) => x.id !== w.id);
          render();
          toast("Endpoint deleted");
        }, "danger"),
      );
    }
    actions.append(slot);
    return h(
      "tr",
      { "data-webhook": w.id },
      h("td", KINDS[w.kind] || w.kind, w.description ? h("div.muted", w.description) : null),
      h("td", h("code", w.url)),
      h("td", w.kind === "events" ? (w.events.length ? w.events.join(", ") : "every event") : `timeout ${w.timeout_ms} ms`),
      h("td", statusBadge(w), w.failures ? h("div.muted", `${w.failures} failures since ${fmtTime(w.failing_since)}`) : null),
      h("td", secrets),
      actions,
    );
  };

  // The delivery log of one endpoint, newest first, with replay.
  const showLog = async (w) => {
    const slot = h("div");
    const body = h("tbody");
    const pager = h("div.actions");
    let next = "";
    const load = async (before) => {
      const page = await api.webhookAttempts(app.id, w.id, before);
      next = page.next;
      body.append(
        ...page.attempts.map((a) =>
          h(
            "tr",
            { "data-attempt": a.id, "data-event": a.event_id },
            h("td", fmtTime(a.at)),
            h("td", h("code", a.event_type)),
            h("td", String(a.attempt)),
            h("td", h(a.outcome === "succeeded" ? "span.badge.on" : "span.badge.off", a.outcome)),
            h("td", a.status ? String(a.status) : "—"),
            h("td", `${a.latency_ms} ms`),
            h("td.content", a.error || a.response || ""),
            manage
              ? h(
                  "td",
                  actionButton("Replay", slot, async () => {
                    await api.replayWebhookEvent(app.id, w.id, a.event_id);
                    toast(`Event ${a.event_id} queued again`);
                  }),
                )
              : null,
          ),
        ),
      );
      if (!body.children.length) body.append(h("tr", h("td", { colspan: 8 }, "No deliveries yet.")));
      pager.replaceChildren(
        ...[
          actionButton("Refresh", slot, async () => {
            body.replaceChildren();
            await load("");
          }),
          next && actionButton("Older deliveries", slot, () => load(next)),
        ].filter(Boolean),
      );
    };
    await load("");
    logCard.hidden = false;
    logCard.replaceChildren(
      h("h2#log-title", { tabindex: "-1" }, "Delivery log of ", h("code", w.url)),
      h("p.muted", "Every attempt, newest first. Replaying sends the event again, with the same webhook-id, as a new delivery."),
      h(
        "table",
        { "aria-labelledby": "log-title" },
        h("thead", h("tr", ["Time", "Event", "Attempt", "Outcome", "HTTP status", "Latency", "Response or error", ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))),
        body,
      ),
      pager,
      slot,
    );
    logCard.querySelector("h2").focus();
  };

  // The pre-send hook's policy.
  const policyForm = (w) => {
    const sec = h("section.card", { "aria-labelledby": "policy-title" }, h("h2#policy-title", "Pre-send hook policy"));
    const failText = w.fail_open ? "fail open: messages are sent unmoderated" : "fail closed: messages are refused";
    if (!manage) {
      sec.append(
        h(
          "dl.kv",
          h("dt", "Timeout"),
          h("dd", `${w.timeout_ms} ms`),
          h("dt", "When the hook fails or times out"),
          h("dd", failText),
          h("dt", "Server API sends"),
          h("dd", w.server_api ? "asked too" : "pass without asking"),
        ),
      );
      return sec;
    }
    const form = h(
      "form",
      { novalidate: true },
      field("Timeout (milliseconds)", h("input", { name: "timeout_ms", "data-field": "timeout_ms", type: "number", min: "100", max: "5000", step: "1", value: String(w.timeout_ms), required: true }), "100 to 5000. Sends wait at most this long for your answer."),
      h(
        "fieldset",
        h("legend", "When the hook fails or times out"),
        h("div.check", h("input#fail-closed", { type: "radio", name: "fail", value: "closed", checked: !w.fail_open }), h("label.inline", { for: "fail-closed" }, "Fail closed: refuse the message")),
        h("div.check", h("input#fail-open", { type: "radio", name: "fail", value: "open", checked: w.fail_open }), h("label.inline", { for: "fail-open" }, "Fail open: send it unmoderated")),
      ),
      h("div.check", h("input#server-api", { type: "checkbox", name: "server_api", checked: w.server_api }), h("label.inline", { for: "server-api" }, "Also ask about messages your servers send through the server API")),
      h("div.actions", h("button.primary", { type: "submit" }, "Save policy")),
    );
    onSubmit(form, async (fd) => {
      const { webhook } = await api.updateWebhook(app.id, w.id, {
        timeout_ms: Number(fd.get("timeout_ms")),
        fail_open: fd.get("fail") === "open",
        server_api: fd.get("server_api") === "on",
      });
      replace(webhook);
      toast("Pre-send hook policy saved");
    });
    sec.append(form);
    return sec;
  };

  render();
  const endpoints = h(
    "section.card",
    { "aria-labelledby": "hooks-title" },
    h("h2#hooks-title", "Endpoints"),
    h(
      "table",
      { "aria-labelledby": "hooks-title" },
      h("thead", h("tr", ["Kind", "URL", "Events", "Status", "Secrets", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
    empty,
    revealSlot,
  );
  out.push(endpoints);
  if (manage) out.push(createForm(app, eventTypes, (w) => {
    hooks.push(w);
    render();
    revealSlot.replaceChildren(webhookSecretReveal(w));
    revealSlot.querySelector("button")?.focus();
  }));
  out.push(policySlot, logCard, keywordsSection(app, kw, manage));
  return out;
}

/** Asks which events an endpoint receives; resolves to the list, or null if cancelled. */
function eventsDialog(w, eventTypes) {
  return new Promise((resolve) => {
    const boxes = eventTypes.map((t, i) => h("input", { type: "checkbox", name: "events", value: t, id: "dlg-ev-" + i, checked: w.events.includes(t) }));
    const ok = h("button.primary", { type: "submit", value: "ok" }, "Save events");
    const dlg = h(
      "dialog.wide",
      { "aria-labelledby": "dlg-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2#dlg-title", "Events sent to ", h("code", w.url)),
        h("p", "None checked: every event, including types added later."),
        h("div.grid", boxes.map((b, i) => h("div.check", b, h("label.inline", { for: b.id }, eventTypes[i])))),
        h("div.actions", h("button", { type: "submit", value: "cancel" }, "Cancel"), ok),
      ),
    );
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(dlg.returnValue === "ok" ? boxes.filter((b) => b.checked).map((b) => b.value) : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    boxes[0]?.focus();
  });
}

/** The form that creates an endpoint. */
function createForm(app, eventTypes, created) {
  const kind = h("select", { name: "kind", "data-field": "kind" }, Object.entries(KINDS).map(([v, l]) => h("option", { value: v }, l)));
  const events = h(
    "fieldset.events",
    { "data-field": "events" },
    h("legend", "Events (none checked: every event)"),
    h("div.grid", eventTypes.map((t, i) => h("div.check", h("input", { type: "checkbox", name: "events", value: t, id: "ev-" + i }), h("label.inline", { for: "ev-" + i }, t)))),
  );
  const hookOpts = h(
    "div",
    { hidden: true },
    field("Timeout (milliseconds)", h("input", { name: "timeout_ms", "data-field": "timeout_ms", type: "number", min: "100", max: "5000", placeholder: "default" })),
    h("div.check", h("input#new-fail-open", { type: "checkbox", name: "fail_open" }), h("label.inline", { for: "new-fail-open" }, "Fail open (pre-send hook): send unmoderated when the hook fails")),
    h("div.check", h("input#new-server-api", { type: "checkbox", name: "server_api" }), h("label.inline", { for: "new-server-api" }, "Ask about server API sends too (pre-send hook)")),
  );
  kind.addEventListener("change", () => {
    events.hidden = kind.value !== "events";
    hookOpts.hidden = kind.value === "events";
  });
  const form = h(
    "form.card",
    { "aria-labelledby": "new-hook", novalidate: true },
    h("h2#new-hook", "Add an endpoint"),
    h(
      "div.grid",
      field("Kind", kind),
      field("URL", h("input", { name: "url", type: "url", required: true, autocomplete: "off", placeholder: "https://example.com/magpie" })),
      field("Description", h("input", { name: "description", autocomplete: "off" })),
    ),
    events,
    hookOpts,
    h("div.actions", h("button.primary", { type: "submit" }, "Add endpoint")),
  );
  onSubmit(form, async (fd) => {
    const body = { kind: fd.get("kind"), url: String(fd.get("url") || "").trim(), description: fd.get("description") || "" };
    if (body.kind === "events") body.events = fd.getAll("events");
    else {
      const t = String(fd.get("timeout_ms") || "").trim();
      if (t) body.timeout_ms = Number(t);
      if (body.kind === "pre_send") {
        body.fail_open = fd.get("fail_open") === "on";
        body.server_api = fd.get("server_api") === "on";
      }
    }
    const { webhook } = await api.createWebhook(app.id, body);
    form.reset();
    events.hidden = false;
    hookOpts.hidden = true;
    created(webhook);
  });
  return form;
}

/** The keyword rules: listed for everyone, edited (the whole list) by managers. */
function keywordsSection(app, kw, manage) {
  let rules = kw.rules.slice();
  const sec = h(
    "section.card",
    { "aria-labelledby": "kw-title" },
    h("h2#kw-title", "Keyword rules"),
    h("p.muted", "Checked before the pre-send hook: a message containing a word of a block rule is refused (keyword_blocked); a mask rule replaces the word with asterisks."),
  );
  const tbody = h("tbody");
  const slot = h("div");
  const render = () => {
    tbody.replaceChildren(
      ...(rules.length
        ? rules.map((r, i) =>
            h(
              "tr",
              { "data-word": r.word },
              h("td", h("code", r.word)),
              h("td", h(r.action === "block" ? "span.badge.off" : "span.badge", r.action)),
              manage
                ? h(
                    "td",
                    actionButton("Remove", slot, async () => {
                      await save(rules.filter((_, j) => j !== i));
                      toast(`Rule for “${r.word}” removed`);
                    }, "small danger"),
                  )
                : null,
            ),
          )
        : [h("tr", h("td", { colspan: 3 }, "No keyword rules."))]),
    );
  };
  const save = async (next) => {
    const res = await api.setKeywords(app.id, next);
    rules = res.rules;
    render();
  };
  render();
  sec.append(
    h(
      "table",
      { "aria-labelledby": "kw-title" },
      h("thead", h("tr", ["Word", "Action", ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
    slot,
  );
  if (manage) {
    const form = h(
      "form.inline-form",
      { "aria-label": "Add a keyword rule", novalidate: true },
      field("Word", h("input", { name: "word", required: true, autocomplete: "off", "data-field": "rules" })),
      field("Action", h("select", { name: "action" }, h("option", { value: "block" }, "block: refuse the message"), h("option", { value: "mask" }, "mask: replace with asterisks"))),
      h("div.actions", h("button.primary", { type: "submit" }, "Add rule")),
    );
    onSubmit(form, async (fd) => {
      const word = String(fd.get("word") || "").trim();
      if (!word) {
        const err = new Error("word: enter a word");
        err.field = "word";
        throw err;
      }
      await save([...rules, { word, action: fd.get("action") }]);
      form.reset();
      toast(`Rule for “${word}” added`);
    });
    sec.append(form);
  }
  return sec;
}

