// The console's shell: sign-in, the API client, the hash router and the live poll.
//
// Live updates poll the visible view every POLL_MS while the tab is visible (a view re-draws
// only the regions whose data changed). Short polling was chosen over server-sent events: the
// services publish changes to Kafka, not to browsers, so SSE would need a new push path in
// goals fed by a per-process Kafka consumer; a poll of the view's own REST endpoints reuses
// what exists, at a cost measured in the README ("Console").
import { h } from "./dom.js";
import { VIEWS } from "./views.js";

const POLL_MS = 500;
const KEY = "lodestar.key";
const $ = (id) => document.getElementById(id);

const session = {
  key: sessionStorage.getItem(KEY),
  me: null,
  defaults: null,
  lastHeard: null,
};

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function markHeard(ok) {
  if (ok) session.lastHeard = new Date();
  $("live").classList.toggle("down", !ok);
  const state = ok ? "Live" : "Cannot reach the platform";
  if ($("live-state").textContent !== state) $("live-state").textContent = state; // announced once
  showHeard();
}

function showHeard() {
  const at = session.lastHeard;
  $("heard").textContent = at ? `· last heard ${at.toISOString().slice(11, 19)} UTC` : "· not heard from yet";
}

// goals answers /v1/...; metrics and alerts are reached through goals' proxy.
export async function api(path, { method = "GET", body, key = session.key } = {}) {
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit" });
  } catch (error) {
    markHeard(false);
    throw new ApiError(0, { detail: "the platform did not answer" });
  }
  markHeard(answer.status < 502);
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (answer.status === 401 && key === session.key && session.me) {
    signOut("The platform no longer accepts this key. Sign in again.");
  }
  if (!answer.ok) throw new ApiError(answer.status, data);
  return data;
}

export const metrics = (path, options) => api(`/console/api/metrics${path}`, options);
export const alerts = (path, options) => api(`/console/api/alerts${path}`, options);

function parseHash() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: VIEWS[name] ? name : "okr", arg: rest.length ? decodeURIComponent(rest.join("/")) : null };
}

let current = null;
let pollTimer = null;
let generation = 0;

// One poll loop at a time: a newer tick (a new view, the tab shown again) ends the older loop.
async function tick() {
  clearTimeout(pollTimer);
  const mine = ++generation;
  const view = current;
  if (!view || document.visibilityState !== "visible") return;
  try {
    await view.refresh();
  } catch (error) {
    if (view === current) view.failed?.(error);
  }
  if (mine === generation && session.me) pollTimer = setTimeout(tick, POLL_MS);
}

function route() {
  if (!session.me) return;
  const { name, arg } = parseHash();
  for (const link of document.querySelectorAll("[data-view]")) {
    const here = link.dataset.view === name || (name === "kpi" && link.dataset.view === "kpis")
      || (name === "kr" && link.dataset.view === "okr");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const ctx = { api, metrics, alerts, me: session.me, defaults: session.defaults, go: (hash) => { location.hash = hash; } };
  current = VIEWS[name](arg, ctx);
  $("view").replaceChildren(current.root);
  document.title = `${current.title} · Lodestar`;
  tick();
}

function showSignIn(message = "") {
  session.me = null;
  current = null;
  generation += 1;
  clearTimeout(pollTimer);
  $("bar").hidden = true;
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("api-key").focus();
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  session.key = null;
  showSignIn(message);
}

async function signIn(key) {
  let me, defaults;
  try {
    me = await api("/v1/whoami", { key });
    defaults = await api("/console/api/defaults", { key });
  } catch (error) {
    const why = error.status === 401 ? "That key was refused: it is unknown, revoked or mistyped."
      : error.status === 0 ? "The platform did not answer. Try again in a moment." : error.message;
    showSignIn(why);
    return;
  }
  sessionStorage.setItem(KEY, key);
  session.key = key;
  session.me = me;
  session.defaults = defaults;
  $("sign-in").hidden = true;
  $("bar").hidden = false;
  $("who").replaceChildren(h("span", {}, `${me.tenant} · `),
    h("span", { "data-scope": me.can_write ? "write" : "read" }, me.can_write ? "can act" : "read only"));
  route();
  $("main").focus();
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("api-key").value = "";
  signIn(key);
});
$("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") tick(); });

if (session.key) signIn(session.key);
else showSignIn();
