// The app's Chat rooms page: its rooms with their member counts (joined
// connections on every node right now), a page at a time, and, for owners
// and admins, closing a room: its members leave it, told it closed.
import { api } from "./api.js";
import { h, fmtTime } from "./dom.js";
import { actionButton, appSubnav, confirmDialog, heading, toast } from "./ui.js";

export async function roomsPage(appId, manage) {
  const { app } = await api.app(appId);
  const out = [appSubnav(app, "rooms"), ...heading("Chat rooms", `${app.name}'s chat rooms: members join by being online in them (no membership list), so a room's member count is its connections right now.`)];
  const PAGE = 20;
  const cursors = [""]; // the cursor of each page shown so far
  let pageNo = 0;
  let next = "";
  const tbody = h("tbody");
  const empty = h("p.muted", { hidden: true }, "This app has no chat rooms.");
  const slot = h("div");
  const pager = h("div.actions");
  const pageLabel = h("span.muted", { "data-testid": "rooms-page-no" });

  const row = (r) => {
    const rowSlot = h("div");
    const cells = [
      h("td", h("code", r.id)),
      h("td", r.name || h("span.muted", "no name")),
      h("td", r.owner_id ? h("code", r.owner_id) : h("span.muted", "none")),
      h("td", { "data-members": r.id }, String(r.member_count ?? 0)),
      h("td", r.muted.length ? r.muted.join(", ") : h("span.muted", "none")),
      h("td", fmtTime(r.created_at)),
    ];
    if (manage) {
      cells.push(
        h(
          "td",
          actionButton("Close room", rowSlot, async () => {
            const n = r.member_count ?? 0;
            if (!(await confirmDialog(`Close room ${r.id}?`, `The room is deleted; its ${n} connected member${n === 1 ? "" : "s"} leave it and are told it closed. Its history is gone.`, "Close room"))) return;
            await api.closeRoom(app.id, r.id);
            toast(`Room ${r.id} closed`);
            await load(pageNo);
          }, "danger"),
          rowSlot,
        ),
      );
    }
    return h("tr", { "data-room": r.id }, cells);
  };
  const load = async (n) => {
    const page = await api.rooms(app.id, cursors[n], PAGE);
    pageNo = n;
    next = page.next_cursor;
    if (next) cursors[n + 1] = next;
    tbody.replaceChildren(...page.rooms.map(row));
    empty.hidden = page.rooms.length > 0;
    pageLabel.textContent = `Page ${n + 1}`;
    pager.replaceChildren(
      ...[
        n > 0 && actionButton("Previous page", slot, () => load(n - 1)),
        next && actionButton("Next page", slot, () => load(n + 1)),
        actionButton("Refresh", slot, () => load(n)),
        pageLabel,
      ].filter(Boolean),
    );
  };
  await load(0);
  out.push(
    h(
      "section.card",
      { "aria-labelledby": "rooms-title" },
      h("h2#rooms-title", "Rooms"),
      h(
        "table",
        { "aria-labelledby": "rooms-title" },
        h("thead", h("tr", ["Room id", "Name", "Owner", "Members now", "Muted", "Created", ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))),
        tbody,
      ),
      empty,
      pager,
      slot,
    ),
  );
  return out;
}
