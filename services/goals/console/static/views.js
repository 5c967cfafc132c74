// The console's views. Each view(arg, ctx) returns {title, root, refresh}: `root` is built
// once (forms keep what the user typed), `refresh` fetches the view's endpoints and redraws
// only the regions whose data changed, keeping keyboard focus where it was.
import { sparkline, timeChart } from "./charts.js";
import { age, frag, h, number, progressBar, statusChip, time } from "./dom.js";

const DAY = 86400000;
const FULL_MS = 5000;
const PERIOD_MS = { day: DAY, week: 7 * DAY, month: 30 * DAY, quarter: 91 * DAY };

// Redraw `region` from `data` unless it is what was drawn last; restore focus by data-key.
const drawn = new WeakMap();
function swap(region, data, build) {
  const sig = JSON.stringify(data);
  if (drawn.get(region) === sig) return;
  drawn.set(region, sig);
  const focusKey = region.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  region.replaceChildren(build(data));
  if (focusKey) region.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
}

function problemText(error) {
  return error.status === 403 ? "This key may not do that (it needs the write scope)." : error.message;
}

function items(page) {
  return Array.isArray(page) ? page : page.items;
}

function krStatus(kr) {
  return kr.state === "graduated" ? "graduated" : kr.status;
}

function failedView(root) {
  return (error) => {
    if (error.status === 404) root.replaceChildren(h("h1", {}, "Not found"), h("p", {}, error.message));
  };
}

// ------------------------------------------------------------------ OKR tree

function okrView(cycleArg, { api, go }) {
  const picker = h("select", { id: "cycle", onchange: () => go(`#/okr/${picker.value}`) });
  const objectives = h("div", {});
  const tree = h("ul", { class: "tree", "aria-label": "Alignment tree" });
  const root = h("section", { "aria-labelledby": "okr-title" },
    h("h1", { id: "okr-title" }, "OKR tree"),
    h("div", { class: "toolbar" }, h("label", { for: "cycle" }, "Cycle"), picker),
    h("h2", {}, "Objectives and key results"), objectives,
    h("h2", {}, "Alignment, rolled up"), tree);
  let cycles = null;
  let teams = null;
  let cycleId = cycleArg;
  let details = [];
  let lastTree = null;
  let lastFull = 0;

  async function refresh() {
    if (!cycles) {
      cycles = items(await api("/v1/cycles?limit=100"));
      teams = Object.fromEntries(items(await api("/v1/teams?limit=200")).map((t) => [t.id, t.name]));
      cycleId = cycleId || (cycles.find((c) => c.state === "active") || cycles[0])?.id;
      picker.replaceChildren(...cycles.map((c) => h("option", { value: c.id, selected: c.id === cycleId },
        `${c.name} (${c.state})`)));
    }
    if (!cycleId) {
      swap(objectives, null, () => h("p", { class: "note" }, "No cycles yet: create one with POST /v1/cycles."));
      return;
    }
    const alignment = await api(`/v1/cycles/${encodeURIComponent(cycleId)}/alignment`);
    // The tree carries every objective's progress, so a moved KR changes it: the objectives'
    // key results are re-read when it changed, and every FULL_MS for what moves no bar
    // (a confidence, a note). That is one request a poll instead of one per objective.
    const sig = JSON.stringify(alignment);
    if (sig !== lastTree || Date.now() - lastFull > FULL_MS) {
      const order = [];
      const walk = (nodes) => nodes.forEach((n) => { order.push(n.objective.id); walk(n.children); });
      walk(alignment.roots);
      details = await Promise.all(order.map((id) => api(`/v1/objectives/${encodeURIComponent(id)}`)));
      lastTree = sig;
      lastFull = Date.now();
    }
    swap(objectives, details, () => details.length
      ? h("div", {}, details.map((o) => objectivePanel(o, teams)))
      : h("p", { class: "note" }, "This cycle has no objectives yet."));
    swap(tree, alignment, () => frag(alignment.roots.map((n) => alignmentNode(n, teams))));
  }
  return { title: "OKR tree", root, refresh, failed: failedView(root) };
}

