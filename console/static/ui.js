// The console's shared widgets: error boxes with the request id, forms and
// buttons that show the API's errors, confirmation dialogs, copy buttons,
// headings and the app's sub-navigation. Every page module builds on them.
import { ApiError } from "./api.js";
import { h } from "./dom.js";

const toastEl = document.getElementById("toast");

/** Shows an API error: its message, code and request id (for the logs). */
export function errorBox(err) {
  const box = h("div.error", { role: "alert" });
  if (err instanceof ApiError) {
    box.append(
      h("strong", err.message),
      h("div.meta", `code ${err.code}` + (err.status ? ` · HTTP ${err.status}` : "") + (err.requestId ? " · request id " : ""), err.requestId ? h("code.reqid", err.requestId) : null),
    );
  } else {
    box.append(h("strong", String(err?.message || err)));
  }
  return box;
}

export function toast(msg) {
  toastEl.textContent = msg;
  toastEl.classList.add("show");
  clearTimeout(toast.t);
  toast.t = setTimeout(() => toastEl.classList.remove("show"), 4000);
}

/**
 * Runs a form's action with its submit button disabled; an API error is shown
 * in the form (and the field it names marked invalid) instead of thrown.
 */
export function onSubmit(form, action) {
  const errSlot = h("div.err-slot");
  form.append(errSlot);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    errSlot.replaceChildren();
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    try {
      await action(new FormData(form));
    } catch (err) {
      errSlot.replaceChildren(errorBox(err));
      // The field the error names: given, or the "field: …" its message starts with.
      const name = err.field || /^(?:invalid: )?([a-z_][\w.]*): /.exec(err.message || "")?.[1];
      const bad = name && form.querySelector(`[data-field="${CSS.escape(name)}"], [name="${CSS.escape(name)}"]`);
      if (bad) {
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
      }
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
  return form;
}

/** A button that runs an action, showing its error in slot. */
export function actionButton(label, slot, action, cls = "") {
  const b = h("button", { type: "button", class: cls });
  b.textContent = label;
  b.addEventListener("click", async () => {
    b.disabled = true;
    slot.replaceChildren();
    try {
      await action();
    } catch (err) {
      slot.replaceChildren(errorBox(err));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** Asks for confirmation in a modal dialog; resolves to true or false. */
export function confirmDialog(title, text, okLabel, danger = true) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary" }, okLabel);
    const dlg = h(
      "dialog",
      { "aria-labelledby": "dlg-title" },
      h("form", { method: "dialog" }, h("h2#dlg-title", title), h("p", text), h("div.actions", h("button", { type: "submit", value: "cancel" }, "Cancel"), ok)),
    );
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(dlg.returnValue === "ok");
    });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** A copy-to-clipboard button for a value. */
export function copyButton(value, what) {
  const b = h("button.small", { type: "button", "aria-label": `Copy ${what}` }, "Copy");
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      b.textContent = "Copied";
      toast(`${what} copied to the clipboard`);
    } catch {
      b.textContent = "Select and copy it by hand";
    }
    setTimeout(() => (b.textContent = "Copy"), 2500);
  });
  return b;
}

/** A secret shown once, with a copy button and the warning. */
export function secretReveal(sec, extra) {
  return h(
    "section.reveal",
    { "aria-labelledby": "reveal-title" },
    h("h3#reveal-title", "New secret — shown once"),
    h("p", "Store it now in your server's configuration: Magpie shows only its last characters (", h("code", "…" + sec.hint), ") from now on."),
    h("div.copyrow", h("code.secret", { "data-testid": "secret-value" }, sec.secret), copyButton(sec.secret, "secret")),
    extra,
  );
}

export function heading(text, sub) {
  return [h("h1", { tabindex: "-1" }, text), sub ? h("p.muted", sub) : null];
}

/** The app's header line for its users and messages pages: links back and across. */
export function appSubnav(app, here) {
  const link = (href, label, key) => h("a", { href, "aria-current": here === key ? "page" : null }, label);
  return h(
    "nav.subnav",
    { "aria-label": "App" },
    link(`#/apps/${encodeURIComponent(app.id)}`, app.name, "app"),
    link(`#/apps/${encodeURIComponent(app.id)}/users`, "Users", "users"),
    link(`#/apps/${encodeURIComponent(app.id)}/messages`, "Messages", "messages"),
    link(`#/apps/${encodeURIComponent(app.id)}/webhooks`, "Webhooks", "webhooks"),
    link(`#/apps/${encodeURIComponent(app.id)}/push`, "Push", "push"),
    link(`#/apps/${encodeURIComponent(app.id)}/support`, "Customer service", "support"),
    link(`#/apps/${encodeURIComponent(app.id)}/rooms`, "Chat rooms", "rooms"),
    link(`#/apps/${encodeURIComponent(app.id)}/usage`, "Usage", "usage"),
  );
}

