// The Messages page's keyword search: one user's messages, in all its
// conversations or in one, newest first, paged by the API's cursor. It is
// the server API's search (GET /v1/users/{id}/messages/search) through the
// management API, so it finds what the user's own client search finds.
import { api, enc } from "./api.js";
import { h, field, fmtTime } from "./dom.js";
import { actionButton, onSubmit } from "./ui.js";

/** The search section of app's Messages page; conv() is the conversation shown, if any. */
export function searchSection(app, conv) {
  const PAGE = 20;
  let query = null; // the search shown: {user, q, conv_id}
  let next = "";
  const tbody = h("tbody");
  const title = h("h3#search-results-title", "Results");
  const empty = h("p.muted", { hidden: true }, "No message matches.");
  const more = h("div.actions");
  const moreSlot = h("div");
  const results = h("div", { hidden: true, "aria-live": "polite" });

  const row = (m) =>
    h(
      "tr",
      { "data-result": `${m.conv_id}#${m.seq}` },
      h("td", h("a", { href: `#/apps/${enc(app.id)}/messages/${enc(m.conv_id)}` }, m.conv_id)),
      h("td", String(m.seq)),
      h("td", m.sender_id ? h("code", m.sender_id) : h("span.muted", "system")),
      h("td.content", m.content),
      h("td", fmtTime(m.created_at)),
    );
  const load = async (append) => {
    const q = { q: query.q, limit: String(PAGE) };
    if (query.conv_id) q.conv_id = query.conv_id;
    if (append && next) q.cursor = next;
    const page = await api.searchMessages(app.id, query.user, q);
    if (append) tbody.append(...page.messages.map(row));
    else tbody.replaceChildren(...page.messages.map(row));
    next = page.next_cursor;
    results.hidden = false;
    empty.hidden = tbody.children.length > 0;
    const scope = query.conv_id ? ` in ${query.conv_id}` : "";
    title.textContent = `Messages of ${query.user} matching “${query.q}”${scope}: ${tbody.children.length}${next ? " so far" : ""}`;
    more.replaceChildren(...(next ? [actionButton("More results", moreSlot, () => load(true))] : []));
  };

  const form = h(
    "form.card",
    { "aria-labelledby": "search-title", role: "search", novalidate: true },
    h("h2#search-title", "Search messages"),
    h("p.muted", "A user's messages by keyword, newest first: every word must match the start of a word, ignoring case and accents. Leave the conversation empty to search all the user's conversations."),
    h(
      "div.grid",
      field("User id", h("input", { name: "user", autocomplete: "off", required: true, "data-field": "id" })),
      field("Keywords", h("input", { name: "q", type: "search", autocomplete: "off", required: true, "data-field": "q" })),
      field("In conversation", h("input", { name: "conv_id", autocomplete: "off", value: conv || "", "data-field": "conv_id" }), "Optional: a conversation id the user is a member of."),
    ),
    h("div.actions", h("button.primary", { type: "submit" }, "Search")),
  );
  onSubmit(form, async (fd) => {
    const user = String(fd.get("user") || "").trim();
    if (!user) {
      const err = new Error("id: enter the user whose messages to search");
      err.field = "id";
      throw err;
    }
    query = { user, q: String(fd.get("q") || ""), conv_id: String(fd.get("conv_id") || "").trim() };
    next = "";
    await load(false);
  });
  results.append(
    title,
    h(
      "table",
      { "aria-labelledby": "search-results-title" },
      h("thead", h("tr", ["Conversation", "Seq", "Sender", "Content", "Sent"].map((c) => h("th", { scope: "col" }, c)))),
      tbody,
    ),
    empty,
    more,
    moreSlot,
  );
  form.append(results);
  return form;
}
