// Charts as plain SVG (a sparkline, and a time chart with optional pace line and health bands):
// about a hundred lines, so the console needs no charting package to fetch or keep current.
import { h } from "./dom.js";

const W = 600, H = 200, PAD = { l: 44, r: 8, t: 8, b: 22 };

export function sparkline(values, label) {
  const known = values.filter((v) => v !== null && v !== undefined);
  const svg = h("svg", { class: "spark", viewBox: "0 0 100 30", preserveAspectRatio: "none", role: "img",
    "aria-label": label });
  if (known.length < 2) return svg;
  const lo = Math.min(...known), hi = Math.max(...known), span = hi - lo || 1;
  const step = 100 / (values.length - 1);
  const points = values.map((v, i) => (v === null || v === undefined ? null : `${i * step},${28 - ((v - lo) / span) * 26}`))
    .filter(Boolean).join(" ");
  svg.append(h("polyline", { class: "line", points }));
  return svg;
}

function ticks(lo, hi, n = 4) {
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

// series: [[t(ms), value]...]; pace: [[t, v], [t, v]] or null; bands: {green, amber, direction} or null
export function timeChart({ series, pace = null, bands = null, x0, x1, label }) {
  const values = series.map(([, v]) => v).concat(pace ? pace.map(([, v]) => v) : []);
  if (bands) for (const b of [bands.green, bands.amber]) if (b !== null && b !== undefined) values.push(b);
  let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  if (lo === hi) { lo -= 1; hi += 1; }
  const margin = (hi - lo) * 0.08; lo -= margin; hi += margin;
  const x = (t) => PAD.l + ((t - x0) / (x1 - x0 || 1)) * (W - PAD.l - PAD.r);
  const y = (v) => PAD.t + (1 - (v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
  const clampY = (v) => Math.min(H - PAD.b, Math.max(PAD.t, y(v)));
  const svg = h("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  if (bands && bands.green !== null && bands.green !== undefined) {
    const higher = bands.direction !== "lower";
    const amber = bands.amber ?? bands.green;
    const top = PAD.t, bottom = H - PAD.b, gy = clampY(bands.green), ay = clampY(amber);
    const rect = (cls, y1, y2) => h("rect", { class: cls, x: PAD.l, width: W - PAD.l - PAD.r,
      y: Math.min(y1, y2), height: Math.abs(y2 - y1) });
    if (higher) svg.append(rect("band-green", top, gy), rect("band-amber", gy, ay), rect("band-red", ay, bottom));
    else svg.append(rect("band-green", gy, bottom), rect("band-amber", ay, gy), rect("band-red", top, ay));
  }
  for (const v of ticks(lo, hi)) {
    svg.append(h("text", { class: "axis", x: PAD.l - 4, y: y(v) + 4, "text-anchor": "end" }, +v.toPrecision(3)));
  }
  ticks(x0, x1, 3).forEach((t, i, all) => {
    const anchor = i === 0 ? "start" : i === all.length - 1 ? "end" : "middle";
    svg.append(h("text", { class: "axis", x: x(t), y: H - 6, "text-anchor": anchor },
      new Date(t).toISOString().slice(5, 10)));
  });
  if (pace) svg.append(h("polyline", { class: "pace", points: pace.map(([t, v]) => `${x(t)},${y(v)}`).join(" ") }));
  if (series.length) {
    svg.append(h("polyline", { class: "line", points: series.map(([t, v]) => `${x(t)},${y(v)}`).join(" ") }));
    for (const [t, v] of series.slice(-60)) svg.append(h("circle", { class: "dot", cx: x(t), cy: y(v), r: 2.5 }));
  }
  return svg;
}