function owner(o, teams) {
  return o.owner_type === "team" ? (teams[o.owner] ?? o.owner) : o.owner;
}

function objectivePanel(o, teams) {
  return h("article", { class: "panel objective", "data-objective": o.id, "aria-label": o.title },
    h("header", {}, h("h3", {}, o.title), statusChip(o.status),
      h("span", { class: "meta" }, `${o.level} · ${o.commitment} · owner ${owner(o, teams)}`)),
    progressBar(o.progress, o.status, `${o.title}: progress`),
    h("ul", { class: "krs", "aria-label": `Key results of ${o.title}` }, o.key_results.map(krRow)));
}

function krRow(kr) {
  const status = krStatus(kr);
  return h("li", { class: "kr", "data-kr": kr.id },
    h("div", {},
      h("a", { href: `#/kr/${kr.id}` }, kr.title),
      h("div", { class: "meta" },
        `owner ${kr.owner ?? "—"} · confidence ${kr.confidence === null ? "—" : `${Math.round(kr.confidence * 100)} %`}`,
        kr.kpi ? [" · KPI ", h("a", { href: `#/kpi/${kr.kpi}` }, kr.kpi)] : null)),
    progressBar(kr.progress, status, `${kr.title}: progress`),
    h("div", {}, statusChip(status), " ",
      h("span", { class: "meta" }, kr.kind === "milestone" ? (kr.done ? "done" : "not done") : number(kr.current, kr.unit))));
}

function alignmentNode(node, teams) {
  const o = node.objective;
  return h("li", {},
    h("div", { class: "row" }, h("strong", {}, o.title), statusChip(o.rollup_status),
      progressBar(o.rollup_progress, o.rollup_status, `${o.title}: rolled-up progress`),
      h("span", { class: "meta" }, owner(o, teams))),
    node.children.length ? h("ul", {}, node.children.map((c) => alignmentNode(c, teams))) : null);
}

// ------------------------------------------------------------------ key result

function krView(id, { api, metrics, me, defaults }) {
  const head = h("div", {});
  const chart = h("div", {});
  const kpi = h("div", {});
  const history = h("div", {});
  const message = h("p", { role: "status" });
  const form = me.can_write ? checkInForm(id, api, message) : null;
  const root = h("section", { "aria-label": "Key result" }, head,
    h("div", { class: "two" },
      h("div", { class: "panel" }, h("h2", {}, "Check-ins against the pace"), chart),
      h("div", { class: "panel" }, h("h2", {}, "Linked KPI"), kpi,
        form ? [h("h2", {}, "Check in"), form.el, message] : null)),
    h("div", { class: "panel" }, h("h2", {}, "History"), history));

  async function refresh() {
    const kr = await api(`/v1/key-results/${encodeURIComponent(id)}`);
    const checkIns = items(await api(`/v1/key-results/${encodeURIComponent(id)}/check-ins?sort=at&limit=200`));
    let series = null;
    if (kr.kpi) {
      const start = new Date(Date.parse(kr.starts_at)).toISOString();
      series = (await metrics(`/kpis/${encodeURIComponent(kr.kpi)}/series?start=${encodeURIComponent(start)}`)).points;
    }
    form?.adapt(kr);
    swap(head, kr, () => krHead(kr, defaults.graduation_periods));
    swap(chart, [kr, checkIns], () => krChart(kr, checkIns));
    swap(kpi, [kr.kpi, series], () => kr.kpi
      ? h("div", {}, h("a", { href: `#/kpi/${kr.kpi}` }, kr.kpi),
        sparkline(series.slice(-20).map((p) => p.value), `${kr.kpi}: its last ${Math.min(20, series.length)} periods`))
      : h("p", { class: "note" }, "Not linked to a KPI: it moves by check-ins."));
    swap(history, checkIns, () => checkIns.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["When", "Value", "Progress", "Status", "Source", "Note"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, checkIns.slice().reverse().slice(0, 20).map((c) => h("tr", {},
        h("td", { "data-label": "When" }, time(c.at)),
        h("td", { "data-label": "Value" }, c.done === null ? number(c.value, kr.unit) : (c.done ? "done" : "not done")),
        h("td", { "data-label": "Progress" }, `${Math.round(c.progress * 100)} %`),
        h("td", { "data-label": "Status" }, statusChip(c.status)),
        h("td", { "data-label": "Source" }, c.source),
        h("td", { "data-label": "Note" }, c.note))))) : h("p", { class: "note" }, "No check-ins yet."));
  }
  return { title: "Key result", root, refresh, failed: failedView(root) };
}

