// A tiny DOM builder: text always goes through textContent, so nothing from the API is parsed
// as HTML. h("a", {href: "#/x", class: "c"}, "text", child) -> an element.
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "path", "rect", "line", "circle", "text", "title", "g", "polyline"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Several nodes as one, for a region whose children are list items.
export function frag(...children) {
  const f = document.createDocumentFragment();
  f.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return f;
}

const STATUS_TEXT = {
  on_track: "on track", at_risk: "at risk", off_track: "off track", stale: "stale",
  achieved: "achieved", graduated: "graduated", not_started: "not started",
};

export function statusChip(status) {
  return h("span", { class: "chip", "data-status": status }, STATUS_TEXT[status] ?? status);
}

export function progressBar(progress, status, label) {
  const pct = Math.round(progress * 100);
  const fill = h("div", { class: "fill" });
  fill.style.width = `${Math.min(100, Math.max(0, pct))}%`; // CSSOM: the CSP forbids style attributes
  return h("div", { class: "progress", "data-status": status },
    h("div", { class: "track", role: "progressbar", "aria-label": label, "aria-valuemin": 0,
      "aria-valuemax": 100, "aria-valuenow": pct }, fill),
    h("span", { class: "pct" }, `${pct} %`));
}

export function number(value, unit = "") {
  if (value === null || value === undefined) return "—";
  const text = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString("en") : String(+value.toFixed(3));
  return unit ? `${text} ${unit}` : text;
}

export function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function time(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "—";
}
