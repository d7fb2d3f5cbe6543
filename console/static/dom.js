// A small DOM builder: elements are made with textContent, never innerHTML,
// so nothing the API returns is parsed as markup.

/** h("tag.class#id", {attrs, on: {event: fn}}, ...children) */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m ? m[1] : spec);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    // Booleans are attributes, so that selected and checked are the
    // defaults a form's reset() returns to.
    else if (v === true) el.setAttribute(k, "");
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
/** A labelled form field: the label's for names the input. */
export function field(label, input, hint) {
  input.id ||= "f" + ++uid;
  const parts = [h("label", { for: input.id }, label), input];
  if (hint) {
    const hid = input.id + "-hint";
    input.setAttribute("aria-describedby", hid);
    parts.push(h("small.hint", { id: hid }, hint));
  }
  return h("div.field", parts);
}

export function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? s : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}