function krHead(kr, defaultPeriods) {
  const status = krStatus(kr);
  const needed = kr.graduation_periods ?? defaultPeriods;
  return h("div", { "data-kr": kr.id },
    h("h1", {}, kr.title),
    h("div", { class: "toolbar" }, statusChip(status), progressBar(kr.progress, status, `${kr.title}: progress`),
      kr.raw_progress > 1 ? h("span", {}, `${Math.round(kr.raw_progress * 100)} % of target`) : null),
    h("dl", { class: "facts" },
      h("dt", {}, "Kind"), h("dd", {}, kr.kind.replace("_", " ")),
      h("dt", {}, "Current"), h("dd", {}, kr.kind === "milestone" ? (kr.done ? "done" : "not done") : number(kr.current, kr.unit)),
      h("dt", {}, "Target"), h("dd", {}, kr.kind === "keep_between" ? `${number(kr.bound_low)} – ${number(kr.bound_high, kr.unit)}`
        : `${number(kr.start)} → ${number(kr.target, kr.unit)}`),
      h("dt", {}, "Confidence"), h("dd", {}, kr.confidence === null ? "—" : `${Math.round(kr.confidence * 100)} %`),
      h("dt", {}, "Owner"), h("dd", {}, kr.owner ?? "—"),
      h("dt", {}, "Window"), h("dd", {}, `${time(kr.starts_at)} → ${time(kr.due_at)}`),
      kr.kpi ? [h("dt", {}, "Graduation"), h("dd", { "data-periods": "" },
        `${kr.periods_met ?? 0} / ${needed} periods met in a row (${kr.periods_elapsed ?? 0} elapsed)`)] : null));
}

function krChart(kr, checkIns) {
  const x0 = Date.parse(kr.starts_at), x1 = Date.parse(kr.due_at);
  const series = checkIns.filter((c) => c.value !== null).map((c) => [Date.parse(c.at), c.value]);
  let pace = null;
  if (kr.kind === "increase" || kr.kind === "decrease") pace = [[x0, kr.start], [x1, kr.target]];
  else if (kr.kind === "keep_above" || kr.kind === "keep_below") pace = [[x0, kr.target], [x1, kr.target]];
  return h("figure", {},
    timeChart({ series, pace, x0, x1, label: `${kr.title}: check-in values over the window, with the pace line` }),
    h("ul", { class: "legend" }, h("li", { class: "k-line" }, "check-ins"),
      pace ? h("li", { class: "k-pace" }, kr.kind.startsWith("keep") ? "bound" : "pace to target") : null));
}

function checkInForm(id, api, message) {
  const value = h("input", { id: "ci-value", type: "number", step: "any", name: "value" });
  const done = h("input", { id: "ci-done", type: "checkbox", name: "done" });
  const confidence = h("input", { id: "ci-confidence", type: "number", min: 0, max: 1, step: 0.05, name: "confidence" });
  const note = h("textarea", { id: "ci-note", name: "note", rows: 2, maxlength: 10000 });
  const valueRow = h("div", {}, h("label", { for: "ci-value" }, "Value"), h("br"), value);
  const doneRow = h("div", { hidden: true }, done, " ", h("label", { for: "ci-done" }, "Done"));
  const linkedNote = h("p", { class: "help", hidden: true }, "Linked to a KPI: its value follows the KPI; check in confidence and a note.");
  const el = h("form", { class: "inline", "aria-label": "Check in" }, valueRow, doneRow, linkedNote,
    h("div", {}, h("label", { for: "ci-confidence" }, "Confidence (0 to 1)"), h("br"), confidence),
    h("div", {}, h("label", { for: "ci-note" }, "Note"), h("br"), note),
    h("div", {}, h("button", { type: "submit" }, "Check in")));
  let kind = null, linked = false;
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { note: note.value };
    if (kind === "milestone") body.done = done.checked;
    else if (!linked && value.value !== "") body.value = Number(value.value);
    if (confidence.value !== "") body.confidence = Number(confidence.value);
    try {
      await api(`/v1/key-results/${encodeURIComponent(id)}/check-ins`, { method: "POST", body });
      message.className = "";
      message.textContent = "Checked in.";
      el.reset();
    } catch (error) {
      message.className = "error";
      message.textContent = `Not checked in: ${problemText(error)}`;
    }
  });
  return {
    el,
    adapt(kr) {
      kind = kr.kind; linked = Boolean(kr.kpi);
      valueRow.hidden = kind === "milestone" || linked;
      doneRow.hidden = kind !== "milestone";
      linkedNote.hidden = !linked;
    },
  };
}

// ------------------------------------------------------------------ KPI dashboard and page

function trend(t) {
  if (!t) return h("span", { class: "trend flat" }, "no trend yet");
  const arrow = { up: "↑", down: "↓", flat: "→" }[t.movement];
  const cls = t.improving === true ? "good" : t.improving === false ? "bad" : "flat";
  const size = t.delta_pct === null ? null : Math.abs(t.delta_pct);
  const pct = size === null ? number(t.delta) : `${size.toFixed(size < 1 ? 2 : 1)} %`;
  const words = `${t.movement}${t.improving === null ? "" : t.improving ? ", improving" : ", worsening"}`;
  return h("span", { class: `trend ${cls}`, "aria-label": `trend ${words}, ${pct} on the previous period` },
    `${arrow} ${pct}`);
}

const HEALTH_TEXT = { green: "green", amber: "amber", red: "red", no_data: "no data", unknown: "no bands" };

function tile(t) {
  const k = t.kpi, c = t.current;
  return h("a", { class: "tile", href: `#/kpi/${k.key}`, "data-kpi": k.key, "data-health": c.health },
    h("h3", {}, k.name),
    h("div", { class: "value" }, number(c.value), k.unit ? h("span", { class: "unit" }, k.unit) : null),
    h("span", { class: "health" }, `health: ${HEALTH_TEXT[c.health] ?? c.health}`),
    trend(c.trend),
    sparkline(t.sparkline.map((p) => p.value), `${k.name}: the last ${t.sparkline.length} periods`),
    k.tags.length ? h("div", { class: "tags" }, k.tags.map((tag) => h("span", { class: "tag" }, tag))) : null);
}

function kpisView(tag, { metrics, go }) {
  const filters = h("div", { class: "toolbar", role: "group", "aria-label": "Filter by tag" });
  const tiles = h("div", {});
  const root = h("section", { "aria-labelledby": "kpis-title" },
    h("h1", { id: "kpis-title" }, "KPI dashboard"), filters, tiles);
  async function refresh() {
    const board = await metrics("/dashboard?points=20");
    const tags = [...new Set(board.tiles.flatMap((t) => t.kpi.tags))].sort();
    swap(filters, [tags, tag], () => h("div", { class: "toolbar" }, h("span", {}, "Tag"),
      [null, ...tags].map((t) => h("button", { type: "button", "aria-pressed": String(t === tag), "data-key": `tag-${t}`,
        onclick: () => go(t ? `#/kpis/${encodeURIComponent(t)}` : "#/kpis") }, t ?? "all"))));
    const shown = board.tiles.filter((t) => !tag || t.kpi.tags.includes(tag));
    swap(tiles, shown, () => shown.length ? h("div", { class: "tiles" }, shown.map(tile))
      : h("p", { class: "note" }, "No KPIs here yet: define one with POST /v1/kpis on metrics."));
  }
  return { title: "KPIs", root, refresh };
}

function kpiView(key, { metrics }) {
  const head = h("div", {});
  const chart = h("div", {});
  const facts = h("div", {});
  const root = h("section", { "aria-label": "KPI" }, head,
    h("div", { class: "two" }, h("div", { class: "panel" }, h("h2", {}, "Series over its health bands"), chart),
      h("div", { class: "panel" }, h("h2", {}, "What, why, how, who, when"), facts)));
  async function refresh() {
    const k = encodeURIComponent(key);
    const kpi = await metrics(`/kpis/${k}`);
    const value = await metrics(`/kpis/${k}/value`);
    const x1 = Date.now(), x0 = x1 - 30 * (PERIOD_MS[kpi.period] ?? DAY);
    const series = await metrics(`/kpis/${k}/series?start=${encodeURIComponent(new Date(x0).toISOString())}`);
    swap(head, [kpi, value], () => h("div", { "data-kpi": kpi.key, "data-health": value.health },
      h("h1", {}, kpi.name),
      h("div", { class: "toolbar" }, h("span", { class: "tile-value" }, h("strong", {}, number(value.value, kpi.unit))),
        h("span", { class: "health" }, `health: ${HEALTH_TEXT[value.health] ?? value.health}`), trend(value.trend),
        h("span", { class: "meta" }, value.last_at ? `last measured ${age(value.last_at)} ago` : "never measured"))));
    const points = series.points.filter((p) => p.value !== null).map((p) => [Date.parse(p.start), p.value]);
    swap(chart, [series, kpi.green, kpi.amber], () => h("figure", {},
      timeChart({ series: points, bands: { green: kpi.green, amber: kpi.amber, direction: kpi.direction }, x0, x1,
        label: `${kpi.name}: values per ${kpi.period}, over its green, amber and red bands` }),
      h("ul", { class: "legend" }, h("li", { class: "k-line" }, `per ${kpi.period} (${kpi.aggregation})`),
        kpi.green !== null ? h("li", {}, `green ${kpi.direction === "lower" ? "≤" : "≥"} ${number(kpi.green)}`) : null,
        kpi.amber !== null ? h("li", {}, `amber ${kpi.direction === "lower" ? "≤" : "≥"} ${number(kpi.amber)}`) : null)));
    swap(facts, kpi, () => h("dl", { class: "facts" },
      [["What", kpi.what || kpi.description], ["Why", kpi.why], ["How", kpi.how], ["Who", kpi.owner],
        ["When", `${kpi.cadence ? `reports every ${kpi.cadence}, ` : ""}rolled up per ${kpi.period}`],
        ["Direction", `${kpi.direction} is better`], ["Tags", kpi.tags.join(", ")]]
        .map(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd || "—")])));
  }
  return { title: "KPI", root, refresh, failed: failedView(root) };
}

// ------------------------------------------------------------------ alerts

const ALERT_FILTERS = {
  active: ["all active", (a) => ["firing", "pending", "no_data"].includes(a.state)],
  firing: ["firing", (a) => a.state === "firing"],
  pending: ["pending", (a) => a.state === "pending"],
  silenced: ["silenced", (a) => a.silenced_by.length > 0],
  acknowledged: ["acknowledged", (a) => a.acknowledged !== null],
  resolved: ["resolved", (a) => a.state === "resolved"],
};

function alertsView(filterArg, { alerts, me, go }) {
  const filter = ALERT_FILTERS[filterArg] ? filterArg : "active";
  const filters = h("div", {});
  const table = h("div", {});
  const message = h("p", { role: "status" });
  const root = h("section", { "aria-labelledby": "alerts-title" },
    h("h1", { id: "alerts-title" }, "Alerts"), filters, message, table);
  let list = [];

  async function act(label, call) {
    try {
      await call();
      message.className = "";
      message.textContent = label;
      await refresh();
    } catch (error) {
      message.className = "error";
      message.textContent = problemText(error);
    }
  }
  const ack = (a) => act(`Acknowledged ${a.labels.alertname}.`, () =>
    alerts(`/alerts/${encodeURIComponent(a.fingerprint)}/ack`, { method: "POST", body: { note: "acknowledged from the console" } }));
  const silence = (a) => act(`Silenced ${a.labels.alertname} for an hour.`, () => alerts("/silences", { method: "POST", body: {
    matchers: Object.entries(a.labels).slice(0, 20).map(([name, value]) => ({ name, op: "=", value })),
    endsAt: new Date(Date.now() + 3600000).toISOString(), createdBy: `console key ${me.key_id}`,
    comment: "silenced for an hour from the console" } }));

  async function refresh() {
    list = items(await alerts("/alerts?limit=200"));
    const counts = Object.fromEntries(Object.entries(ALERT_FILTERS).map(([k, [, f]]) => [k, list.filter(f).length]));
    swap(filters, counts, () => h("div", { class: "toolbar", role: "group", "aria-label": "Show" },
      Object.entries(ALERT_FILTERS).map(([k, [label]]) => h("button", { type: "button", "aria-pressed": String(k === filter),
        "data-key": `filter-${k}`, onclick: () => go(`#/alerts/${k}`) }, `${label} (${counts[k]})`))));
    const shown = list.filter(ALERT_FILTERS[filter][1]);
    const now = Date.now();
    swap(table, [shown, Math.floor(now / 10000)], () => shown.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["State", "Alert", "Labels", "Age", "Marks", me.can_write ? "Actions" : null]
        .filter(Boolean).map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, shown.map((a) => h("tr", { "data-fingerprint": a.fingerprint },
        h("td", { "data-label": "State" }, h("span", { class: `state state-${a.state}` }, a.state.replace("_", " "))),
        h("td", { "data-label": "Alert" }, h("strong", {}, a.labels.alertname ?? a.fingerprint),
          a.annotations.summary ? h("div", { class: "meta" }, a.annotations.summary) : null),
        h("td", { "data-label": "Labels" }, h("div", { class: "tags" },
          Object.entries(a.labels).map(([n, v]) => h("span", { class: "tag" }, `${n}=${v}`)))),
        h("td", { "data-label": "Age" }, age(a.starts_at ?? a.active_since, now)),
        h("td", { "data-label": "Marks" }, h("div", { class: "marks" },
          a.acknowledged ? h("span", { class: "tag", "data-mark": "acknowledged" }, `acknowledged by ${a.acknowledged.by}`) : null,
          a.silenced_by.length ? h("span", { class: "tag", "data-mark": "silenced" }, "silenced") : null,
          a.inhibited ? h("span", { class: "tag" }, "inhibited") : null)),
        me.can_write ? h("td", { "data-label": "Actions" }, h("div", { class: "actions" },
          !a.acknowledged && a.state !== "resolved" ? h("button", { type: "button", "data-key": `ack-${a.fingerprint}`,
            onclick: () => ack(a) }, `Acknowledge`, h("span", { class: "vh" }, ` ${a.labels.alertname}`)) : null,
          !a.silenced_by.length && a.state !== "resolved" ? h("button", { type: "button", class: "secondary",
            "data-key": `silence-${a.fingerprint}`, onclick: () => silence(a) }, "Silence 1 h",
            h("span", { class: "vh" }, ` ${a.labels.alertname}`)) : null)) : null))))
      : h("p", { class: "note" }, `No ${ALERT_FILTERS[filter][0]} alerts.`));
  }
  return { title: "Alerts", root, refresh };
}

export const VIEWS = { okr: okrView, kr: krView, kpis: kpisView, kpi: kpiView, alerts: alertsView };
